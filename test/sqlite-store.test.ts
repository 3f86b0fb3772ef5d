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

  it('migrates a version-1 file to WITHOUT ROWID tables and partial unique indexes, keeping every row and constraint', async () => {
    // A file as version 1 left it, with rows written through the raw client.
    const old = new Database(filename)
    old.exec('CREATE TABLE relance_migrations (version INTEGER PRIMARY KEY)')
    old.exec(SQLITE_MIGRATIONS.find((m) => m.version === 1)!.sql)
    old.prepare('INSERT INTO relance_migrations (version) VALUES (1)').run()
    const profile = old.prepare(`INSERT INTO relance_profiles (id, customer_id, email, first_name, locale, time_zone, marketing_state,
      marketing_at, marketing_source, has_purchased, last_order_at, created_at, updated_at) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, NULL, 1, 2)`)
    profile.run('p1', 'cust-1', 'ana@example.com', 'Ana', 'granted', 5, 'checkout', 1)
    profile.run('p2', null, null, null, 'unknown', null, null, 0)
    profile.run('p3', null, null, null, 'unknown', null, null, 0)
    old.prepare('INSERT INTO relance_devices (device_id, profile_id, at) VALUES (?, ?, ?)').run('d2', 'p2', 7)
    old.prepare(`INSERT INTO relance_jobs (cart_id, profile_id, state, due_at, owner, lease_until, attempts, rev, note)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run('cart-1', 'p1', 'pending', Date.parse('2026-06-10T09:00:00Z'), 'w1', Date.parse('2026-06-10T09:02:00Z'), 2, 3, null)
    old.close()

    const store = sqliteStore({ filename })
    await store.init()
    expect((await store.findProfile({ email: 'ana@example.com' }))).toMatchObject({ id: 'p1', customerId: 'cust-1', firstName: 'Ana', hasPurchased: true, marketing: { state: 'granted', source: 'checkout' } })
    expect((await store.findProfile({ customerId: 'cust-1' }))?.id).toBe('p1')
    expect((await store.findProfile({ deviceId: 'd2' }))?.id).toBe('p2')
    expect(await store.getJob('cart-1')).toMatchObject({ state: 'pending', owner: 'w1', attempts: 2, rev: 3, leaseUntil: new Date('2026-06-10T09:02:00Z') })
    // The lease is still the owner's until it ends, then anyone's.
    expect(await store.claimDue({ now: new Date('2026-06-10T09:01:00Z'), limit: 5, owner: 'w2', leaseUntil: new Date('2026-06-10T09:03:00Z') })).toHaveLength(0)
    expect(await store.claimDue({ now: new Date('2026-06-10T09:02:00Z'), limit: 5, owner: 'w2', leaseUntil: new Date('2026-06-10T09:04:00Z') })).toHaveLength(1)
    // Unique keys hold; several anonymous profiles (no email, no customer id) still coexist.
    const conflict = await store.saveProfile(profileRecord('p4', { email: 'ana@example.com' })).catch((e: unknown) => e)
    expect(isRelanceError(conflict, 'STORE_ERROR')).toBe(true)
    expect((conflict as { details?: unknown }).details).toEqual({ conflict: 'email' })
    const byCustomer = await store.saveProfile(profileRecord('p4', { customerId: 'cust-1' })).catch((e: unknown) => e)
    expect((byCustomer as { details?: unknown }).details).toEqual({ conflict: 'customerId' })
    await store.saveProfile(profileRecord('p4'))
    await store.close()

    const db = new Database(filename)
    expect(db.prepare('SELECT version FROM relance_migrations ORDER BY version').all()).toEqual([{ version: 1 }, { version: 2 }])
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    const schema = (name: string) => (db.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).get(name) as { sql: string }).sql
    for (const table of ['relance_profiles', 'relance_devices', 'relance_jobs']) expect(schema(table)).toMatch(/WITHOUT ROWID$/)
    expect(schema('relance_profiles_email')).toMatch(/WHERE email IS NOT NULL$/)
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('relance_profiles', 'relance_devices', 'relance_jobs') ORDER BY name`).all().map((r) => (r as { name: string }).name))
      .toEqual(['relance_devices_profile', 'relance_jobs_due', 'relance_jobs_profile', 'relance_profiles_customer', 'relance_profiles_email'])
    expect(db.prepare('SELECT count(*) AS n FROM relance_profiles').get()).toEqual({ n: 4 })
    // The store checks keys before it writes; the indexes hold without that check too.
    const raw = db.prepare(`INSERT INTO relance_profiles (id, customer_id, email, marketing_state, has_purchased, created_at, updated_at) VALUES (?, ?, ?, 'unknown', 0, 1, 1)`)
    expect(() => raw.run('p5', null, 'ana@example.com')).toThrow(/UNIQUE constraint failed: relance_profiles\.email/)
    expect(() => raw.run('p5', 'cust-1', null)).toThrow(/UNIQUE constraint failed: relance_profiles\.customer_id/)
    expect(() => raw.run('p1', null, null)).toThrow(/UNIQUE constraint failed: relance_profiles\.id/)
    db.close()
  })

  it('uses a database it is given and does not close it', async () => {
    const db = new Database(filename)
    db.pragma('wal_autocheckpoint = 4000')
    const store = sqliteStore({ database: db })
    await store.init()
    await store.suppress({ key: 'k', reason: 'bounce', at: new Date(0) })
    await store.close()
    expect(db.open).toBe(true)
    expect(db.prepare('SELECT reason FROM relance_suppressions').get()).toEqual({ reason: 'bounce' })
    expect(db.pragma('secure_delete', { simple: true })).toBe(1)
    // Settings relance does not make are the caller's (the README suggests this one).
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(4000)
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
