// No auto-resume after a kick (4000), a forced offline (4001) or an expired token (4002); token renewal.

import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'

import { ClosedError, HubbubError, type ClosedInfo } from '@hubbub/client'

import { ADMIN_TOKEN, makeClient, mintToken, nextEvent, startServer, uniqueUser, type Server } from './support.js'

const T = { timeout: 30_000 }

interface StateChanged {
  state: number
  event: number
  extendedData: { reason?: string; byLoginID?: string | null; byPlatform?: string | null }
}

describe('under policy single', () => {
  let server: Server
  before(async () => {
    server = await startServer('single')
  })
  after(() => server.stop())

  test('a second login kicks the first: closed as kicked, with the kick, and no reconnect', T, async () => {
    const aliceID = uniqueUser('alice')
    const { client: tab, log } = makeClient(server, aliceID, { deviceID: 'tab' })
    const phone = makeClient(server, aliceID, { deviceID: 'phone', platform: 'iOS' }).client
    await tab.connect()
    const events = tab.events()
    const stateChanged = nextEvent<StateChanged>(tab, 'connectionStateChanged')
    const closed = nextEvent<ClosedInfo>(tab, 'closed')
    const phoneLogin = await phone.connect()
    try {
      const kick = await stateChanged
      assert.equal(kick.state, 0)
      assert.equal(kick.event, 4)
      const info = await closed
      assert.equal(info.code, 4000)
      assert.equal(info.reason, 'kicked')
      assert.equal(info.resumable, false)
      assert.equal(info.willReconnect, false)
      assert.deepEqual(info.extendedData, { reason: 'policy', byLoginID: phoneLogin.loginID, byPlatform: 'iOS' })
      assert.equal(tab.connectionState, 'closed')
      assert.equal(log.sockets.length, 1, 'no second connection')
      await assert.rejects(tab.request('queryDevices'), ClosedError)
      const names: string[] = []
      for await (const ev of events) names.push(ev.ev) // ends: the client is closed for good
      assert.ok(names.includes('connectionStateChanged'))
      const devices = await phone.request('queryDevices')
      assert.deepEqual((devices['devices'] as { loginID: string }[]).map((d) => d.loginID), [phoneLogin.loginID])
    } finally {
      phone.close()
      tab.close()
    }
  })
})

describe('forced offline and tokens', () => {
  let server: Server
  before(async () => {
    server = await startServer('multi')
  })
  after(() => server.stop())

  test('the admin API forcing a device offline closes it as forcedOffline, without reconnecting', T, async () => {
    const aliceID = uniqueUser('alice')
    const { client, log } = makeClient(server, aliceID)
    const login = await client.connect()
    const closed = nextEvent<ClosedInfo>(client, 'closed')
    const response = await fetch(`${server.adminURL}/v1/users/${aliceID}/devices/${login.loginID}`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    assert.ok(response.ok, `admin API: ${response.status}`)
    const info = await closed
    assert.equal(info.code, 4001)
    assert.equal(info.reason, 'forcedOffline')
    assert.equal(info.willReconnect, false)
    assert.equal(info.extendedData?.['reason'], 'admin')
    assert.equal(client.connectionState, 'closed')
    assert.equal(log.sockets.length, 1)
  })

  test('an unrenewed token expires: closed as tokenExpired (4002), no reconnect', T, async () => {
    const aliceID = uniqueUser('alice')
    // Valid for 2 s, so the server warns at once (30 s ahead) and expires it 2 s later;
    // the renewal offers a token that has already expired, which the server refuses.
    const tokens = [mintToken(aliceID, 2), mintToken(aliceID, -60)]
    const { client, log } = makeClient(server, aliceID, { token: async () => tokens.shift() ?? mintToken(aliceID, -60) })
    const errors: Error[] = []
    client.on('error', (err) => {
      errors.push(err)
    })
    const warned = nextEvent<{ second: number }>(client, 'tokenWillExpire')
    const closed = nextEvent<ClosedInfo>(client, 'closed')
    await client.connect()
    assert.ok((await warned).second <= 2)
    const info = await closed
    assert.equal(info.code, 4002)
    assert.equal(info.reason, 'tokenExpired')
    assert.equal(info.willReconnect, false)
    assert.equal(client.connectionState, 'closed')
    assert.equal(log.sockets.length, 1)
    assert.ok(log.ops().includes('renewToken'), 'the client tried to renew')
    assert.ok(errors.some((e) => e instanceof HubbubError && e.code === 2003), `the refused renewal was reported: ${errors.join('; ')}`)
  })

  test('tokenWillExpire renews the token through the callback; the connection outlives the first token', T, async () => {
    const aliceID = uniqueUser('alice')
    const short = mintToken(aliceID, 2)
    const expiresAtMs = JSON.parse(Buffer.from(short.split('.')[1]!, 'base64url').toString()).exp * 1000
    const tokens = [short, mintToken(aliceID, 3600)]
    const { client, log } = makeClient(server, aliceID, { token: async () => tokens.shift()! })
    const renewed = nextEvent<{ second: number }>(client, 'tokenRenewed')
    let closed: ClosedInfo | null = null
    client.on('closed', (info) => {
      closed = info
    })
    await client.connect()
    try {
      await renewed
      assert.equal(log.sent.filter((f) => f['op'] === 'renewToken').length, 1)
      // Only the clock can show the old token's end passed without a close: the server
      // runs in its own process, so wait for that instant (about 2 s), then ask it.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAtMs + 1000 - Date.now())))
      const devices = await client.request('queryDevices')
      assert.equal((devices['devices'] as unknown[]).length, 1)
      assert.equal(closed, null)
      assert.equal(client.connectionState, 'connected')
    } finally {
      client.close()
    }
  })
})
