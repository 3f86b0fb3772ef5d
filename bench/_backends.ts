/**
 * Stores for the storage benchmark, each with a bulk loader that writes "stored carts" straight
 * through the backend's own client (profile + cart + job, half finished, half pending far in the
 * future: never due during the bench). Adding a backend is one more entry in `BACKENDS`.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { memoryStore } from '../src/stores/memory.js'
import { Redis } from 'ioredis'
import { postgresStore } from '../src/stores/postgres.js'
import { redisStore } from '../src/stores/redis.js'
import { sqliteStore } from '../src/stores/sqlite.js'
import type { Store } from '../src/stores/types.js'

export const POSTGRES_URL = process.env.RELANCE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export interface BenchBackend {
  name: string
  /** Spec for `test/workers/worker.ts` (separate processes), or null when the store cannot be shared. */
  spec: string | null
  store: Store
  /** Writes `count` stored, not-due carts with ids from `from`, through the raw client. */
  bulk(from: number, count: number): Promise<void>
  cleanup(): Promise<void>
}

/**
 * Every bench names what it creates after its process id (SQLite folders, PostgreSQL schemas,
 * Redis key prefixes) and removes it when done. A bench that was interrupted cannot: the next one
 * removes what dead processes left (a process that is still running may be another bench).
 */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
const leftBehind = (name: string, pattern: RegExp) => {
  const pid = pattern.exec(name)?.[1]
  return pid !== undefined && Number(pid) !== process.pid && !alive(Number(pid))
}
const swept = new Set<string>()
const sweepOnce = async (kind: string, sweep: () => Promise<number>) => {
  if (swept.has(kind)) return
  swept.add(kind)
  const removed = await sweep()
  if (removed > 0) console.error(`(removed ${removed} ${kind} left by interrupted benches)`)
}

const FAR = new Date('2026-09-01T00:00:00Z').getTime()
const T = new Date('2026-06-01T00:00:00Z').getTime()
const ITEMS = JSON.stringify([{ sku: 'CAP', name: 'Casquette', quantity: 1, unitAmount: 1990 }])

async function memory(): Promise<BenchBackend> {
  const store = memoryStore()
  return {
    name: 'memory',
    spec: null,
    store,
    async bulk(from, count) {
      const at = new Date(T)
      for (let i = from; i < from + count; i++) {
        await store.saveProfile({
          id: `bulk-p-${i}`, customerId: null, email: `bulk-${i}@example.com`, firstName: null, locale: null, timeZone: null,
          marketing: { state: 'granted', at, source: 'bulk' }, hasPurchased: false, lastOrderAt: null, createdAt: at, updatedAt: at,
        })
        await store.saveCart({ id: `bulk-c-${i}`, profileId: `bulk-p-${i}`, deviceId: null, items: JSON.parse(ITEMS), currency: 'EUR', status: 'open', activityAt: at, createdAt: at, updatedAt: at })
        await store.schedule({ cartId: `bulk-c-${i}`, profileId: `bulk-p-${i}`, dueAt: new Date(FAR + i) })
        if (i % 2 === 0) await store.cancel(`bulk-c-${i}`, 'completed')
      }
    },
    cleanup: () => store.close(),
  }
}

