/** Reconnect delays: exponential with full jitter, so devices dropped together do not return together. */

export interface BackoffOptions {
  /** The ceiling of the first delay (ms). */
  initialDelayMs: number
  /** No delay is longer than this (ms). */
  maxDelayMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 250, maxDelayMs: 30_000 }

/** The delay before reconnect attempt `attempt` (0 first): uniform in [0, min(max, initial * 2^attempt)]. */
export function backoffDelayMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30))
  return Math.round(random() * ceiling)
}
