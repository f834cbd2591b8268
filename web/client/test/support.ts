/**
 * Test support: a live `hubbub serve` subprocess, tokens minted with its
 * secret, clients over the `ws` package, and waits that end on an event or
 * fail after a deadline (never a fixed sleep).
 */

import { spawn, type ChildProcess } from 'node:child_process'
import { createHmac, randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import { decode } from 'cborg'
import { WebSocket } from 'ws'

import { HubbubClient, memorySeqStore, type HubbubClientOptions, type LoginReply, type SeqStore, type WebSocketConstructor, type WebSocketLike } from '@hubbub/client'

export const SECRET = 'js-client-test-secret-long-enough-for-hs256'
export const ADMIN_TOKEN = 'js-client-test-admin-token'

/** The repository root (this file runs from web/client/.test-build/test/). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

function hubbubBin(): string {
  const bin = process.env['HUBBUB_BIN'] ?? join(REPO_ROOT, '.venv', 'bin', 'hubbub')
  if (!existsSync(bin)) throw new Error(`no hubbub command at ${bin}: run \`make install\` at the repository root, or set HUBBUB_BIN`)
  return bin
}

export interface Server {
  wsURL: string
  adminURL: string
  /** SIGTERM (devices get close 4004), wait for the exit, remove the data dir. */
  stop(): Promise<void>
  /** Stop it, keeping the data dir, and start it again on the same port. */
  restart(): Promise<Server>
}

export interface ServerPlace {
  dataDir: string
  port: number
}

/**
 * Start `hubbub serve` (on free ports and a new data dir, unless `place` names
 * them); resolves once it printed its listening line (within 30 s).
 */
export async function startServer(policy = 'multi', extraArgs: string[] = [], place?: ServerPlace): Promise<Server> {
  const dataDir = place?.dataDir ?? mkdtempSync(join(tmpdir(), 'hubbub-js-'))
  const port = String(place?.port ?? 0)
  const args = ['serve', '--host', '127.0.0.1', '--port', port, '--admin-port', '0', '--data-dir', dataDir]
  args.push('--auth-secret', SECRET, '--admin-token', ADMIN_TOKEN, '--policy', policy, '--log-level', 'WARNING', ...extraArgs)
  const child = spawn(hubbubBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hubbub serve printed no listening line within 30 s:\n${stderr}`)), 30_000)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (text) => {
      if (text.startsWith('hubbub listening ')) {
        clearTimeout(timer)
        resolve(text)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`hubbub serve exited (${code}) before listening:\n${stderr}`))
    })
  })
  const match = /^hubbub listening (wss?:\/\/\S+) admin (http:\/\/\S+)/.exec(line)
  if (match === null) throw new Error(`unexpected listening line: ${line}`)
  const wsURL = match[1]!
  return {
    wsURL,
    adminURL: match[2]!,
    stop: () => stopProcess(child).finally(() => rmSync(dataDir, { recursive: true, force: true })),
    restart: async () => {
      await stopProcess(child)
      return startServer(policy, extraArgs, { dataDir, port: Number(new URL(wsURL).port) })
    },
  }
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s (the server's own bound is 5 s). */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill('SIGTERM')
  })
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url')
}

/** An HS256 login token for `userID`, valid `ttlS` seconds: what an application backend mints (PROTOCOL.md §2). */
export function mintToken(userID: string, ttlS = 3600): string {
  const now = Math.floor(Date.now() / 1000)
  const head = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))
  const body = base64url(JSON.stringify({ sub: userID, iat: now, exp: now + ttlS }))
  const signature = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url')
  return `${head}.${body}.${signature}`
}

/** A user ID no other test uses. */
export function uniqueUser(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`
}

/** The WebSocket class for the client, recording every socket it opens and every frame the client sends. */
export class SocketLog {
  readonly sockets: WebSocket[] = []
  readonly sent: { [field: string]: unknown }[] = []
  private waiters: { accept: (frame: { [field: string]: unknown }) => boolean; resolve: () => void }[] = []

  /** Resolve once the client sent a frame that `accept` takes (already, or later); reject after `timeoutMs`. */
  sentFrame(accept: (frame: { [field: string]: unknown }) => boolean, timeoutMs = 10_000): Promise<void> {
    if (this.sent.some(accept)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such frame sent within ${timeoutMs} ms: ${this.ops().join(', ')}`)), timeoutMs)
      this.waiters.push({
        accept,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }

  private record(frame: { [field: string]: unknown }): void {
    this.sent.push(frame)
    this.waiters = this.waiters.filter((w) => {
      if (!w.accept(frame)) return true
      w.resolve()
      return false
    })
  }

  get WebSocket(): WebSocketConstructor {
    const log = this
    return class LoggedWebSocket extends WebSocket {
      constructor(url: string) {
        super(url)
        log.sockets.push(this)
      }

      override send(data: Uint8Array): void {
        log.record(decode(data) as { [field: string]: unknown })
        super.send(data)
      }
    } as unknown as WebSocketConstructor
  }

  /** Ops the client sent, in order. */
  ops(): string[] {
    return this.sent.map((frame) => String(frame['op']))
  }

  /** Drop the newest connection without a close frame, as a network failure would (the client sees 1006). */
  drop(): void {
    this.sockets.at(-1)!.terminate()
  }
}

export interface TestClient {
  client: HubbubClient
  log: SocketLog
}

/** A client for `userID` on `server` (not connected yet); options override the defaults. */
export function makeClient(server: Pick<Server, 'wsURL'>, userID: string, options: Partial<HubbubClientOptions> = {}): TestClient {
  const log = new SocketLog()
  const client = new HubbubClient({
    url: server.wsURL,
    userID,
    platform: 'Web',
    token: async () => mintToken(userID),
    WebSocket: log.WebSocket,
    backoff: { initialDelayMs: 20, maxDelayMs: 200 },
    ...options,
  })
  return { client, log }
}

/** Resolve with the first `name` event of `client` that `accept` takes, or reject after `timeoutMs`. */
export function nextEvent<T = { [field: string]: unknown }>(
  client: HubbubClient,
  name: string,
  accept: (event: T) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no ${name} event within ${timeoutMs} ms`))
    }, timeoutMs)
    const off = client.on(name, (event: unknown) => {
      if (accept(event as T)) {
        clearTimeout(timer)
        off()
        resolve(event as T)
      }
    })
  })
}

