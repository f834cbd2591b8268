/** A tiny observable value and the Preact hook that renders from it. */

import { useLayoutEffect, useState } from 'preact/hooks'

export class Store<T extends object> {
  private value: T
  private readonly listeners = new Set<() => void>()

  constructor(initial: T) {
    this.value = initial
  }

  get(): T {
    return this.value
  }

  /** Replace some fields and tell every subscriber. */
  set(change: Partial<T> | ((current: T) => Partial<T>)): void {
    const fields = typeof change === 'function' ? change(this.value) : change
    this.value = { ...this.value, ...fields }
    for (const listener of this.listeners) listener()
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}

/** The store's current value; the component renders again on every change. */
export function useStore<T extends object>(store: Store<T>): T {
  const rendered = store.get()
  const [, setTick] = useState(0)
  useLayoutEffect(() => {
    const update = (): void => setTick((n) => n + 1)
    const unsubscribe = store.subscribe(update)
    // a change between this render and the subscription would otherwise go unseen
    if (store.get() !== rendered) update()
    return unsubscribe
  }, [store])
  return rendered
}
