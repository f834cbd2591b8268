/** What a WebSocket close code means for the device (PROTOCOL.md §12), and whether it may resume. */

/** Why a connection closed, as the application sees it. */
export type CloseReason =
  | 'logout' // 1000 after this client's logout
  | 'closedByClient' // this client's close()
  | 'kicked' // 4000: another login (policy, same device, own kickDevice)
  | 'forcedOffline' // 4001: the admin API
  | 'tokenExpired' // 4002
  | 'loginTimeout' // 4003
  | 'shutdown' // 4004: the server is stopping; come back with resumeFrom
  | 'frameTooLarge' // 1009
  | 'slowConsumer' // 1013: the device fell behind; resume
  | 'noPong' // 1011: the server's keepalive found no answer
  | 'lost' // dropped without a close frame (1006), going away (1001), restarting (1012)
  | 'loginRefused' // a reconnect's login was refused (token, policy): no more attempts
  | 'closedByServer' // any other code

interface Meaning {
  reason: CloseReason
  resumable: boolean
}

// Codes after which the server expects the device back with resumeFrom;
// 4000, 4001 and 4002 never resume on their own (the user decides).
const MEANINGS: ReadonlyMap<number, Meaning> = new Map([
  [4000, { reason: 'kicked', resumable: false }],
  [4001, { reason: 'forcedOffline', resumable: false }],
  [4002, { reason: 'tokenExpired', resumable: false }],
  [4003, { reason: 'loginTimeout', resumable: false }],
  [4004, { reason: 'shutdown', resumable: true }],
  [1009, { reason: 'frameTooLarge', resumable: false }],
  [1013, { reason: 'slowConsumer', resumable: true }],
  [1011, { reason: 'noPong', resumable: true }],
  [1001, { reason: 'lost', resumable: true }],
  [1005, { reason: 'lost', resumable: true }],
  [1006, { reason: 'lost', resumable: true }],
  [1012, { reason: 'lost', resumable: true }],
])

/** The meaning of a close code the client did not ask for. */
export function closeMeaning(code: number): Meaning {
  return MEANINGS.get(code) ?? { reason: 'closedByServer', resumable: false }
}
