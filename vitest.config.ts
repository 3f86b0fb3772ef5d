import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Examples import the package by its public name; in the repository that name means the sources.
const src = fileURLToPath(new URL('./src/', import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^relance$/, replacement: `${src}index.ts` },
      { find: /^relance\/(.*)$/, replacement: `${src}$1.ts` },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
})
