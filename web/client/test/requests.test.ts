// Login, requests with replies, errors and timeouts, the frame-size rules.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { decode, encode } from 'cborg'
import { WebSocket, WebSocketServer } from 'ws'

import { ClosedError, HubbubError, ProtocolError, RequestTimeoutError, type HubbubClient, type WebSocketConstructor } from '@hubbub/client'

import { makeClient, nextEvent, sendText, startServer, twoUsers, uniqueUser, type Server } from './support.js'

const T = { timeout: 20_000 }

describe('against a live hubbub serve', () => {
  let server: Server
  before(async () => {
    server = await startServer('multi')
  })
  after(() => server.stop())

  test('each connection names its account in the URL (the workers\' hint), after any query the URL has', T, async () => {
    const user = uniqueUser('alice')
    const { client, log } = makeClient(server, user, { url: `${server.wsURL}?from=test` })
    await client.connect()
    try {
      const opened = log.sockets[0]!.url
      assert.equal(opened, `${server.wsURL}?from=test&user=${encodeURIComponent(user)}`)
      log.drop() // the reconnect names it again
      await nextEvent(client, 'connected', (event: { resumed: boolean }) => event.resumed)
      assert.equal(log.sockets.length, 2)
      assert.equal(log.sockets[1]!.url, opened)
    } finally {
      client.close()
    }
  })

  test('a URL that names an account already is opened as it is', T, async () => {
    const user = uniqueUser('alice')
    const url = `${server.wsURL}?user=${encodeURIComponent(user)}&from=test`
    const { client, log } = makeClient(server, user, { url })
    await client.connect()
    try {
      assert.equal(log.sockets[0]!.url, url)
    } finally {
      client.close()
    }
  })

  test('connect logs in and resolves with the login reply', T, async () => {
    const user = uniqueUser('alice')
    const { client, log } = makeClient(server, user, { deviceName: 'Firefox', userName: 'Alice' })
    const connected = nextEvent<{ resumed: boolean }>(client, 'connected')
    const login = await client.connect()
    try {
      assert.equal(typeof login.loginID, 'string')
      assert.equal(login.resumeGap, false)
      assert.equal(typeof login.seq, 'number')
      assert.equal(login.devices.length, 1)
      assert.equal(login.devices[0]!.loginID, login.loginID)
      assert.equal(login.devices[0]!.platform, 'Web')
      assert.equal(login.devices[0]!.deviceName, 'Firefox')
      assert.equal((await connected).resumed, false)
      assert.equal(client.connectionState, 'connected')
      assert.equal(client.loginID, login.loginID)
      const first = log.sent[0]!
      assert.equal(first['op'], 'login')
      assert.equal(first['resumeFrom'], undefined, 'a new device asks for live events only')
      assert.ok(!('deviceID' in first), 'absent options are left out of the frame, not sent as undefined')
    } finally {
      client.close()
    }
  })

  test('request resolves with the reply; the other user gets the event', T, async () => {
    const { alice, bob, bobID, close } = await twoUsers(server)
    try {
      const received = nextEvent<{ messageList: { message: string; senderUserID: string }[] }>(bob, 'peerMessageReceived')
      const reply = await sendText(alice, bobID, 'hello bob')
      assert.equal(reply.ok, true)
      const message = reply['message'] as { message: string; messageID: string; conversationID: string }
      assert.equal(message.message, 'hello bob')
      assert.equal(message.conversationID, bobID)
      const event = await received
      assert.equal(event.messageList[0]!.message, 'hello bob')
      const devices = await alice.request('queryDevices')
      assert.equal((devices['devices'] as unknown[]).length, 1)
    } finally {
      close()
    }
  })

  test('bytes go out and come back as Uint8Array (CBOR byte strings)', T, async () => {
    const { alice, bob, bobID, close } = await twoUsers(server)
    try {
      const received = nextEvent<{ messageList: { message: unknown }[] }>(bob, 'peerMessageReceived')
      const body = new Uint8Array([0, 1, 2, 255])
      await alice.request('sendMessage', { toConversationID: bobID, conversationType: 0, message: { type: 200, message: body } })
      const got = (await received).messageList[0]!.message
      assert.ok(got instanceof Uint8Array)
      assert.deepEqual([...got], [0, 1, 2, 255])
    } finally {
      close()
    }
  })

  test('an ok:false reply rejects with HubbubError {code, message}; the connection stays usable', T, async () => {
    const aliceID = uniqueUser('alice')
    const alice = makeClient(server, aliceID).client
    await alice.connect()
    try {
      const tooMany = { conversationID: aliceID, conversationType: 0, config: { count: 1000 } } as const // count <= 100
      await assert.rejects(alice.request('queryHistoryMessage', tooMany), (err: unknown) => {
        assert.ok(err instanceof HubbubError)
        assert.equal(err.code, 1003)
        assert.equal(err.op, 'queryHistoryMessage')
        assert.ok(err.message.length > 0)
        return true
      })
      await assert.rejects(alice.request('noSuchOp', {}), (err: unknown) => err instanceof HubbubError && err.code === 1002)
      const devices = await alice.request('queryDevices')
      assert.equal(devices.ok, true)
    } finally {
      alice.close()
    }
  })

  test('a refused login rejects connect with HubbubError 2002 and leaves the client closed', T, async () => {
    const user = uniqueUser('alice')
    const { client } = makeClient(server, user, { token: async () => 'not-a-token' })
    await assert.rejects(client.connect(), (err: unknown) => err instanceof HubbubError && err.code === 2002)
    assert.equal(client.connectionState, 'closed')
    await assert.rejects(client.request('queryDevices'), ClosedError)
  })

  test('a frame over maxFrameBytes is refused before sending (1004) and the connection stays open', T, async () => {
    const bobID = uniqueUser('bob')
    const { client, log } = makeClient(server, uniqueUser('alice'))
    await client.connect()
    try {
      const big = 'x'.repeat(70 * 1024)
      await assert.rejects(sendText(client, bobID, big), (err: unknown) => err instanceof HubbubError && err.code === 1004)
      assert.ok(!log.ops().includes('sendMessage'), 'nothing was sent')
      assert.equal((await client.request('queryDevices')).ok, true)
    } finally {
      client.close()
    }
  })

  test("past the server's frame limit: error 1004, then close 1009 (frameTooLarge), no reconnect", T, async () => {
    const { client, log } = makeClient(server, uniqueUser('alice'), { maxFrameBytes: 1 << 20 })
    const errors: Error[] = []
    client.on('error', (err) => {
      errors.push(err)
    })
    await client.connect()
    const closed = nextEvent<{ code: number; reason: string; willReconnect: boolean }>(client, 'closed')
    await assert.rejects(sendText(client, uniqueUser('bob'), 'x'.repeat(70 * 1024)), (err: unknown) => err instanceof ClosedError && err.code === 1009)
    const info = await closed
    assert.equal(info.code, 1009)
    assert.equal(info.reason, 'frameTooLarge')
    assert.equal(info.willReconnect, false)
    assert.equal(client.connectionState, 'closed')
    assert.equal(log.sockets.length, 1)
    assert.ok(errors.some((e) => e instanceof HubbubError && e.code === 1004), 'the server said 1004 before closing')
  })

  test('logout resolves once the server closed (1000); no reconnect follows', T, async () => {
    const { client, log } = makeClient(server, uniqueUser('alice'))
    await client.connect()
    const closed = nextEvent<{ code: number; reason: string; willReconnect: boolean }>(client, 'closed')
    await client.logout()
    const info = await closed
    assert.equal(info.code, 1000)
    assert.equal(info.reason, 'logout')
    assert.equal(info.willReconnect, false)
    assert.equal(client.connectionState, 'closed')
    assert.deepEqual(log.ops(), ['login', 'logout'])
    assert.equal(log.sockets.length, 1)
  })
})

