/**
 * HubbubClient: one device's connection to hubbub (PROTOCOL.md), in browsers and Node.js.
 *
 *     const client = new HubbubClient({ url, userID, platform: 'Web', token })
 *     const login = await client.connect()
 *     const off = client.on('peerMessageReceived', (ev) => show(ev.messageList))
 *     await client.request('sendMessage', { toConversationID: 'bob', conversationType: 0, message })
 *
 * Events are handed to `on` handlers and `events()` iterators in arrival order,
 * one at a time (an async handler is awaited before the next event). A durable
 * event (one with `seq`) counts as processed once its handlers ran and every
 * iterator moved past it; the newest processed seq is saved in the SeqStore
 * and acknowledged to the server in batches. A dropped connection is
 * reconnected with jittered back-off and `resumeFrom` = that seq, so nothing
 * is missed and nothing is handed out twice; after a kick (4000), a forced
 * offline (4001) or an expired token (4002) the client stays closed.
 */

import { DEFAULT_BACKOFF, backoffDelayMs, type BackoffOptions } from './backoff.js'
import { closeMeaning, type CloseReason } from './closeReasons.js'
import { decodeFrame, encodeFrame, type Frame } from './codec.js'
import { ClosedError, HubbubError, ProtocolError, RequestTimeoutError } from './errors.js'
import { EventStream } from './eventStream.js'
import { ProcessedWatermark } from './progress.js'
import { memorySeqStore, type SeqStore } from './seqStore.js'
import type { EventName, EventOf, Platform, ReplyFrame, ReplyOf, RequestFields, RequestOp, WireEvent } from './wire.js'

/** The subset of the WHATWG WebSocket the client uses (the browser's, or the `ws` package's in Node.js). */
export interface WebSocketLike {
  binaryType: string
  readonly readyState: number
  send(data: Uint8Array): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
}

export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface HubbubClientOptions {
  /**
   * The server's WebSocket URL, e.g. `ws://127.0.0.1:8765/ws`; or several (the nodes of a
   * cluster): the client connects to the first, and each reconnect attempt moves on to the
   * next one, round the list, so a device whose node died comes back through another.
   * Each connection names the account in the URL (`?user=ID`, a hint only: the login still
   * decides), so the workers of `hubbub serve --workers N` serve it on the one that owns it.
   */
  url: string | readonly string[]
  userID: string
  platform: Platform
  /** Stable per installation; when absent the server makes one and reconnects reuse it. */
  deviceID?: string
  deviceName?: string
  userName?: string
  /** A login token (a JWT from the application backend); called at every login and on `tokenWillExpire`. */
  token: () => Promise<string>
  /** Where the last processed seq is kept; memory by default, `localStorageSeqStore(key)` in browsers. */
  seqStore?: SeqStore
  /** Reconnect after a dropped connection (default true). */
  autoReconnect?: boolean
  /** Reconnect delays (default: first up to 250 ms, doubling, at most 30 s; full jitter). */
  backoff?: BackoffOptions
  /** Default time to wait for a reply (default 10000 ms). */
  requestTimeoutMs?: number
  /** Frames larger than this are refused before sending (HubbubError 1004); the server's limit (default 65536). */
  maxFrameBytes?: number
  /** Acknowledge processed events after at most this long (default 200 ms) ... */
  ackDelayMs?: number
  /** ... or as soon as this many are waiting (default 64). */
  ackBatch?: number
  /** The WebSocket class; default `globalThis.WebSocket` (Node.js 20: pass the `ws` package's). */
  WebSocket?: WebSocketConstructor
}

/** The reply to `login` (PROTOCOL.md §3), as the schema gives it. */
export type LoginReply = ReplyOf<'login'>

/** One online device of the account. */
export type DeviceInfo = LoginReply['devices'][number]

