/**
 * CBOR frames in and out (PROTOCOL.md §1): one map per binary frame.
 *
 * Outbound, `undefined` properties are left out (the server would see CBOR's
 * `undefined`, which is not a value it accepts). Inbound, the decoder is strict:
 * no indefinite lengths, no duplicate keys, no tags, no `undefined`.
 */

import { decode, encode } from 'cborg'

import { ProtocolError } from './errors.js'

/** A decoded frame from the server: a reply (`re`) or an event (`ev`). */
export type Frame = { [key: string]: unknown }

const ENCODE_OPTIONS = { ignoreUndefinedProperties: true } as const
const DECODE_OPTIONS = {
  allowIndefinite: false,
  allowUndefined: false,
  rejectDuplicateMapKeys: true,
  strict: true,
  tags: [],
} as const

/** Encode one outbound map. */
export function encodeFrame(frame: Frame): Uint8Array {
  return encode(frame, ENCODE_OPTIONS)
}

/** Decode one inbound binary frame; raises ProtocolError unless it is exactly one CBOR map with text keys. */
export function decodeFrame(data: Uint8Array): Frame {
  let value: unknown
  try {
    value = decode(data, DECODE_OPTIONS)
  } catch (err) {
    throw new ProtocolError(`undecodable frame from the server: ${(err as Error).message}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new ProtocolError('a frame from the server is not a CBOR map')
  }
  return value as Frame
}
