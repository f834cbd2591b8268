// The library bundles for a browser page: no Node.js module in it, and a size worth shipping.

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { test } from 'node:test'
import { gzipSync } from 'node:zlib'

import { build } from 'esbuild'

import { REPO_ROOT } from './support.js'

test('dist/index.js bundles for browsers with cborg, without Node.js modules', { timeout: 60_000 }, async () => {
  const result = await build({
    entryPoints: [join(REPO_ROOT, 'web', 'client', 'dist', 'index.js')],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  })
  assert.deepEqual(result.errors, [])
  const code = result.outputFiles[0]!.text
  assert.doesNotMatch(code, /\brequire\(|["']node:|["'](ws|fs|net|crypto)["']/)
  assert.match(code, /HubbubClient/, 'the client class is in the bundle')
  const gzipBytes = gzipSync(code).byteLength
  assert.ok(gzipBytes < 32 * 1024, `${gzipBytes} bytes gzip`)
})
