// Generate src/wire.gen.ts from the wire's JSON Schema (docs/wire.schema.json, made by
// scripts/gen_wire_schema.py from the server's schema code), with json-schema-to-typescript.
//
//     node scripts/gen-wire-types.mjs [--schema PATH] [--out PATH] [--check]
//
// Besides one interface per schema definition it writes the maps the client is typed by:
// RequestTypes (op -> request), ReplyTypes (op -> reply, where the schema names one) and
// EventTypes (event name -> event), from the schema's `x-ops` and `x-events`.
// --check compares with the file instead of writing it (exit 1 when they differ).

import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { compile } from 'json-schema-to-typescript'

const here = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({
  options: {
    schema: { type: 'string', default: resolve(here, '../../../docs/wire.schema.json') },
    out: { type: 'string', default: resolve(here, '../src/wire.gen.ts') },
    check: { type: 'boolean', default: false },
  },
})

/** `#/$defs/Name` -> `Name`. */
function refName(ref, where) {
  const match = typeof ref === 'string' ? /^#\/\$defs\/(.+)$/.exec(ref) : null
  if (match === null) throw new Error(`${values.schema}: ${where}: expected a "#/$defs/..." reference, got ${JSON.stringify(ref)}`)
  return match[1]
}

/** An x-ops / x-events entry: a reference, or an object of references by role. */
function refOf(entry, role, where) {
  if (typeof entry === 'string') return role === 'request' || role === 'event' ? refName(entry, where) : null
  if (entry !== null && typeof entry === 'object' && typeof entry[role] === 'string') return refName(entry[role], `${where}.${role}`)
  if (entry !== null && typeof entry === 'object' && entry[role] !== null && typeof entry[role] === 'object' && entry[role].$ref) {
    return refName(entry[role].$ref, `${where}.${role}`)
  }
  return null
}

/** The TypeScript identifier json-schema-to-typescript gives a definition. */
function typeName(defs, name) {
  const title = defs[name]?.title ?? name
  return title.replace(/(^\w|[^\w]+\w)/g, (m) => m.replace(/[^\w]/g, '').toUpperCase()).replace(/[^\w]/g, '')
}

/**
 * The schema as json-schema-to-typescript should read it: a base64 string is a CBOR byte
 * string (a Uint8Array here), and a reference with a sibling `default` is the referenced
 * type (left as it is, the tool would copy the type under a new name).
 */
function forTypeScript(node) {
  if (Array.isArray(node)) return node.map(forTypeScript)
  if (node === null || typeof node !== 'object') return node
  if (typeof node.$ref === 'string') return { $ref: node.$ref }
  if (node.type === 'string' && node.contentEncoding === 'base64') {
    const { type, contentEncoding, ...rest } = node
    return { ...rest, tsType: 'Uint8Array' }
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, forTypeScript(value)]))
}

function mapInterface(title, doc, entries) {
  const lines = entries.map(([key, type]) => `  ${JSON.stringify(key)}: ${type}`)
  return `/** ${doc} */\nexport interface ${title} {\n${lines.join('\n')}\n}\n`
}

async function main() {
  let schema
  try {
    schema = JSON.parse(readFileSync(values.schema, 'utf8'))
  } catch (err) {
    console.error(`gen-wire-types: cannot read the wire schema ${values.schema}: ${err.message}`)
    process.exit(2)
  }
  const defs = schema.$defs ?? {}
  const ops = schema['x-ops'] ?? {}
  const events = schema['x-events'] ?? {}
  for (const [key, table] of [['x-ops', ops], ['x-events', events]]) {
    if (typeof table !== 'object' || Array.isArray(table)) throw new Error(`${values.schema}: ${key} is not an object`)
  }
  const missing = (name, where) => {
    if (!(name in defs)) throw new Error(`${values.schema}: ${where} names ${name}, which $defs lacks`)
    return typeName(defs, name)
  }
  const requests = Object.keys(ops).sort().map((op) => [op, missing(refOf(ops[op], 'request', `x-ops.${op}`), `x-ops.${op}`)])
  const replies = Object.keys(ops).sort().flatMap((op) => {
    const name = refOf(ops[op], 'reply', `x-ops.${op}`)
    return name === null ? [] : [[op, missing(name, `x-ops.${op}.reply`)]]
  })
  const eventTypes = Object.keys(events).sort().map((ev) => [ev, missing(refOf(events[ev], 'event', `x-events.${ev}`), `x-events.${ev}`)])

  // Every definition becomes an interface; the document itself is only their container.
  const container = { title: 'WireSchemaDefinitions', type: 'object', additionalProperties: false, properties: {}, $defs: forTypeScript(defs) }
  const body = await compile(container, 'WireSchemaDefinitions', {
    bannerComment: '',
    unreachableDefinitions: true,
    additionalProperties: false,
    strictIndexSignatures: true,
    format: true,
    declareExternallyReferenced: true,
    maxItems: -1, // string[] rather than tuples for bounded lists
    $refOptions: {},
  })
  const out = [
    '// Generated by scripts/gen-wire-types.mjs from docs/wire.schema.json: do not edit.',
    '// `npm run gen` in web/client regenerates it (the build does).',
    '/* eslint-disable */',
    '',
    body.trimEnd(),
    '',
    mapInterface('RequestTypes', 'Every request the server knows, by op.', requests),
    mapInterface('ReplyTypes', 'The replies the schema describes, by op.', replies),
    mapInterface('EventTypes', 'The events the schema describes, by name.', eventTypes),
    `export const REQUEST_OPS = ${JSON.stringify(requests.map(([op]) => op))} as const\n`,
    `export const EVENT_NAMES = ${JSON.stringify(eventTypes.map(([ev]) => ev))} as const\n`,
  ].join('\n')
  if (values.check) {
    let current = ''
    try {
      current = readFileSync(values.out, 'utf8')
    } catch {
      // absent: differs
    }
    if (current !== out) {
      console.error(`gen-wire-types: ${values.out} does not match ${values.schema}; run \`npm run gen\` in web/client`)
      process.exit(1)
    }
    return
  }
  writeFileSync(values.out, out)
}

await main()
