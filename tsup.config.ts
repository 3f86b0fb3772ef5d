import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    nodemailer: 'src/nodemailer.ts',
    sqlite: 'src/sqlite.ts',
    postgres: 'src/postgres.ts',
    redis: 'src/redis.ts',
    cli: 'src/cli.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  // Driver libraries stay outside the bundle: they are optional peer dependencies that only the
  // adapter entry points import.
  external: ['better-sqlite3', 'pg', 'ioredis', 'nodemailer'],
  // `relance` on the command line runs dist/cli.js directly.
  onSuccess: 'node -e "const f=\'dist/cli.js\',fs=require(\'fs\');const s=fs.readFileSync(f,\'utf8\');if(!s.startsWith(\'#!\'))fs.writeFileSync(f,\'#!/usr/bin/env node\\n\'+s);fs.chmodSync(f,0o755)"',
})
