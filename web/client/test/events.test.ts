// Events by name and as an async iterator; the processed seq saved after the handlers, acked in batches.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { gate, nextEvent, RecordingSeqStore, sendText, startServer, twoUsers, type Server } from './support.js'

const T = { timeout: 20_000 }

interface Received {
  ev: string
  seq?: number
  messageList: { message: string }[]
}

describe('events', () => {
  let server: Server
  before(async () => {
    server = await startServer('multi')
  })
  after(() => server.stop())

  test('on(name) gets that event; the function it returns unsubscribes', T, async () => {
    const { alice, bob, bobID, close } = await twoUsers(server)
    try {
      const seen: string[] = []
      const off = bob.on('peerMessageReceived', (ev) => {
        seen.push(String(ev.messageList[0]!.message))
      })
      const second = nextEvent<Received>(bob, 'peerMessageReceived', (ev) => ev.messageList[0]!.message === 'two')
      await sendText(alice, bobID, 'one')
      const first = await nextEvent<Received>(bob, 'peerMessageReceived')
      assert.equal(first.messageList[0]!.message, 'one')
      off()
      await sendText(alice, bobID, 'two')
      await second
      assert.deepEqual(seen, ['one'], 'the unsubscribed handler saw only the first')
      assert.equal(typeof first.seq, 'number', 'a received message is durable')
    } finally {
      close()
    }
  })

  test('events(name) iterates over that event only, in order, and ends when the client closes', T, async () => {
    const { alice, bob, bobID } = await twoUsers(server)
    const messages = bob.events('peerMessageReceived')
    const everything = bob.events()
    for (const text of ['a', 'b', 'c']) await sendText(alice, bobID, text)
    const texts: string[] = []
    for await (const ev of messages) {
      assert.equal(ev.ev, 'peerMessageReceived')
      texts.push(String(ev.messageList[0]!.message))
      if (texts.length === 3) break
    }
    assert.deepEqual(texts, ['a', 'b', 'c'])
    const names = new Set<string>()
    let last = 0
    for await (const ev of everything) {
      names.add(ev.ev)
      if (ev.seq !== undefined) {
        assert.ok(ev.seq > last, 'durable events come in seq order')
        last = ev.seq
      }
      if (ev.ev === 'peerMessageReceived' && (ev['messageList'] as Received['messageList'])[0]!.message === 'c') bob.close()
    }
    assert.ok(names.has('peerMessageReceived') && names.has('conversationChanged'), [...names].join(','))
    alice.close()
  })

  test('the seq is saved only after the handlers ran, then acknowledged, cumulatively and in batches', T, async () => {
    const store = new RecordingSeqStore()
    const { alice, bob, bobID, bobLog: log, bobLogin: login, close } = await twoUsers(server, { seqStore: store, ackDelayMs: 50 })
    await store.saved(login.seq) // a new device starts from the account's newest seq
    try {
      const held = gate()
      let handled = 0
      const handlerEntered = nextEvent<Received>(bob, 'peerMessageReceived')
      bob.on('peerMessageReceived', async () => {
        await held.promise
        handled += 1
      })
      const reply = await sendText(alice, bobID, 'slow')
      const event = await handlerEntered
      const seq = event.seq!
      assert.ok(seq > login.seq)
      // The handler is still waiting: nothing past the login's seq may be saved or acked.
      await alice.request('queryDevices') // a round trip for the client to act if it wrongly would
      assert.ok(store.saves.every((s) => s < seq), `saved too early: ${store.saves.join(', ')}`)
      assert.ok(!log.sent.some((f) => f['op'] === 'ack' && (f['seq'] as number) >= seq))
      assert.equal(bob.processedSeq < seq, true)
      held.open()
      await store.saved(seq)
      assert.equal(handled, 1)
      assert.ok(reply.ok)

      // Ten more messages arrive together: fewer acks than events, the last one covering all.
      const seqs: number[] = []
      const done = new Promise<void>((resolve) => {
        bob.on('peerMessageReceived', (ev) => {
          seqs.push(ev.seq!)
          if (seqs.length === 10) resolve()
        })
      })
      await Promise.all(Array.from({ length: 10 }, (_, i) => sendText(alice, bobID, `burst ${i}`)))
      await done
      const newest = Math.max(...seqs)
      await store.saved(newest)
      await log.sentFrame((f) => f['op'] === 'ack' && f['seq'] === bob.processedSeq)
      const acks = log.sent.filter((f) => f['op'] === 'ack').map((f) => f['seq'] as number)
      assert.ok(acks.length < 11, `acks are batched: ${acks.join(', ')}`)
      assert.deepEqual(acks, [...acks].sort((a, b) => a - b), 'acks only move forward')
      assert.ok(bob.processedSeq >= newest)
    } finally {
      close()
    }
  })

  test('a durable event held by an iterator counts as processed once the loop moves past it', T, async () => {
    const store = new RecordingSeqStore()
    const { alice, bob, bobID, bobLogin: login, close } = await twoUsers(server, { seqStore: store, ackDelayMs: 20 })
    const messages = bob.events('peerMessageReceived')
    try {
      await sendText(alice, bobID, 'first')
      const first = await messages.next()
      assert.equal(first.done, false)
      const seq = first.value!.seq!
      // Events after it (conversationChanged, ...) are handled, but the loop has not moved on.
      await alice.request('queryDevices')
      assert.ok(bob.processedSeq < seq, `processed ${bob.processedSeq} while the loop holds ${seq}`)
      const second = messages.next() // moving on releases `first`
      await store.saved(seq)
      await sendText(alice, bobID, 'second')
      assert.equal((await second).value!.messageList[0]!.message, 'second')
      assert.ok(login.seq < seq)
    } finally {
      await messages.return!()
      close()
    }
  })
})
