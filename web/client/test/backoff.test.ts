// Reconnect delays: full jitter under a ceiling that doubles up to the maximum.

import assert from 'node:assert/strict'
import { test } from 'node:test'

import { backoffDelayMs, DEFAULT_BACKOFF } from '@hubbub/client'

test('the ceiling doubles per attempt from initialDelayMs and stops at maxDelayMs', () => {
  const options = { initialDelayMs: 100, maxDelayMs: 1000 }
  const ceilings = [0, 1, 2, 3, 4, 10, 50].map((attempt) => backoffDelayMs(attempt, options, () => 1))
  assert.deepEqual(ceilings, [100, 200, 400, 800, 1000, 1000, 1000])
  assert.equal(backoffDelayMs(3, options, () => 0), 0)
  assert.equal(backoffDelayMs(3, options, () => 0.5), 400)
})

test('delays are spread over the whole range (full jitter), never above the ceiling', () => {
  const delays = Array.from({ length: 2000 }, () => backoffDelayMs(5))
  const ceiling = Math.min(DEFAULT_BACKOFF.maxDelayMs, DEFAULT_BACKOFF.initialDelayMs * 2 ** 5)
  assert.ok(delays.every((d) => d >= 0 && d <= ceiling))
  assert.ok(Math.min(...delays) < ceiling * 0.1 && Math.max(...delays) > ceiling * 0.9, 'spread over [0, ceiling]')
  assert.ok(new Set(delays).size > 100, 'devices dropped together do not come back together')
})
