/** One `client.events()` iterator: a queue of events that ends when the client closes for good. */

import type { Frame } from './codec.js'

interface Queued {
  frame: Frame
  release: (() => void) | null // tells the watermark this iterator is done with a durable event
}

/** An async iterator over events, fed by the client; finishing it (break, return) unsubscribes. */
export class EventStream<T> implements AsyncIterableIterator<T> {
  private readonly queue: Queued[] = []
  private waiting: ((result: IteratorResult<T>) => void) | null = null
  private current: Queued | null = null
  private ended = false

  constructor(
    readonly name: string | null,
    private readonly unsubscribe: (stream: EventStream<T>) => void,
  ) {}

  /** Whether this stream wants the event `name`. */
  wants(name: string): boolean {
    return !this.ended && (this.name === null || this.name === name)
  }

  /** Queue one event; `release` is called once the consumer asks for the next one (or stops). */
  push(frame: Frame, release: (() => void) | null): void {
    const item = { frame, release }
    if (this.waiting !== null) {
      const resolve = this.waiting
      this.waiting = null
      this.current = item
      resolve({ value: frame as T, done: false })
    } else {
      this.queue.push(item)
    }
  }

  /** No more events will come: the consumer gets what is queued, then the end. */
  end(): void {
    this.ended = true
    if (this.waiting !== null && this.queue.length === 0) {
      const resolve = this.waiting
      this.waiting = null
      resolve({ value: undefined, done: true })
    }
  }

  next(): Promise<IteratorResult<T>> {
    this.finishCurrent()
    const item = this.queue.shift()
    if (item !== undefined) {
      this.current = item
      return Promise.resolve({ value: item.frame as T, done: false })
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true })
    if (this.waiting !== null) return Promise.reject(new Error('events(): next() called again before the previous one settled'))
    return new Promise((resolve) => {
      this.waiting = resolve
    })
  }

  return(): Promise<IteratorResult<T>> {
    this.finishCurrent()
    this.ended = true
    for (const item of this.queue.splice(0)) item.release?.()
    this.unsubscribe(this)
    const resolve = this.waiting
    this.waiting = null
    resolve?.({ value: undefined, done: true })
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this
  }

  private finishCurrent(): void {
    const done = this.current
    this.current = null
    done?.release?.()
  }
}