/** Why and how a connection closed. */
export interface ClosedInfo {
  /** The WebSocket close code (1006 when the connection dropped without one). */
  code: number
  reason: CloseReason
  /** The close frame's text. */
  message: string
  /** Whether the server expects this device back with resumeFrom (a drop, a restart, a slow device). */
  resumable: boolean
  /** Whether the client is about to reconnect on its own. */
  willReconnect: boolean
  /** The kick's `extendedData` (reason, byLoginID, byPlatform) for 4000, 4001 and 4002. */
  extendedData?: { [field: string]: unknown }
}

/** The events the client itself emits, beside the server's. */
export interface ClientEvents {
  /** Every successful login; `resumed` for the logins of reconnects. */
  connected: { login: LoginReply; resumed: boolean }
  /** Every close of a connection. */
  closed: ClosedInfo
  /** A reconnect is scheduled after `delayMs`. */
  reconnecting: { attempt: number; delayMs: number }
  /** The token was renewed after `tokenWillExpire`. */
  tokenRenewed: { second: number }
  /** Something failed without a caller to tell: a handler threw, an ack or a renewal failed, a bad frame. */
  error: Error
}

type ClientEventName = keyof ClientEvents
type Handler<T> = (event: T) => void | Promise<void>
type AnyHandler = Handler<never>
type State = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed'

interface Pending {
  op: string
  resolve: (frame: Frame) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout>
}

export interface RequestOptions {
  /** How long to wait for the reply (default: the client's requestTimeoutMs). */
  timeoutMs?: number
}

/** A request's fields, which may be left out when none is required, then its options. */
type RequestArgs<Op extends RequestOp> = {} extends RequestFields<Op>
  ? [fields?: RequestFields<Op>, options?: RequestOptions]
  : [fields: RequestFields<Op>, options?: RequestOptions]

type Delivery =
  | { kind: 'event'; frame: Frame; name: string }
  | { kind: 'client'; name: ClientEventName; payload: unknown }
  | { kind: 'end' } // closed for good: iterators end after what was queued before

const WS_OPEN = 1
const NORMAL_CLOSE = 1000
const NO_CLOSE_FRAME = 1006
// The close reasons after which nothing is retried.
const LOGIN_REFUSED_CODES = new Set([2002, 2003, 2004])

/** One device's connection; see the module comment. */
export class HubbubClient {
  private readonly options: Required<Omit<HubbubClientOptions, 'url' | 'deviceID' | 'deviceName' | 'userName' | 'WebSocket'>>
  private readonly urls: readonly string[]
  private urlIndex = 0
  private readonly WebSocketClass: WebSocketConstructor
  private readonly names: { deviceName: string | undefined; userName: string | undefined }
  private deviceID: string | undefined
  private ws: WebSocketLike | null = null
  private state: State = 'idle'
  private nextID = 1
  private readonly pending = new Map<number, Pending>()
  private readonly handlers = new Map<string, Set<AnyHandler>>()
  private readonly streams = new Set<EventStream<unknown>>()
  private readonly deliveries: Delivery[] = []
  private delivering = false
  private watermark = new ProcessedWatermark(0)
  private receivedSeq = 0 // newest durable seq received: older ones (a resume overlapping) are dropped
  private seqLoaded = false
  private savedSeq = -1
  private ackedSeq = 0
  private flushTimer: ReturnType<typeof setTimeout> | null = null
  private flushing: Promise<void> | null = null
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  private attempt = 0
  private lastKick: { [field: string]: unknown } | undefined
  private connectedWaiters: { resolve: () => void; reject: (error: Error) => void }[] = []
  private userClosing: CloseReason | null = null
  private hasPosition = false // a seq to resume from: logged in once, or one was stored
  private lastLogin: LoginReply | null = null

