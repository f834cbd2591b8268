/**
 * The client's view of the wire types generated from docs/wire.schema.json
 * (wire.gen.ts): what `request(op, fields)` takes and what it resolves with,
 * what `on(name)` hands out.
 */

import type { EventTypes, ReplyTypes, RequestTypes } from './wire.gen.js'

export type * from './wire.gen.js'

/** An op the schema knows. */
export type RequestOp = keyof RequestTypes & string

/** A request's fields as the caller writes them: the envelope (`op`, `id`) is the client's. */
export type RequestFields<Op extends RequestOp> = Omit<RequestTypes[Op], 'op' | 'id'>

/** Every reply's envelope (PROTOCOL.md §1). */
export interface ReplyEnvelope {
  re: number
  ok: true
}

/** A reply the schema does not describe field by field. */
export type ReplyFrame = ReplyEnvelope & { [field: string]: unknown }

/** What `request(op)` resolves with. */
export type ReplyOf<Op extends string> = Op extends keyof ReplyTypes ? ReplyTypes[Op] & ReplyEnvelope : ReplyFrame

/** Any event frame (PROTOCOL.md §1): durable ones carry `seq`. */
export interface WireEvent {
  ev: string
  seq?: number
  [field: string]: unknown
}

/** An event the schema names. */
export type EventName = keyof EventTypes & string

/** What `on(name)` hands out. */
export type EventOf<N extends string> = N extends EventName ? EventTypes[N] & WireEvent : WireEvent

/** The platforms of PROTOCOL.md §3. */
export type Platform = RequestTypes['login'] extends { platform: infer P } ? P : string
