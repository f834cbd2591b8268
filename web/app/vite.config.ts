// The app is served by `hubbub serve` at /app/ (gateway/webapp.py): relative asset paths.
import { defineConfig } from 'vite'

export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
})