describe('against a server that does not answer', () => {
  let wss: WebSocketServer
  let url: string
  let answerLogin = false
  let sendText = false
  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    const address = wss.address()
    assert.ok(typeof address === 'object' && address !== null)
    url = `ws://127.0.0.1:${address.port}/ws`
    wss.on('connection', (socket) => {
      socket.on('message', (data) => {
        const frame = decode(new Uint8Array(data as Buffer)) as { op: string; id: number }
        if (!answerLogin || frame.op !== 'login') return // silent: never replies
        socket.send(encode({ re: frame.id, ok: true, loginID: 'L1', serverTime: Date.now(), seq: 0, devices: [], resumeGap: false }))
        answerLogin = false
        if (sendText) socket.send('a text frame')
      })
    })
  })
  after(async () => {
    for (const socket of wss.clients) socket.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
  })

  const fakeServer = (): Pick<Server, 'wsURL'> => ({ wsURL: url })

  test('connect rejects with RequestTimeoutError when the login gets no reply', T, async () => {
    const { client } = makeClient(fakeServer(), 'alice', { requestTimeoutMs: 300 })
    await assert.rejects(client.connect(), (err: unknown) => err instanceof RequestTimeoutError && err.op === 'login' && err.timeoutMs === 300)
    assert.equal(client.connectionState, 'closed')
  })

  test('a request without a reply rejects with RequestTimeoutError after its timeoutMs', T, async () => {
    answerLogin = true
    const { client } = makeClient(fakeServer(), 'alice')
    await client.connect()
    try {
      const started = Date.now()
      await assert.rejects(client.request('queryDevices', {}, { timeoutMs: 200 }), (err: unknown) => err instanceof RequestTimeoutError && err.timeoutMs === 200)
      assert.ok(Date.now() - started >= 190)
    } finally {
      client.close()
    }
  })

  test('a text frame from the server is reported as a ProtocolError and changes nothing', T, async () => {
    answerLogin = true
    sendText = true
    const { client } = makeClient(fakeServer(), 'alice')
    const reported = nextEvent<Error>(client, 'error')
    await client.connect()
    try {
      const err = await reported
      assert.ok(err instanceof ProtocolError)
      assert.match(err.message, /text frame/)
      assert.equal(client.connectionState, 'connected')
    } finally {
      sendText = false
      client.close()
    }
  })

  test('close() while connecting rejects connect with ClosedError, before and while the socket opens', T, async () => {
    answerLogin = true
    const early = makeClient(fakeServer(), 'alice').client
    const connecting = early.connect()
    early.close()
    await assert.rejects(connecting, ClosedError)
    assert.equal(early.connectionState, 'closed')

    let client: HubbubClient | null = null
    class ClosesWhileOpening extends WebSocket {
      constructor(address: string) {
        super(address)
        queueMicrotask(() => client!.close()) // the socket is still CONNECTING
      }
    }
    client = makeClient(fakeServer(), 'alice', { WebSocket: ClosesWhileOpening as unknown as WebSocketConstructor }).client
    await assert.rejects(client.connect(), ClosedError)
    assert.equal(client.connectionState, 'closed')
    answerLogin = false
  })

  test('close() rejects requests in flight with ClosedError', T, async () => {
    answerLogin = true
    const { client } = makeClient(fakeServer(), 'alice')
    await client.connect()
    const inFlight = client.request('queryDevices')
    client.close()
    await assert.rejects(inFlight, ClosedError)
    assert.equal(client.connectionState, 'closed')
  })
})