  constructor(options: HubbubClientOptions) {
    const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WebSocketClass === undefined) {
      throw new TypeError('HubbubClient: no global WebSocket here; pass one as the WebSocket option (in Node.js 20, the ws package)')
    }
    this.WebSocketClass = WebSocketClass
    this.urls = typeof options.url === 'string' ? [options.url] : [...options.url]
    if (this.urls.length === 0) throw new TypeError('HubbubClient: url names no server (an empty list)')
    this.deviceID = options.deviceID
    this.options = {
      userID: options.userID,
      platform: options.platform,
      token: options.token,
      seqStore: options.seqStore ?? memorySeqStore(),
      autoReconnect: options.autoReconnect ?? true,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      maxFrameBytes: options.maxFrameBytes ?? 64 * 1024,
      ackDelayMs: options.ackDelayMs ?? 200,
      ackBatch: options.ackBatch ?? 64,
    }
    this.names = { deviceName: options.deviceName, userName: options.userName }
  }

  /** The reply of the latest login, or null before the first. */
  get login(): LoginReply | null {
    return this.lastLogin
  }

  /** The server URL of the current (or next) connection. */
  get url(): string {
    return this.urls[this.urlIndex]!
  }

  /** This device's loginID on the current (or latest) connection. */
  get loginID(): string | null {
    return this.lastLogin?.loginID ?? null
  }

  /** 'idle' before connect(), then 'connecting', 'connected', 'reconnecting', and 'closed' for good. */
  get connectionState(): State {
    return this.state
  }

  /** The newest durable seq whose event the application has processed. */
  get processedSeq(): number {
    return this.watermark.seq
  }

  // ---- connecting -------------------------------------------------------------------

  /**
   * Open the connection and log in; resolves with the login reply.
   *
   * Resumes from the SeqStore's seq when it has one. Rejects with HubbubError
   * when the login is refused (2002 token, 2004 policy, ...), ClosedError when
   * the connection fails, RequestTimeoutError after `requestTimeoutMs`. A
   * failed first connect is not retried.
   */
  async connect(): Promise<LoginReply> {
    if (this.state !== 'idle') throw new Error(`connect(): the client is ${this.state}`)
    this.state = 'connecting'
    try {
      return await this.openAndLogin()
    } catch (err) {
      this.finish()
      throw err
    }
  }

  private async openAndLogin(): Promise<LoginReply> {
    if (!this.seqLoaded) {
      const stored = await this.options.seqStore.load()
      this.seqLoaded = true
      if (stored !== null) {
        this.hasPosition = true
        this.watermark.reset(stored)
        this.receivedSeq = stored
        this.savedSeq = stored
        this.ackedSeq = stored
      }
    }
    const token = await this.options.token()
    this.throwIfClosed()
    const ws = await this.open()
    if (this.state === 'closed') {
      // close() came while the socket opened: it is not this client's any more
      ws.onmessage = ws.onclose = null
      ws.close(NORMAL_CLOSE)
      this.throwIfClosed()
    }
    const resumeFrom = this.hasPosition ? this.watermark.seq : undefined
    const frame = await this.send(ws, 'login', {
      userID: this.options.userID,
      token,
      platform: this.options.platform,
      deviceID: this.deviceID,
      deviceName: this.names.deviceName,
      userName: this.names.userName,
      resumeFrom,
    }, this.options.requestTimeoutMs)
    const login = frame as unknown as LoginReply
    if (this.deviceID === undefined) {
      // keep the deviceID the server made: a reconnect is the same installation
      this.deviceID = login.devices.find((d) => d.loginID === login.loginID)?.deviceID
    }
    const resumed = resumeFrom !== undefined
    if (!resumed || login.resumeGap) {
      // Live events from here on; with a gap the application reloads with the query ops.
      this.watermark.reset(login.seq)
      this.receivedSeq = Math.max(this.receivedSeq, login.seq)
      this.ackedSeq = Math.max(this.ackedSeq, login.seq) // the server has nothing to hear about
      this.scheduleFlush(true)
    }
    this.hasPosition = true
    this.lastLogin = login
    this.state = 'connected'
    this.attempt = 0
    for (const waiter of this.connectedWaiters.splice(0)) waiter.resolve()
    this.deliver({ kind: 'client', name: 'connected', payload: { login, resumed } })
    return login
  }

  private throwIfClosed(): void {
    if (this.state === 'closed') throw new ClosedError('the client was closed while connecting', NORMAL_CLOSE)
  }

  private open(): Promise<WebSocketLike> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike
      try {
        ws = new this.WebSocketClass(withAccountHint(this.url, this.options.userID))
      } catch (err) {
        reject(new ClosedError(`cannot open ${this.url}: ${(err as Error).message}`))
        return
      }
      ws.binaryType = 'arraybuffer'
      this.ws = ws
      this.lastKick = undefined
      const timer = setTimeout(() => {
        ws.onopen = ws.onclose = null // onerror stays: the ws package throws an error event nobody listens to
        ws.close()
        if (this.ws === ws) this.ws = null
        reject(new ClosedError(`${this.url}: not open within ${this.options.requestTimeoutMs} ms`))
      }, this.options.requestTimeoutMs)
      ws.onerror = () => {} // the close event that follows carries what is known
      ws.onopen = () => {
        clearTimeout(timer)
        ws.onmessage = (event) => this.onMessage(ws, event.data)
        ws.onclose = (event) => this.onClose(ws, event.code, event.reason)
        resolve(ws)
      }
      ws.onclose = (event) => {
        clearTimeout(timer)
        if (this.ws === ws) this.ws = null
        reject(new ClosedError(`${this.url}: the connection closed before it opened (${event.code})`, event.code))
      }
    })
  }

  // ---- requests -----------------------------------------------------------------------

  /**
   * Send a request and resolve with its reply (`{re, ok: true, ...result}`).
   *
   * Rejects with HubbubError when the server answers `ok: false` (or the frame
   * is over `maxFrameBytes`: 1004, nothing sent), RequestTimeoutError after
   * `timeoutMs`, ClosedError when the connection closes first. While the
   * client reconnects, the request waits for the new login within its timeout.
   */
  request<Op extends RequestOp>(op: Op, ...args: RequestArgs<Op>): Promise<ReplyOf<Op>>
  request<Op extends string>(op: Op extends RequestOp ? never : Op, fields?: { [field: string]: unknown }, options?: RequestOptions): Promise<ReplyFrame>
  async request(op: string, fields: object = {}, options: RequestOptions = {}): Promise<unknown> {
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs
    const deadline = Date.now() + timeoutMs
    if (this.state !== 'connected') await this.waitConnected(op, timeoutMs)
    const ws = this.ws
    if (ws === null) throw new ClosedError(`${op}: not connected`)
    return this.send(ws, op, fields as Frame, Math.max(0, deadline - Date.now()), timeoutMs)
  }

  private waitConnected(op: string, timeoutMs: number): Promise<void> {
    if (this.state === 'idle' || this.state === 'closed') {
      return Promise.reject(new ClosedError(`${op}: the client is ${this.state === 'idle' ? 'not connected yet' : 'closed'}`))
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectedWaiters = this.connectedWaiters.filter((w) => w !== waiter)
        reject(new RequestTimeoutError(op, timeoutMs))
      }, timeoutMs)
      const waiter = {
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (error: Error) => {
          clearTimeout(timer)
          reject(error)
        },
      }
      this.connectedWaiters.push(waiter)
    })
  }

  private send(ws: WebSocketLike, op: string, fields: Frame, timeoutMs: number, reportedTimeoutMs = timeoutMs): Promise<Frame> {
    const id = this.nextID++
    const data = encodeFrame({ ...fields, op, id })
    if (data.byteLength > this.options.maxFrameBytes) {
      return Promise.reject(new HubbubError(1004, `${op}: a frame of ${data.byteLength} bytes is over the ${this.options.maxFrameBytes}-byte limit; not sent`, op))
    }
    if (ws.readyState !== WS_OPEN || ws !== this.ws) {
      return Promise.reject(new ClosedError(`${op}: the connection is closed`))
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new RequestTimeoutError(op, reportedTimeoutMs))
      }, timeoutMs)
      this.pending.set(id, { op, resolve, reject, timer })
      ws.send(data)
    })
  }

  // ---- incoming frames ----------------------------------------------------------------

  private onMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.ws) return
    let frame: Frame
    try {
      if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) {
        throw new ProtocolError('the server sent a text frame; the protocol has binary frames only')
      }
      frame = decodeFrame(data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    } catch (err) {
      this.report(err as Error)
      return
    }
    if ('re' in frame) {
      this.onReply(frame)
      return
    }
    const name = frame['ev']
    if (typeof name !== 'string') {
      this.report(new ProtocolError('a frame from the server is neither a reply nor an event'))
      return
    }
    const seq = frame['seq']
    if (typeof seq === 'number') {
      if (seq <= this.receivedSeq) return // already had it (a resume overlapping what was queued)
      this.receivedSeq = seq
    }
    if (name === 'connectionStateChanged' && frame['state'] === 0) {
      this.lastKick = (frame['extendedData'] as { [field: string]: unknown } | undefined) ?? {}
    } else if (name === 'tokenWillExpire') {
      void this.renewToken(ws, frame['second'])
    }
    this.deliver({ kind: 'event', frame, name })
  }

  private onReply(frame: Frame): void {
    const id = frame['re']
    const pending = typeof id === 'number' ? this.pending.get(id) : undefined
    if (pending === undefined) {
      if (frame['ok'] === false) {
        // An answer to no request of ours: the server could not read a frame we sent.
        const error = frame['error'] as { code?: number; message?: string } | undefined
        this.report(new HubbubError(error?.code ?? -1, error?.message ?? 'error without a request', ''))
      }
      return // a reply after its request timed out
    }
    this.pending.delete(id as number)
    clearTimeout(pending.timer)
    if (frame['ok'] === true) {
      pending.resolve(frame)
    } else {
      const error = (frame['error'] ?? {}) as { code?: number; message?: string }
      pending.reject(new HubbubError(error.code ?? -1, error.message ?? '', pending.op))
    }
  }

  private async renewToken(ws: WebSocketLike, second: unknown): Promise<void> {
    try {
      const token = await this.options.token()
      await this.send(ws, 'renewToken', { token }, this.options.requestTimeoutMs)
      this.deliver({ kind: 'client', name: 'tokenRenewed', payload: { second: typeof second === 'number' ? second : 0 } })
    } catch (err) {
      if (!(err instanceof ClosedError)) this.report(err as Error)
    }
  }

  // ---- closing and reconnecting -------------------------------------------------------

  private onClose(ws: WebSocketLike, code: number, message: string): void {
    if (ws !== this.ws) return
    this.ws = null
    this.failPending(new ClosedError(`the connection closed (${code})`, code))
    // Before the login reply, the login in flight fails and connect() or reconnect() decide.
    if (this.state !== 'connected') return
    const meaning = closeMeaning(code)
    let reason = meaning.reason
    if (this.userClosing !== null) reason = this.userClosing
    const willReconnect = this.userClosing === null && this.options.autoReconnect && meaning.resumable && this.hasPosition
    const info: ClosedInfo = { code, reason, message, resumable: meaning.resumable, willReconnect }
    if (this.lastKick !== undefined && (code === 4000 || code === 4001 || code === 4002)) info.extendedData = this.lastKick
    this.deliver({ kind: 'client', name: 'closed', payload: info })
    if (willReconnect) {
      this.state = 'reconnecting'
      this.scheduleReconnect()
    } else {
      this.finish()
    }
  }

  private scheduleReconnect(): void {
    const delayMs = backoffDelayMs(this.attempt, this.options.backoff)
    this.deliver({ kind: 'client', name: 'reconnecting', payload: { attempt: this.attempt, delayMs } })
    this.attempt += 1
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      void this.reconnect()
    }, delayMs)
  }

  private async reconnect(): Promise<void> {
    if (this.state !== 'reconnecting') return
    this.urlIndex = (this.urlIndex + 1) % this.urls.length // with several servers, the next one
    try {
      await this.openAndLogin()
    } catch (err) {
      if (this.state !== 'reconnecting') return // closed meanwhile
      if (err instanceof HubbubError && LOGIN_REFUSED_CODES.has(err.code)) {
        this.ws?.close(NORMAL_CLOSE)
        this.ws = null
        this.deliver({ kind: 'client', name: 'closed', payload: { code: NORMAL_CLOSE, reason: 'loginRefused', message: err.message, resumable: false, willReconnect: false } })
        this.report(err)
        this.finish()
        return
      }
      if (this.ws !== null) {
        this.ws.onclose = this.ws.onmessage = null
        this.ws.close()
        this.ws = null
      }
      this.scheduleReconnect()
    }
  }

  /** Log out (PROTOCOL.md §3): the server replies and closes; resolves once closed. No reconnect follows. */
  async logout(options: RequestOptions = {}): Promise<void> {
    const ws = this.ws
    if (ws === null || this.state !== 'connected') throw new ClosedError('logout: not connected')
    this.userClosing = 'logout'
    const closed = new Promise<void>((resolve) => this.once('closed', () => resolve()))
    try {
      await this.send(ws, 'logout', {}, options.timeoutMs ?? this.options.requestTimeoutMs)
    } catch (err) {
      this.close() // the user asked to leave: leave, and say the server may not know
      throw err
    }
    const timer = setTimeout(() => this.close(), options.timeoutMs ?? this.options.requestTimeoutMs)
    await closed
    clearTimeout(timer)
  }

  /** Close the connection for good: pending requests get ClosedError, iterators end, nothing reconnects. */
  close(): void {
    if (this.state === 'closed') return
    if (this.userClosing === null) this.userClosing = 'closedByClient'
    const ws = this.ws
    if (ws !== null) {
      this.ws = null
      // An open socket's handlers go; a socket still opening keeps open()'s, which reject the connect.
      if (ws.readyState === WS_OPEN) ws.onmessage = ws.onclose = null
      ws.close(NORMAL_CLOSE)
      this.failPending(new ClosedError('the client was closed', NORMAL_CLOSE))
      this.deliver({ kind: 'client', name: 'closed', payload: { code: NORMAL_CLOSE, reason: this.userClosing, message: '', resumable: false, willReconnect: false } })
    }
    this.finish()
  }

  /** Closed for good: stop timers, fail waiters, save the processed seq, end iterators after what is queued. */
  private finish(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = null
    for (const waiter of this.connectedWaiters.splice(0)) waiter.reject(new ClosedError('the client is closed'))
    this.failPending(new ClosedError('the client is closed'))
    this.scheduleFlush(true)
    this.deliver({ kind: 'end' })
  }

  private failPending(error: ClosedError): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer)
      this.pending.delete(id)
      pending.reject(error)
    }
  }

  // ---- handing out events -------------------------------------------------------------

  /** Call `handler` for every event `name` (a server event or one of ClientEvents); returns the unsubscribe function. */
  on<N extends ClientEventName>(name: N, handler: Handler<ClientEvents[N]>): () => void
  on<N extends EventName>(name: N, handler: Handler<EventOf<N>>): () => void
  on(name: string, handler: Handler<WireEvent>): () => void
  on(name: string, handler: AnyHandler): () => void {
    let set = this.handlers.get(name)
    if (set === undefined) {
      set = new Set()
      this.handlers.set(name, set)
    }
    set.add(handler)
    return () => {
      this.handlers.get(name)?.delete(handler)
    }
  }

  /** Like `on`, for the first such event only. */
  once<N extends ClientEventName>(name: N, handler: Handler<ClientEvents[N]>): () => void {
    const off = this.on(name, ((event: ClientEvents[N]) => {
      off()
      return handler(event)
    }) as Handler<ClientEvents[N]>)
    return off
  }

  /**
   * The server's events (all, or only those named `name`) as an async iterator,
   * from now until the client is closed for good. A durable event counts as
   * processed once the loop asks for the next one; `break` stops it.
   */
  events<N extends EventName>(name: N): AsyncIterableIterator<EventOf<N>>
  events(name?: string): AsyncIterableIterator<WireEvent>
  events(name?: string): AsyncIterableIterator<unknown> {
    const stream = new EventStream<unknown>(name ?? null, (s) => this.streams.delete(s))
    if (this.state === 'closed' && this.deliveries.length === 0 && !this.delivering) stream.end()
    else this.streams.add(stream)
    return stream
  }

  private deliver(delivery: Delivery): void {
    this.deliveries.push(delivery)
    if (!this.delivering) void this.drain()
  }

  /** Hand out queued deliveries one at a time, awaiting async handlers, in order. */
  private async drain(): Promise<void> {
    this.delivering = true
    try {
      let delivery: Delivery | undefined
      while ((delivery = this.deliveries.shift()) !== undefined) {
        if (delivery.kind === 'end') {
          for (const stream of this.streams) stream.end()
          this.streams.clear()
          continue
        }
        if (delivery.kind === 'client') {
          await this.callHandlers(delivery.name, delivery.payload)
          continue
        }
        const { frame, name } = delivery
        await this.callHandlers(name, frame)
        const seq = frame['seq']
        const holders = [...this.streams].filter((s) => s.wants(name))
        if (typeof seq === 'number') {
          const { release, moved } = this.watermark.track(seq, holders.length)
          for (const stream of holders) stream.push(frame, () => release() && this.scheduleFlush(false))
          if (moved) this.scheduleFlush(false)
        } else {
          for (const stream of holders) stream.push(frame, null)
        }
      }
    } finally {
      this.delivering = false
    }
  }

  private async callHandlers(name: string, payload: unknown): Promise<void> {
    const set = this.handlers.get(name)
    if (set === undefined) return
    for (const handler of [...set]) {
      try {
        await (handler as Handler<unknown>)(payload)
      } catch (err) {
        if (name === 'error') throw err // an error handler that fails: nobody else to tell
        this.report(err instanceof Error ? err : new Error(String(err)))
      }
    }
  }

  /** Tell the application's 'error' handlers; with none, raise it where the host reports uncaught errors. */
  private report(error: Error): void {
    if ((this.handlers.get('error')?.size ?? 0) > 0) {
      this.deliver({ kind: 'client', name: 'error', payload: error })
    } else {
      queueMicrotask(() => {
        throw error
      })
    }
  }

  // ---- saving and acknowledging the processed seq -----------------------------------

  private scheduleFlush(now: boolean): void {
    const waiting = this.watermark.seq - Math.max(this.savedSeq, 0)
    if (now || waiting >= this.options.ackBatch) {
      if (this.flushTimer !== null) clearTimeout(this.flushTimer)
      this.flushTimer = null
      void this.flush()
    } else if (this.flushTimer === null) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null
        void this.flush()
      }, this.options.ackDelayMs)
    }
  }

  /** Save the watermark, then acknowledge it; one flush at a time, another after if it moved meanwhile. */
  private async flush(): Promise<void> {
    if (this.flushing !== null) {
      await this.flushing
      if (this.flushing !== null) return
    }
    const seq = this.watermark.seq
    if (seq === this.savedSeq && (seq <= this.ackedSeq || this.state !== 'connected')) return
    this.flushing = this.saveAndAck(seq)
    try {
      await this.flushing
    } finally {
      this.flushing = null
    }
    if (this.watermark.seq > seq && this.flushTimer === null) this.scheduleFlush(false)
  }

  private async saveAndAck(seq: number): Promise<void> {
    try {
      if (seq !== this.savedSeq) {
        await this.options.seqStore.save(seq)
        this.savedSeq = seq
      }
      const ws = this.ws
      if (ws !== null && this.state === 'connected' && seq > this.ackedSeq) {
        await this.send(ws, 'ack', { seq }, this.options.requestTimeoutMs)
        this.ackedSeq = Math.max(this.ackedSeq, seq)
      }
    } catch (err) {
      if (!(err instanceof ClosedError)) this.report(err as Error)
    }
  }
}

/** `url` naming the account that logs in through it (`?user=ID`, README "Every core"): only a hint. */
/** `url` naming the account that logs in through it (`?user=ID`, the workers' hint), unless it names one already. */
function withAccountHint(url: string, userID: string): string {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1).split('#')[0]! : ''
  if (new URLSearchParams(query).has('user')) return url
  return `${url}${url.includes('?') ? '&' : '?'}user=${encodeURIComponent(userID)}`
}
