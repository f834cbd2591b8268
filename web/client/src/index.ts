/** @hubbub/client: hubbub's JavaScript client (browsers and Node.js 20). */

export { HubbubClient } from './client.js'
export type { ClientEvents, ClosedInfo, DeviceInfo, HubbubClientOptions, LoginReply, RequestOptions, WebSocketConstructor, WebSocketLike } from './client.js'
export { ClosedError, HubbubError, ProtocolError, RequestTimeoutError } from './errors.js'
export { localStorageSeqStore, memorySeqStore } from './seqStore.js'
export type { KeyValueStorage, SeqStore } from './seqStore.js'
export { DEFAULT_BACKOFF, backoffDelayMs } from './backoff.js'
export type { BackoffOptions } from './backoff.js'
export type { CloseReason } from './closeReasons.js'
export { EVENT_NAMES, REQUEST_OPS } from './wire.gen.js'
export type * from './wire.js'
