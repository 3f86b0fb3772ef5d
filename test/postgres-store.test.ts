import { createServer, type Server } from 'node:net'
import pg from 'pg'
import { postgresStore, POSTGRES_MIGRATIONS } from 'relance/postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRelanceError } from '../src/errors.js'
import { POSTGRES_URL, testSchema } from './conformance/postgres-inspector.js'
import { profileRecord } from './conformance/suite.js'
import { requireServices } from './helpers/services.js'

describe('postgresStore', () => {
  const admin = new pg.Client({ connectionString: POSTGRES_URL })
  const schemas: string[] = []
  const fresh = () => {
    const schema = testSchema()
    schemas.push(schema)
    return schema
  }
  beforeAll(async () => {
    await requireServices('postgres')
    await admin.connect()
  })
  afterAll(async () => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await admin.end()
  })

  it('refuses bad options with INVALID_CONFIG naming the option', () => {
    const cases: [unknown, string][] = [
      [undefined, 'postgresStore'], [{}, 'postgresStore'], [{ connectionString: '' }, 'connectionString'],
      [{ connectionString: POSTGRES_URL, schema: 'bad-name; drop' }, 'schema'],
      [{ connectionString: POSTGRES_URL, connectionTimeoutMillis: 0 }, 'connectionTimeoutMillis'],
      [{ connectionString: POSTGRES_URL, pool: {} }, 'postgresStore'],
    ]
    for (const [bad, field] of cases) {
      let error: unknown
      try {
        postgresStore(bad as never)
      } catch (e) {
        error = e
      }
      expect(isRelanceError(error, 'INVALID_CONFIG'), JSON.stringify(bad)).toBe(true)
      expect((error as { field?: string }).field).toBe(field)
    }
  })

  it('four processes starting at once migrate the schema once (advisory lock)', async () => {
    const schema = fresh()
    const stores = Array.from({ length: 4 }, () => postgresStore({ connectionString: POSTGRES_URL, schema }))
    await Promise.all(stores.map((s) => s.init()))
    const { rows } = await admin.query(`SELECT version FROM "${schema}".relance_migrations ORDER BY version`)
    expect(rows).toEqual(POSTGRES_MIGRATIONS.map((m) => ({ version: m.version })))
    // And init again later is a no-op.
    await stores[0]!.init()
    await Promise.all(stores.map((s) => s.close()))
  })

  it('keeps everything across a restart and has a partial index on due work', async () => {
    const schema = fresh()
    const first = postgresStore({ connectionString: POSTGRES_URL, schema })
    await first.saveProfile(profileRecord('p1', { email: 'ana@example.com' })) // init happens on first use too
    await first.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: new Date('2026-06-10T09:00:00Z') })
    await first.close()
    const second = postgresStore({ connectionString: POSTGRES_URL, schema })
    expect((await second.findProfile({ email: 'ana@example.com' }))?.id).toBe('p1')
    expect((await second.getJob('cart-1'))?.dueAt).toEqual(new Date('2026-06-10T09:00:00Z'))
    await second.close()
    const { rows } = await admin.query(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'relance_jobs_due'`, [schema])
    expect(rows[0]?.indexdef).toMatch(/WHERE \(state = 'pending'::text\)/)
  })

  it('uses a pool it is given and never ends it', async () => {
    const schema = fresh()
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 })
    const store = postgresStore({ pool, schema })
    await store.init()
    await store.suppress({ key: 'k', reason: 'bounce', at: new Date(0) })
    await store.close()
    expect((await pool.query(`SELECT reason FROM "${schema}".relance_suppressions`)).rows).toEqual([{ reason: 'bounce' }])
    await pool.end()
  })

  it('an unreachable server is a STORE_ERROR with the cause, quickly', async () => {
    const refused = postgresStore({ connectionString: 'postgres://postgres@127.0.0.1:1/test', connectionTimeoutMillis: 500 })
    const error = await refused.init().catch((e: unknown) => e)
    expect(isRelanceError(error, 'STORE_ERROR')).toBe(true)
    expect((error as Error).cause).toBeInstanceOf(Error)
    await refused.close()
  })

  it('a server that accepts and never answers does not hang: STORE_ERROR after connectionTimeoutMillis', async () => {
    const sockets = new Set<import('node:net').Socket>()
    const silent: Server = createServer((socket) => { sockets.add(socket) })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    const store = postgresStore({ connectionString: `postgres://postgres@127.0.0.1:${port}/test`, connectionTimeoutMillis: 300 })
    const started = process.hrtime.bigint()
    const error = await store.getProfile('p1').catch((e: unknown) => e)
    const waitedMs = Number(process.hrtime.bigint() - started) / 1e6
    expect(isRelanceError(error, 'STORE_ERROR')).toBe(true)
    expect(String((error as Error).message)).toMatch(/timeout/i)
    expect(waitedMs).toBeLessThan(5000)
    await store.close()
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => silent.close(resolve))
  })

  it('no SQL of a store reads the database clock', async () => {
    const { readFileSync } = await import('node:fs')
    for (const file of ['src/stores/postgres.ts', 'src/stores/sqlite.ts']) {
      const source = readFileSync(file, 'utf8')
      expect(source, file).not.toMatch(/\bnow\(\)|current_timestamp|localtimestamp|clock_timestamp|strftime\('%s'|datetime\('now'/i)
    }
  })
})
