// Messages per second over one connection: `count` sendMessage requests, at most `window`
// in flight, from one @hubbub/client in Node.js. Run by scripts/bench_clients.py beside
// the Python client against the same server; prints one JSON line.
//
//     node bench/throughput.mjs --url ws://... --user U --to V --token T [--count 5000] [--window 32]

import { parseArgs } from 'node:util'

import { WebSocket } from 'ws'

import { HubbubClient } from '@hubbub/client'

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    user: { type: 'string' },
    to: { type: 'string' },
    token: { type: 'string' },
    count: { type: 'string', default: '5000' },
    window: { type: 'string', default: '32' },
  },
})
for (const name of ['url', 'user', 'to', 'token']) {
  if (values[name] === undefined) {
    console.error(`throughput.mjs: --${name} is required`)
    process.exit(2)
  }
}
const count = Number(values.count)
const window = Number(values.window)

const client = new HubbubClient({ url: values.url, userID: values.user, platform: 'Linux', token: async () => values.token, WebSocket, autoReconnect: false })
await client.connect()
const message = { type: 1, message: 'x'.repeat(64) }
let sent = 0
const started = performance.now()
async function lane() {
  while (sent < count) {
    sent += 1
    await client.request('sendMessage', { toConversationID: values.to, conversationType: 0, message })
  }
}
await Promise.all(Array.from({ length: window }, lane))
const seconds = (performance.now() - started) / 1000
client.close()
console.log(JSON.stringify({ client: 'js', count, window, seconds, perSecond: count / seconds }))
