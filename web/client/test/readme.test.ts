// The README's @hubbub/client example runs as it is: against a live server, a token
// backend, the localStorage a browser has, and the global WebSocket a browser has.

import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'

import { WebSocket } from 'ws'

import { ADMIN_TOKEN, makeClient, mintToken, nextEvent, REPO_ROOT, startServer, type Server } from './support.js'

const MARKER = '<!-- web-client-example'

/** The example's code: the first js block after the marker in README.md. */
function readmeExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
  const at = readme.indexOf(MARKER)
  assert.ok(at >= 0, `README.md has no ${MARKER} marker`)
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.ok(block !== null, 'no js block after the marker')
  return block[1]!
}

let server: Server
before(async () => {
  server = await startServer('multi')
})
after(() => server.stop())

test('the README example is at most ten lines of code', () => {
  const lines = readmeExample().split('\n').filter((line) => line.trim() !== '')
  assert.ok(lines.length <= 10, `${lines.length} lines`)
})

test('the README example logs in, sends, receives, and sees the sign-out', { timeout: 30_000 }, async () => {
  // The application backend the example fetches its token from.
  const backend = createServer((_, response) => response.end(mintToken('alice')))
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve))
  const port = (backend.address() as { port: number }).port
  const code = readmeExample()
    .replace('ws://127.0.0.1:8765/ws', server.wsURL)
    .replace('http://127.0.0.1:3000/', `http://127.0.0.1:${port}/`)
  assert.notEqual(code, readmeExample(), 'the example names the addresses the test replaces')

  const storage = new Map<string, string>()
  const globals = globalThis as { WebSocket?: unknown; localStorage?: unknown }
  globals.WebSocket = WebSocket
  globals.localStorage = { getItem: (k: string) => storage.get(k) ?? null, setItem: (k: string, v: string) => void storage.set(k, v) }
  const printed: string[] = []
  const waiting = new Map<string, () => void>()
  const log = console.log
  console.log = (...args: unknown[]) => {
    const line = args.join(' ')
    printed.push(line)
    waiting.get(line)?.()
  }
  /** Resolve once the example printed `line`; reject after 10 s. */
  const printedLine = (line: string): Promise<void> =>
    printed.includes(line)
      ? Promise.resolve()
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`not printed: ${line} (printed: ${printed.join(' | ')})`)), 10_000)
          waiting.set(line, () => {
            clearTimeout(timer)
            resolve()
          })
        })
  const bob = makeClient(server, 'bob').client
  try {
    await bob.connect()
    const hi = nextEvent<{ messageList: { message: string }[] }>(bob, 'peerMessageReceived')
    const file = join(REPO_ROOT, 'web', 'client', '.test-build', 'readme-example.mjs')
    writeFileSync(file, code)
    await import(pathToFileURL(file).href)
    assert.equal((await hi).messageList[0]!.message, 'hi')

    await bob.request('sendMessage', { toConversationID: 'alice', conversationType: 0, message: { type: 1, message: 'hello alice' } })
    await printedLine('hello alice')
    assert.ok(storage.get('hubbub.seq.alice') !== undefined, 'the seq store is in localStorage')

    const response = await fetch(`${server.adminURL}/v1/users/alice/devices`, { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })
    assert.ok(response.ok)
    await printedLine('signed out: forcedOffline')
  } finally {
    console.log = log
    delete globals.WebSocket
    delete globals.localStorage
    bob.close()
    backend.close()
  }
})