async function sqlite(): Promise<BenchBackend> {
  await sweepOnce('SQLite folders', async () => {
    const stale = readdirSync(tmpdir()).filter((name) => leftBehind(name, /^relance-bench-(\d+)-/))
    for (const name of stale) rmSync(join(tmpdir(), name), { recursive: true, force: true })
    return stale.length
  })
  const dir = mkdtempSync(join(tmpdir(), `relance-bench-${process.pid}-`))
  const filename = join(dir, 'relance.db')
  const store = sqliteStore({ filename })
  await store.init()
  return {
    name: 'sqlite',
    spec: `sqlite:${filename}`,
    store,
    async bulk(from, count) {
      const db = new Database(filename)
      db.pragma('busy_timeout = 10000')
      const params = { from, to: from + count - 1, t: T, far: FAR, items: ITEMS }
      const series = `WITH RECURSIVE n(i) AS (SELECT @from UNION ALL SELECT i + 1 FROM n WHERE i < @to)`
      db.exec('BEGIN IMMEDIATE')
      db.prepare(`${series} INSERT INTO relance_profiles (id, customer_id, email, first_name, locale, time_zone, marketing_state,
        marketing_at, marketing_source, has_purchased, last_order_at, created_at, updated_at)
        SELECT 'bulk-p-' || i, NULL, 'bulk-' || i || '@example.com', NULL, NULL, NULL, 'granted', @t, 'bulk', 0, NULL, @t, @t FROM n`).run(params)
      db.prepare(`${series} INSERT INTO relance_carts (id, profile_id, device_id, items, currency, status, activity_at, created_at, updated_at)
        SELECT 'bulk-c-' || i, 'bulk-p-' || i, NULL, @items, 'EUR', 'open', @t, @t, @t FROM n`).run(params)
      db.prepare(`${series} INSERT INTO relance_jobs (cart_id, profile_id, state, due_at, owner, lease_until, attempts, rev, note)
        SELECT 'bulk-c-' || i, 'bulk-p-' || i, CASE WHEN i % 2 = 0 THEN 'done' ELSE 'pending' END, @far + i, NULL, NULL, 0, 1, NULL FROM n`).run(params)
      db.exec('COMMIT')
      db.exec('ANALYZE')
      db.close()
    },
    async cleanup() {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

async function postgres(): Promise<BenchBackend> {
  const schema = `relance_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  const store = postgresStore({ connectionString: POSTGRES_URL, schema })
  await store.init()
  const raw = new pg.Client({ connectionString: POSTGRES_URL })
  await raw.connect()
  await sweepOnce('PostgreSQL schemas', async () => {
    const { rows } = await raw.query<{ name: string }>(`SELECT nspname AS name FROM pg_namespace WHERE nspname LIKE 'relance\\_bench\\_%'`)
    const stale = rows.map((r) => r.name).filter((name) => leftBehind(name, /^relance_bench_(\d+)_/))
    for (const name of stale) await raw.query(`DROP SCHEMA "${name}" CASCADE`)
    return stale.length
  })
  return {
    name: 'postgres',
    spec: `postgres:${POSTGRES_URL}#${schema}`,
    store,
    async bulk(from, count) {
      const s = `"${schema}"`
      const series = `generate_series($1::int, $2::int) AS i`
      const range = [from, from + count - 1]
      const t = new Date(T)
      await raw.query(`INSERT INTO ${s}.relance_profiles (id, customer_id, email, first_name, locale, time_zone, marketing_state,
        marketing_at, marketing_source, has_purchased, last_order_at, created_at, updated_at)
        SELECT 'bulk-p-' || i, NULL, 'bulk-' || i || '@example.com', NULL, NULL, NULL, 'granted', $3, 'bulk', false, NULL, $3, $3
        FROM ${series}`, [...range, t])
      await raw.query(`INSERT INTO ${s}.relance_carts (id, profile_id, device_id, items, currency, status, activity_at, created_at, updated_at)
        SELECT 'bulk-c-' || i, 'bulk-p-' || i, NULL, $4::jsonb, 'EUR', 'open', $3, $3, $3 FROM ${series}`, [...range, t, ITEMS])
      await raw.query(`INSERT INTO ${s}.relance_jobs (cart_id, profile_id, state, due_at, owner, lease_until, attempts, rev, note)
        SELECT 'bulk-c-' || i, 'bulk-p-' || i, CASE WHEN i % 2 = 0 THEN 'done' ELSE 'pending' END,
          $3::timestamptz + i * interval '1 millisecond', NULL, NULL, 0, 1, NULL FROM ${series}`, [...range, new Date(FAR)])
      await raw.query(`VACUUM ANALYZE ${s}.relance_profiles, ${s}.relance_carts, ${s}.relance_jobs`)
      // Flush what the load dirtied now, not in the background during the measured ticks.
      await raw.query('CHECKPOINT')
    },
    async cleanup() {
      await store.close()
      await raw.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await raw.end()
    },
  }
}

/**
 * Benchmarks keep their Redis keys in a database of their own (15): the bulk loads write millions
 * of keys, and the tests, in database 0, scan the whole keyspace to prove an erasure.
 */
const REDIS_URL = process.env.RELANCE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/15'

async function redis(): Promise<BenchBackend> {
  const prefix = `relance-bench-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const store = redisStore({ url: REDIS_URL, prefix })
  await store.init()
  const raw = new Redis(REDIS_URL)
  await sweepOnce('Redis keys', async () => {
    let removed = 0
    let cursor = '0'
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', 'relance-bench-*', 'COUNT', 5000)
      cursor = next
      const stale = keys.filter((key) => leftBehind(key, /^relance-bench-(\d+)-/))
      if (stale.length > 0) removed += await raw.unlink(...stale)
    } while (cursor !== '0')
    return removed
  })
  return {
    name: 'redis',
    spec: `redis:${REDIS_URL}#${prefix}`,
    store,
    async bulk(from, count) {
      // The same keys the store writes (see src/stores/redis-scripts.ts), pipelined.
      const p = prefix
      for (let start = from; start < from + count; start += 5000) {
        const pipeline = raw.pipeline()
        for (let i = start; i < Math.min(from + count, start + 5000); i++) {
          const profile = { id: `bulk-p-${i}`, customerId: null, email: `bulk-${i}@example.com`, firstName: null, locale: null, timeZone: null,
            marketing: { state: 'granted', at: T, source: 'bulk' }, hasPurchased: false, lastOrderAt: null, createdAt: T, updatedAt: T }
          pipeline.set(`${p}:p:bulk-p-${i}`, JSON.stringify(profile)).set(`${p}:pe:bulk-${i}@example.com`, `bulk-p-${i}`)
          pipeline.set(`${p}:c:bulk-c-${i}`, JSON.stringify({ id: `bulk-c-${i}`, profileId: `bulk-p-${i}`, deviceId: null, items: JSON.parse(ITEMS), currency: 'EUR', status: 'open', activityAt: T, createdAt: T, updatedAt: T }))
          pipeline.sadd(`${p}:pcart:bulk-p-${i}`, `bulk-c-${i}`).zadd(`${p}:cact`, T, `bulk-c-${i}`)
          const pending = i % 2 !== 0
          pipeline.set(`${p}:j:bulk-c-${i}`, JSON.stringify({ cartId: `bulk-c-${i}`, profileId: `bulk-p-${i}`, state: pending ? 'pending' : 'done', dueAt: FAR + i, owner: null, leaseUntil: null, attempts: 0, rev: 1, note: null }))
          if (pending) pipeline.zadd(`${p}:due`, FAR + i, `bulk-c-${i}`)
        }
        await pipeline.exec()
      }
    },
    async cleanup() {
      await store.close()
      let cursor = '0'
      do {
        const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000)
        cursor = next
        if (keys.length > 0) await raw.del(...keys)
      } while (cursor !== '0')
      await raw.quit()
    },
  }
}

export const BACKENDS: Record<string, () => Promise<BenchBackend>> = {
  memory,
  sqlite,
  postgres,
  redis,
}
