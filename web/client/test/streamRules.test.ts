// The client's stream rules where a live server cannot be made to show them on demand:
// a resume gap (past 10,000 retained events), and the same durable event sent twice.
// A scripted WebSocket server plays the server's side of PROTOCOL.md §4.

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'

import { decode, encode } from 'cborg'
import { WebSocketServer, type WebSocket } from 'ws'

import { makeClient, nextEvent, RecordingSeqStore } from './support.js'

type Frame = { [field: string]: unknown }

let wss: WebSocketServer
let url: string
/** What the scripted server does once a client logged in: (socket, login frame) -> nothing. */
let script: (socket: WebSocket, login: Frame) => void = () => {}

before(async () => {
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      const frame = decode(new Uint8Array(data as Buffer)) as Frame
      if (frame['op'] === 'login') script(socket, frame)
      else socket.send(encode({ re: frame['id'], ok: true }))
    })
  })
})
after(async () => {
  for (const socket of wss.clients) socket.terminate()
  await new Promise<void>((resolve) => wss.close(() => resolve()))
})

const loginReply = (frame: Frame, seq: number, resumeGap: boolean): Uint8Array =>
  encode({ re: frame['id'], ok: true, loginID: 'L1', serverTime: Date.now(), seq, resumeGap, devices: [{ loginID: 'L1', deviceID: 'D1', platform: 'Web', deviceName: '', loginTime: 1 }] })

test('a resume gap: the client starts over from the reply seq and says so', { timeout: 10_000 }, async () => {
  const store = new RecordingSeqStore(40)
  script = (socket, login) => {
    assert.equal(login['resumeFrom'], 40)
    socket.send(loginReply(login, 20_000, true))
    socket.send(encode({ ev: 'peerMessageReceived', seq: 20_001, messageList: [], fromConversationID: 'bob' }))
  }
  const { client, log } = makeClient({ wsURL: url }, 'alice', { seqStore: store, ackDelayMs: 10 })
  const connected = nextEvent<{ resumed: boolean; login: { resumeGap: boolean } }>(client, 'connected')
  const live = nextEvent<{ seq: number }>(client, 'peerMessageReceived')
  try {
    const login = await client.connect()
    assert.equal(login.resumeGap, true)
    const info = await connected
    assert.equal(info.resumed, true)
    assert.equal(info.login.resumeGap, true)
    assert.equal((await live).seq, 20_001)
    await store.saved(20_001)
    await log.sentFrame((f) => f['op'] === 'ack' && f['seq'] === 20_001)
    assert.ok(store.saves.every((s) => s >= 20_000), `nothing between the old and the new position is saved: ${store.saves.join(', ')}`)
  } finally {
    client.close()
  }
})

test('a durable event sent twice is handed out once; events without seq always', { timeout: 10_000 }, async () => {
  script = (socket, login) => {
    socket.send(loginReply(login, 5, false))
    for (const seq of [6, 6, 7, 5]) socket.send(encode({ ev: 'conversationChanged', seq, infoList: [] }))
    socket.send(encode({ ev: 'selfDevicesChanged', devices: [] }))
    socket.send(encode({ ev: 'selfDevicesChanged', devices: [] }))
    socket.send(encode({ ev: 'conversationChanged', seq: 8, infoList: [] }))
  }
  const store = new RecordingSeqStore()
  const { client } = makeClient({ wsURL: url }, 'alice', { seqStore: store, ackDelayMs: 10 })
  const seqs: number[] = []
  let ephemeral = 0
  client.on('conversationChanged', (ev) => {
    seqs.push(ev.seq!)
  })
  client.on('selfDevicesChanged', () => {
    ephemeral += 1
  })
  const last = nextEvent<{ seq: number }>(client, 'conversationChanged', (ev) => ev.seq === 8)
  try {
    await client.connect()
    await last
    await store.saved(8)
    assert.deepEqual(seqs, [6, 7, 8])
    assert.equal(ephemeral, 2)
    assert.equal(client.processedSeq, 8)
  } finally {
    client.close()
  }
})
