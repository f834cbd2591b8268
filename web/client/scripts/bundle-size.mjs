// The library's size as a page would ship it: dist/index.js bundled with its dependencies
// (cborg), minified by esbuild, then gzipped. Prints one JSON line. Build first.

import { gzipSync } from 'node:zlib'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { build } from 'esbuild'

const entry = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/index.js')
const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', platform: 'browser', write: false })
const code = result.outputFiles[0].contents
console.log(JSON.stringify({ minifiedBytes: code.byteLength, gzipBytes: gzipSync(code, { level: 9 }).byteLength }))
