// A dropped connection reconnects with resumeFrom and misses nothing; a new client resumes from the store.

import assert from 'node:assert/strict'
import net from 'node:net'
import { after, before, describe, test } from 'node:test'

import type { ClosedInfo, HubbubClient, WireEvent } from '@hubbub/client'
import type { WebSocket } from 'ws'

import { gate, makeClient, mintToken, nextEvent, RecordingSeqStore, sendText, startServer, uniqueUser, type Server } from './support.js'

const T = { timeout: 30_000 }

interface Recording {
  events: WireEvent[]
  texts: string[]
  /** Resolves once the loop recorded the peer message `text`. */
  reached(text: string): Promise<void>
}

/** Every event `client` hands out through an events() loop, and the texts of its received peer messages. */
function record(client: HubbubClient): Recording {
  const waiters = new Map<string, () => void>()
  const seen: Recording = {
    events: [],
    texts: [],
    reached: (text) =>
      seen.texts.includes(text)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${text} not received; got ${seen.texts.join(', ')}`)), 10_000)
            waiters.set(text, () => {
              clearTimeout(timer)
              resolve()
            })
          }),
  }
  void (async () => {
    for await (const ev of client.events()) {
      seen.events.push(ev)
      if (ev.ev === 'peerMessageReceived') {
        const text = (ev['messageList'] as { message: string }[])[0]!.message
        seen.texts.push(text)
        waiters.get(text)?.()
      }
    }
  })()
  return seen
}

/** Durable seqs must go up by one: no gap, no repeat. */
function assertNoGap(events: WireEvent[], from: number): void {
  const seqs = events.filter((e) => e.seq !== undefined).map((e) => e.seq!)
  assert.ok(seqs.length > 0)
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => from + 1 + i), `seqs: ${seqs.join(', ')}`)
}

describe('resume', () => {
  let server: Server
  before(async () => {
    server = await startServer('multi')
  })
  after(() => server.stop())

  test('after a dropped connection the client reconnects with resumeFrom and sees every event once', T, async () => {
    const aliceID = uniqueUser('alice')
    const bobID = uniqueUser('bob')
    const bob = makeClient(server, bobID).client
    const store = new RecordingSeqStore()
    let reconnectAllowed: Promise<void> = Promise.resolve()
    const { client: alice, log } = makeClient(server, aliceID, {
      seqStore: store,
      ackDelayMs: 20,
      // Each login asks for a token: the reconnect's waits until the test has sent what alice misses.
      token: async () => {
        await reconnectAllowed
        return mintToken(aliceID)
      },
    })
    await bob.connect()
    const login = await alice.connect()
    const seen = record(alice)
    try {
      await sendText(bob, aliceID, 'm1')
      await sendText(bob, aliceID, 'm2')
      await seen.reached('m2')
      const held = gate()
      reconnectAllowed = held.promise
      const closed = nextEvent<ClosedInfo>(alice, 'closed')
      log.drop()
      const info = await closed
      assert.equal(info.code, 1006)
      assert.equal(info.reason, 'lost')
      assert.equal(info.resumable, true)
      assert.equal(info.willReconnect, true)
      // While alice is away:
      await sendText(bob, aliceID, 'm3')
      await sendText(bob, aliceID, 'm4')
      const resumed = nextEvent<{ resumed: boolean; login: { resumeGap: boolean } }>(alice, 'connected')
      held.open()
      const again = await resumed
      assert.equal(again.resumed, true)
      assert.equal(again.login.resumeGap, false)
      await seen.reached('m4')
      assert.deepEqual(seen.texts, ['m1', 'm2', 'm3', 'm4'])
      assertNoGap(seen.events, login.seq)
      const logins = log.sent.filter((f) => f['op'] === 'login')
      assert.equal(logins.length, 2)
      assert.equal(logins[0]!['resumeFrom'], undefined)
      assert.equal(typeof logins[1]!['resumeFrom'], 'number')
      assert.ok((logins[1]!['resumeFrom'] as number) >= login.seq)
      assert.equal(logins[1]!['deviceID'], login.devices[0]!.deviceID, 'the reconnect is the same device')
      assert.equal(log.sockets.length, 2)
      await store.saved(Math.max(...seen.events.filter((e) => e.seq !== undefined).map((e) => e.seq!)))
    } finally {
      alice.close()
      bob.close()
    }
  })

  test('a new client (a reloaded page) resumes from the stored seq without a gap', T, async () => {
    const aliceID = uniqueUser('alice')
    const bobID = uniqueUser('bob')
    const bob = makeClient(server, bobID).client
    await bob.connect()
    const store = new RecordingSeqStore()
    const first = makeClient(server, aliceID, { seqStore: store, deviceID: 'tab-1' }).client
    const login = await first.connect()
    const seenBefore = record(first)
    await sendText(bob, aliceID, 'before')
    const before = await nextEvent<WireEvent>(first, 'peerMessageReceived')
    await store.saved(before.seq!)
    first.close()
    await sendText(bob, aliceID, 'while away 1')
    await sendText(bob, aliceID, 'while away 2')
    const { client: second, log } = makeClient(server, aliceID, { seqStore: store, deviceID: 'tab-1' })
    const seen = record(second)
    try {
      const again = await second.connect()
      assert.equal(again.resumeGap, false)
      // The first client saved what it processed (its closing save may still have moved it on).
      const resumeFrom = log.sent[0]!['resumeFrom'] as number
      assert.ok(resumeFrom >= before.seq!)
      await seen.reached('while away 2')
      assert.deepEqual(seen.texts, ['while away 1', 'while away 2'])
      assertNoGap(seenBefore.events.filter((e) => e.seq !== undefined && e.seq <= resumeFrom), login.seq)
      assertNoGap(seen.events, resumeFrom)
    } finally {
      second.close()
      bob.close()
    }
  })

  test('a server restart closes with 4004 (shutdown); the client comes back with resumeFrom, without a gap', T, async () => {
    // A server of its own: this test stops it.
    let own = await startServer('multi')
    const aliceID = uniqueUser('alice')
    const bobID = uniqueUser('bob')
    const { client: alice, log } = makeClient(own, aliceID)
    const bob = makeClient(own, bobID).client
    const login = await alice.connect()
    await bob.connect()
    const seen = record(alice)
    try {
      await sendText(bob, aliceID, 'before the restart')
      await seen.reached('before the restart')
      const closed = nextEvent<ClosedInfo>(alice, 'closed')
      const back = nextEvent<{ resumed: boolean }>(alice, 'connected')
      const bobBack = nextEvent<{ resumed: boolean }>(bob, 'connected')
      own = await own.restart()
      const info = await closed
      assert.equal(info.code, 4004)
      assert.equal(info.reason, 'shutdown')
      assert.equal(info.willReconnect, true)
      assert.equal((await back).resumed, true)
      await bobBack
      await sendText(bob, aliceID, 'after the restart')
      await seen.reached('after the restart')
      assert.deepEqual(seen.texts, ['before the restart', 'after the restart'])
      assertNoGap(seen.events, login.seq)
      assert.ok(log.sockets.length >= 2)
    } finally {
      alice.close()
      bob.close()
      await own.stop()
    }
  })

  test('given several URLs, a client whose server went away comes back through the next one, without a gap', T, async () => {
    // The first URL is a TCP relay to the server, as a second node would be: closing it for good is that node dying.
    const relay = await startRelay(new URL(server.wsURL))
    const aliceID = uniqueUser('alice')
    const bobID = uniqueUser('bob')
    const bob = makeClient(server, bobID).client
    const { client: alice, log } = makeClient(server, aliceID, { url: [relay.wsURL, server.wsURL] })
    await bob.connect()
    const login = await alice.connect()
    const seen = record(alice)
    try {
      assert.equal(alice.url, relay.wsURL)
      await sendText(bob, aliceID, 'through the first')
      await seen.reached('through the first')
      const closed = nextEvent<ClosedInfo>(alice, 'closed')
      const back = nextEvent<{ resumed: boolean; login: { resumeGap: boolean } }>(alice, 'connected')
      await relay.close()
      assert.equal((await closed).willReconnect, true)
      await sendText(bob, aliceID, 'while moving')
      const again = await back
      assert.equal(again.resumed, true)
      assert.equal(again.login.resumeGap, false)
      assert.equal(alice.url, server.wsURL)
      assert.equal((log.sockets.at(-1) as unknown as WebSocket).url, `${server.wsURL}?user=${aliceID}`)
      await sendText(bob, aliceID, 'through the second')
      await seen.reached('through the second')
      assert.deepEqual(seen.texts, ['through the first', 'while moving', 'through the second'])
      assertNoGap(seen.events, login.seq)
    } finally {
      alice.close()
      bob.close()
      await relay.close()
    }
  })

  test('requests made while reconnecting wait for the new login', T, async () => {
    const aliceID = uniqueUser('alice')
    const { client: alice, log } = makeClient(server, aliceID)
    await alice.connect()
    try {
      const closed = nextEvent<ClosedInfo>(alice, 'closed')
      log.drop()
      await closed
      assert.equal(alice.connectionState, 'reconnecting')
      const reply = await alice.request('queryDevices')
      assert.equal((reply['devices'] as unknown[]).length, 1)
      assert.equal(alice.connectionState, 'connected')
    } finally {
      alice.close()
    }
  })
})

interface Relay {
  wsURL: string
  /** Stop listening and cut every relayed connection (idempotent). */
  close(): Promise<void>
}

/** A TCP relay on a free loopback port to the server at `target`, speaking for it at the same path. */
async function startRelay(target: URL): Promise<Relay> {
  const sockets = new Set<net.Socket>()
  const listener = net.createServer((inbound) => {
    const outbound = net.connect(Number(target.port), target.hostname)
    for (const socket of [inbound, outbound]) {
      sockets.add(socket)
      socket.on('error', () => socket.destroy())
      socket.on('close', () => sockets.delete(socket))
    }
    inbound.on('close', () => outbound.destroy())
    outbound.on('close', () => inbound.destroy())
    inbound.pipe(outbound).pipe(inbound)
  })
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
  const { port } = listener.address() as net.AddressInfo
  let closing: Promise<void> | null = null
  return {
    wsURL: `ws://127.0.0.1:${port}${target.pathname}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        listener.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      })
      return closing
    },
  }
}
