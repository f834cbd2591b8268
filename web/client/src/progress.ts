/**
 * The watermark of processed durable events.
 *
 * Events are handed out in seq order, but an event counts as processed only
 * when everything it was handed to is done with it (the `on` handlers ran,
 * each iterator moved past it). The watermark is the newest seq up to which
 * every event is processed: what may be saved and acknowledged.
 */
export class ProcessedWatermark {
  private readonly open: { seq: number; remaining: number }[] = []
  private value: number

  constructor(start: number) {
    this.value = start
  }

  /** The newest seq with every event up to it processed. */
  get seq(): number {
    return this.value
  }

  /** Move the watermark to `seq` (a fresh start, or after a resume gap) once nothing is open. */
  reset(seq: number): void {
    this.open.length = 0
    this.value = seq
  }

  /**
   * Track an event handed to `holders` consumers; returns the callback each
   * calls once when done. Returns whether the watermark moved (holders 0).
   */
  track(seq: number, holders: number): { release: () => boolean; moved: boolean } {
    const entry = { seq, remaining: holders }
    this.open.push(entry)
    let released = 0
    const release = (): boolean => {
      if (released >= holders) return false
      released += 1
      entry.remaining -= 1
      return this.advance()
    }
    return { release, moved: this.advance() }
  }

  private advance(): boolean {
    let moved = false
    while (this.open.length > 0 && this.open[0]!.remaining === 0) {
      const done = this.open.shift()!
      if (done.seq > this.value) {
        this.value = done.seq
        moved = true
      }
    }
    return moved
  }
}
