import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { sqliteStore, SQLITE_MIGRATIONS } from 'relance/sqlite'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isRelanceError } from '../src/errors.js'
import { cartRecord, profileRecord } from './conformance/suite.js'

describe('sqliteStore', () => {
  let dir: string
  let filename: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'relance-sqlite-'))
    filename = join(dir, 'relance.db')
  })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  it('refuses bad options with INVALID_CONFIG naming the option', () => {
    for (const bad of [undefined, {}, { filename: '' }, { filename: 'a', database: {} }, { filename: 'a', busyTimeoutMs: -1 }]) {
      let error: unknown
      try {
        sqliteStore(bad as never)
      } catch (e) {
        error = e
      }
      expect(isRelanceError(error, 'INVALID_CONFIG'), JSON.stringify(bad)).toBe(true)
    }
  })

  it('keeps everything across a restart, in WAL mode with secure_delete, migrated once', async () => {
    const first = sqliteStore({ filename })
    await first.init()
    await first.saveProfile(profileRecord('p1', { email: 'ana@example.com' }))
    await first.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: new Date('2026-06-10T09:00:00Z') })
    await first.close()

    const second = sqliteStore({ filename })
    await second.init()
    expect((await second.findProfile({ email: 'ana@example.com' }))?.id).toBe('p1')
    expect((await second.claimDue({ now: new Date('2026-06-10T09:00:00Z'), limit: 5, owner: 'w', leaseUntil: new Date('2026-06-10T09:02:00Z') }))).toHaveLength(1)
    await second.close()

    const db = new Database(filename)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.prepare('SELECT version FROM relance_migrations ORDER BY version').all()).toEqual(SQLITE_MIGRATIONS.map((m) => ({ version: m.version })))
    db.close()
  })

  it('uses a database it is given and does not close it', async () => {
    const db = new Database(filename)
    const store = sqliteStore({ database: db })
    await store.init()
    await store.suppress({ key: 'k', reason: 'bounce', at: new Date(0) })
    await store.close()
    expect(db.open).toBe(true)
    expect(db.prepare('SELECT reason FROM relance_suppressions').get()).toEqual({ reason: 'bounce' })
    expect(db.pragma('secure_delete', { simple: true })).toBe(1)
    db.close()
  })

  it('two stores on one file never claim the same job', async () => {
    const a = sqliteStore({ filename })
    const b = sqliteStore({ filename })
    await Promise.all([a.init(), b.init()])
    const now = new Date('2026-06-10T09:00:00Z')
    for (let i = 0; i < 200; i++) await a.schedule({ cartId: `c${i}`, profileId: 'p', dueAt: new Date(now.getTime() - i) })
    const lease = new Date(now.getTime() + 60_000)
    const claimed: string[] = []
    for (let round = 0; round < 12; round++) {
      const [x, y] = await Promise.all([
        a.claimDue({ now, limit: 10, owner: 'a', leaseUntil: lease }),
        b.claimDue({ now, limit: 10, owner: 'b', leaseUntil: lease }),
      ])
      claimed.push(...x.map((j) => j.cartId), ...y.map((j) => j.cartId))
    }
    expect(claimed.length).toBe(200)
    expect(new Set(claimed).size).toBe(200)
    await a.close()
    await b.close()
  })

  it('concurrent cart writes share one commit; when one fails, the others are still written and only its caller fails', async () => {
    const db = new Database(filename)
    // Count the commits the store makes through the database it was given.
    let commits = 0
    const counting = new Proxy(db, {
      get(target, key) {
        if (key === 'prepare') {
          return (sql: string) => {
            const statement = target.prepare(sql)
            if (sql !== 'COMMIT') return statement
            return { run: () => { commits++; return statement.run() } }
          }
        }
        const value = Reflect.get(target, key) as unknown
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      },
    })
    const store = sqliteStore({ database: counting as never })
    await store.init()
    await store.saveProfile(profileRecord('holder', { email: 'ana@example.com' }))
    const at = new Date('2026-06-10T09:00:00Z')
    const ids = (table: string, column: string) => (db.prepare(`SELECT ${column} AS id FROM ${table} ORDER BY 1`).all() as { id: string }[]).map((r) => r.id)

    commits = 0
    await Promise.all([1, 2, 3].map((n) =>
      store.saveCart(cartRecord(`cart-${n}`, `p-${n}`), { dueAt: at }, { profile: profileRecord(`p-${n}`), device: { deviceId: `d-${n}`, at } })))
    expect(commits).toBe(1)
    expect(ids('relance_carts', 'id')).toEqual(['cart-1', 'cart-2', 'cart-3'])
    expect(ids('relance_jobs', 'cart_id')).toEqual(['cart-1', 'cart-2', 'cart-3'])
    expect(ids('relance_devices', 'device_id')).toEqual(['d-1', 'd-2', 'd-3'])

    commits = 0
    const results = await Promise.allSettled([
      store.saveCart(cartRecord('cart-a', 'p-a'), { dueAt: at }, { profile: profileRecord('p-a'), device: { deviceId: 'd-a', at } }),
      // Takes an email another profile holds: refused, and nothing of it is written.
      store.saveCart(cartRecord('cart-b', 'p-b'), { dueAt: at }, { profile: profileRecord('p-b', { email: 'ana@example.com' }), device: { deviceId: 'd-b', at } }),
      store.saveCart(cartRecord('cart-c', 'holder'), { dueAt: at }),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    const refused = (results[1] as PromiseRejectedResult).reason
    expect(isRelanceError(refused, 'STORE_ERROR')).toBe(true)
    expect((refused as { details?: { conflict?: string } }).details?.conflict).toBe('email')
    expect(commits).toBe(2) // the group was rolled back, then each write ran alone
    expect(ids('relance_carts', 'id')).toEqual(['cart-1', 'cart-2', 'cart-3', 'cart-a', 'cart-c'])
    expect(ids('relance_jobs', 'cart_id')).toEqual(['cart-1', 'cart-2', 'cart-3', 'cart-a', 'cart-c'])
    expect(ids('relance_profiles', 'id')).toEqual(['holder', 'p-1', 'p-2', 'p-3', 'p-a'])
    expect(ids('relance_devices', 'device_id')).toEqual(['d-1', 'd-2', 'd-3', 'd-a'])
    await store.close()
    db.close()
  })

  it('a failing database becomes STORE_ERROR with the driver error as cause', async () => {
    const store = sqliteStore({ filename: join(dir, 'missing-dir', 'x.db') })
    const error = await store.init().catch((e: unknown) => e)
    expect(isRelanceError(error, 'STORE_ERROR')).toBe(true)
    expect((error as Error).cause).toBeInstanceOf(Error)
  })
})
