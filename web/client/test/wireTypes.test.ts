// The types the library is built with agree with the wire's JSON Schema (docs/wire.schema.json).

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'

import { EVENT_NAMES, REQUEST_OPS } from '@hubbub/client'

import { REPO_ROOT } from './support.js'

const schema = JSON.parse(readFileSync(join(REPO_ROOT, 'docs', 'wire.schema.json'), 'utf8')) as {
  'x-ops': { [op: string]: unknown }
  'x-events'?: { [name: string]: unknown }
}

test('the generated types are what the schema gives now (the build is not stale)', { timeout: 60_000 }, () => {
  const client = join(REPO_ROOT, 'web', 'client')
  // Exits 1, naming the fix, when src/wire.gen.ts differs from a fresh generation.
  execFileSync(process.execPath, [join(client, 'scripts', 'gen-wire-types.mjs'), '--check'], { cwd: client, stdio: 'pipe' })
})

test('every op of the schema is a typed request, and nothing else is', () => {
  assert.deepEqual([...REQUEST_OPS], Object.keys(schema['x-ops']).sort())
  for (const op of ['login', 'sendMessage', 'ack', 'renewToken', 'logout']) assert.ok((REQUEST_OPS as readonly string[]).includes(op), op)
})

test('every event the schema names is a typed event', () => {
  assert.deepEqual([...EVENT_NAMES], Object.keys(schema['x-events'] ?? {}).sort())
})
