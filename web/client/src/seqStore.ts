/**
 * Where a device keeps the `seq` of the last durable event its application
 * processed, so that a reconnect (or a reloaded page) resumes from it.
 */

/** Pluggable storage of the last processed durable seq. */
export interface SeqStore {
  /** The saved seq, or null when this device never saved one. */
  load(): Promise<number | null>
  /** Remember `seq` as processed; called only after the application's handlers for it ran. */
  save(seq: number): Promise<void>
}

/** A store that lives as long as the object: the default. */
export function memorySeqStore(initial: number | null = null): SeqStore {
  let saved = initial
  return {
    load: async () => saved,
    save: async (seq) => {
      saved = seq
    },
  }
}

/** The part of the Web Storage API the store uses (localStorage, sessionStorage). */
export interface KeyValueStorage {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

/**
 * A store in the browser's localStorage (or any Web Storage) under `key`;
 * one key per account and device, e.g. `hubbub.seq.alice`.
 */
export function localStorageSeqStore(key: string, storage?: KeyValueStorage): SeqStore {
  const backing = storage ?? (globalThis as { localStorage?: KeyValueStorage }).localStorage
  if (backing === undefined) {
    throw new TypeError('localStorageSeqStore: no localStorage here; pass a storage object')
  }
  return {
    load: async () => {
      const text = backing.getItem(key)
      if (text === null) return null
      const seq = Number(text)
      return Number.isSafeInteger(seq) && seq >= 0 ? seq : null
    },
    save: async (seq) => {
      backing.setItem(key, String(seq))
    },
  }
}