/** A SeqStore that records what was saved and lets a test wait for a save. */
export class RecordingSeqStore implements SeqStore {
  readonly saves: number[] = []
  private readonly inner: SeqStore
  private waiters: { seq: number; resolve: () => void }[] = []

  constructor(initial: number | null = null) {
    this.inner = memorySeqStore(initial)
  }

  load(): Promise<number | null> {
    return this.inner.load()
  }

  async save(seq: number): Promise<void> {
    await this.inner.save(seq)
    this.saves.push(seq)
    this.waiters = this.waiters.filter((w) => {
      if (seq >= w.seq) w.resolve()
      return seq < w.seq
    })
  }

  /** Resolve once a seq >= `seq` was saved; reject after `timeoutMs`. */
  saved(seq: number, timeoutMs = 10_000): Promise<void> {
    if (this.saves.some((s) => s >= seq)) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`seq ${seq} not saved within ${timeoutMs} ms (saved: ${this.saves.join(', ')})`)), timeoutMs)
      this.waiters.push({
        seq,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }
}

/** A promise with its resolve function outside: a gate a test opens. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

/** Send `text` from `from` to `to` as a peer text message; resolves with the reply. */
export function sendText(from: HubbubClient, to: string, text: string) {
  return from.request('sendMessage', { toConversationID: to, conversationType: 0, message: { type: 1, message: text } })
}

export type { WebSocketLike }

export interface Pair {
  alice: HubbubClient
  bob: HubbubClient
  bobID: string
  bobLog: SocketLog
  bobLogin: LoginReply
  close(): void
}

/** Two users logged in on `server`, alice and bob (bob with `bobOptions`). */
export async function twoUsers(server: Server, bobOptions: Partial<HubbubClientOptions> = {}): Promise<Pair> {
  const alice = makeClient(server, uniqueUser('alice')).client
  const bobID = uniqueUser('bob')
  const { client: bob, log: bobLog } = makeClient(server, bobID, bobOptions)
  await alice.connect()
  const bobLogin = await bob.connect()
  return {
    alice,
    bob,
    bobID,
    bobLog,
    bobLogin,
    close: () => {
      alice.close()
      bob.close()
    },
  }
}
