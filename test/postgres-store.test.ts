import { createServer, type Server } from 'node:net'
import fc from 'fast-check'
import pg from 'pg'
import { postgresStore, POSTGRES_MIGRATIONS } from 'relance/postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isRelanceError } from '../src/errors.js'
import { parseJsonTime, parseTimestamptz } from '../src/stores/postgres.js'
import { POSTGRES_URL, testSchema } from './conformance/postgres-inspector.js'
import { cartRecord, profileRecord } from './conformance/suite.js'
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

describe('reading timestamptz', () => {
  const builtIn = pg.types.getTypeParser(1184, 'text') as (text: string) => unknown
  const same = (text: string) => {
    const ours = parseTimestamptz(text)
    const theirs = builtIn(text)
    expect(ours instanceof Date ? ours.getTime() : ours, text).toStrictEqual(theirs instanceof Date ? theirs.getTime() : theirs)
  }

  it('gives what node-postgres gives, for every form PostgreSQL prints and for the forms it leaves to node-postgres', () => {
    const two = (n: number) => String(n).padStart(2, '0')
    fc.assert(fc.property(
      fc.integer({ min: 100, max: 9999 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 28 }),
      fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }), fc.integer({ min: 0, max: 59 }),
      fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
      fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 15 }), fc.option(fc.integer({ min: 1, max: 59 }), { nil: undefined }),
      fc.option(fc.integer({ min: 1, max: 59 }), { nil: undefined }),
      (year, month, day, hour, minute, second, fraction, sign, offsetHours, offsetMinutes, offsetSeconds) => {
        const offset = `${sign}${two(offsetHours)}${offsetMinutes === undefined ? '' : `:${two(offsetMinutes)}${offsetSeconds === undefined ? '' : `:${two(offsetSeconds)}`}`}`
        same(`${String(year).padStart(4, '0')}-${two(month)}-${two(day)} ${two(hour)}:${two(minute)}:${two(second)}${fraction === undefined ? '' : `.${fraction}`}${offset}`)
      },
    ), { numRuns: 2000 })
    // Left to node-postgres: infinities, BC, years before 100 or past 9999, no offset, other DateStyles, junk.
    for (const text of ['infinity', '-infinity', '2026-06-01 12:00:00+00 BC', '0099-01-01 00:00:00+00', '12026-06-01 12:00:00+00',
      '2026-06-01 12:00:00', '2026-06-01 12:00:00.+00', '2026-06-01 12:00:00+0', '2026-06-01 12:00:00+00:3', '2026-06-01 12:00:00Z',
      '06/01/2026 12:00:00.12 CEST', 'Mon Jun 01 12:00:00 2026 CEST', '2026-06-01 1a:00:00+00', '2026-06-01']) same(text)
  })

  /**
   * 200 random times of 1800–2200 in each of six session time zones, printed by PostgreSQL as
   * `text` selects them (from `$1::timestamptz[]`): offsets of whole hours, half and three
   * quarters of an hour, negative, and with seconds (local mean time, before 1937 in Amsterdam).
   */
  async function printedInEachZone(client: pg.Client, text: string, check: (printed: string, date: Date, zone: string) => void) {
    for (const zone of ['UTC', 'Europe/Paris', 'Asia/Kolkata', 'America/St_Johns', 'Pacific/Chatham', 'Europe/Amsterdam']) {
      await client.query(`SET TIME ZONE '${zone}'`)
      const dates = fc.sample(fc.date({ min: new Date('1800-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true }), 200)
      const { rows } = await client.query<{ t: string }>({ text, values: [dates] })
      rows.forEach(({ t }, i) => check(t, dates[i]!, zone))
    }
  }

  it('reads back to the millisecond what was stored, in any session time zone, and other DateStyles go to node-postgres', async () => {
    await requireServices('postgres')
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    try {
      await printedInEachZone(client, 'SELECT unnest($1::timestamptz[])::text AS t', (t, date, zone) => {
        expect((parseTimestamptz(t) as Date).getTime(), `${zone} ${t}`).toBe(date.getTime())
        same(t)
      })
      await client.query(`SET DateStyle = 'SQL, DMY'`)
      const { rows } = await client.query<{ t: string }>(`SELECT '2026-06-01 12:34:56.789+00'::timestamptz::text AS t`)
      same(rows[0]!.t)
    } finally {
      await client.end()
    }
  })

  it('reads the times inside JSON values (lookup, the sends of a view) in any session time zone, local mean time included', async () => {
    await requireServices('postgres')
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    try {
      await printedInEachZone(client, `SELECT to_jsonb(t) #>> '{}' AS t FROM unnest($1::timestamptz[]) AS t`, (t, date, zone) => {
        expect(parseJsonTime(t).getTime(), `${zone} ${t}`).toBe(date.getTime())
      })
    } finally {
      await client.end()
    }
    expect(() => parseJsonTime('infinity')).toThrow(/unreadable time "infinity"/)
  })

  it('lookup reads a profile and a cart back to the millisecond from a session in local mean time', async () => {
    await requireServices('postgres')
    const schema = testSchema()
    // Amsterdam ran 19 min 32 s ahead of UTC until 1937: its JSON offsets then have seconds.
    const amsterdam = `${POSTGRES_URL}?options=-c%20TimeZone%3DEurope%2FAmsterdam`
    const store = postgresStore({ connectionString: amsterdam, schema })
    const client = new pg.Client({ connectionString: amsterdam })
    await client.connect()
    try {
      const old = new Date('1850-03-01T12:34:56.789Z')
      const profile = profileRecord('p1', { email: 'ana@example.com', createdAt: old, updatedAt: new Date('2026-06-01T10:00:00.123Z'), marketing: { state: 'granted', at: old, source: 'shop' } })
      const cart = cartRecord('c1', 'p1', { activityAt: old, createdAt: old })
      await store.saveProfile(profile, { deviceId: 'd1', at: old })
      await store.saveCart(cart)
      const { rows } = await client.query(`SELECT to_jsonb(created_at) #>> '{}' AS t FROM "${schema}".relance_profiles`)
      expect(rows[0].t).toMatch(/\+00:19:32$/)
      expect(await store.lookup({ customerId: null, email: 'ana@example.com', deviceId: 'd1', cartId: 'c1' }))
        .toEqual({ byCustomer: null, byEmail: profile, byDevice: profile, cart })
    } finally {
      await store.close()
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await client.end()
    }
  })
})
