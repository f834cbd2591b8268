/**
 * The errors a caller of `HubbubClient` can catch.
 *
 *     Error
 *     ├── HubbubError          the server refused a request (the protocol's error code), or the
 *     │                        client refused to send it (1004: over the frame limit)
 *     ├── ClosedError          the connection closed (or was never open) before the answer came
 *     └── RequestTimeoutError  no answer within the request's timeout
 */

/** The server answered a request with `ok: false`; `code` is the protocol's error code (PROTOCOL.md §12). */
export class HubbubError extends Error {
  override readonly name = 'HubbubError'
  readonly code: number
  readonly op: string

  constructor(code: number, message: string, op = '') {
    super(message)
    this.code = code
    this.op = op
  }
}

/** The connection closed, or is closed for good, before the request was answered. */
export class ClosedError extends Error {
  override readonly name = 'ClosedError'
  /** The WebSocket close code, or null when the connection never opened. */
  readonly code: number | null

  constructor(message: string, code: number | null = null) {
    super(message)
    this.code = code
  }
}

/** No reply within the request's timeout; the request may still have been carried out. */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError'
  readonly op: string
  readonly timeoutMs: number

  constructor(op: string, timeoutMs: number) {
    super(`${op}: no reply within ${timeoutMs} ms`)
    this.op = op
    this.timeoutMs = timeoutMs
  }
}

/** The server sent something the client cannot use (not CBOR, not a map, a text frame). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError'
}
