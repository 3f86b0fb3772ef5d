import { readFileSync, existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import type { RawInspector } from './suite.js'

const TABLES = {
  profiles: 'relance_profiles', devices: 'relance_devices', carts: 'relance_carts', jobs: 'relance_jobs',
  sends: 'relance_sends', orders: 'relance_orders', assignments: 'relance_assignments', suppressions: 'relance_suppressions',
} as const

/**
 * Reads the database file with a connection of its own. `dump()` is the raw bytes of the file
 * and its WAL: what a disk image would show, deleted-but-not-overwritten rows included.
 */
export function sqliteInspector(filename: string): RawInspector & { close(): void } {
  const db = new Database(filename, { readonly: false })
  db.pragma('busy_timeout = 5000')
  const one = (sql: string, ...params: unknown[]) => db.prepare(sql).get(...params) as Record<string, unknown> | undefined
  return {
    async dump() {
      const parts = [filename, `${filename}-wal`, `${filename}-journal`].filter(existsSync).map((f) => readFileSync(f).toString('latin1'))
      // latin1 keeps every byte; re-decode as UTF-8 too so non-ASCII needles are found.
      const bytes = parts.join('\n')
      return `${bytes}\n${Buffer.from(bytes, 'latin1').toString('utf8')}`
    },
    async count(kind) {
      return Number(one(`SELECT count(*) AS n FROM ${TABLES[kind]}`)!.n)
    },
    async job(cartId) {
      const row = one('SELECT state, due_at, owner, lease_until, attempts, rev FROM relance_jobs WHERE cart_id = ?', cartId)
      if (row === undefined) return null
      return {
        state: String(row.state), dueAt: Number(row.due_at), owner: row.owner as string | null,
        leaseUntil: row.lease_until === null ? null : Number(row.lease_until), attempts: Number(row.attempts), rev: Number(row.rev),
      }
    },
    async profile(id) {
      const row = one('SELECT customer_id, email, first_name FROM relance_profiles WHERE id = ?', id)
      return row === undefined ? null : { customerId: row.customer_id as string | null, email: row.email as string | null, firstName: row.first_name as string | null }
    },
    async device(deviceId) {
      return (one('SELECT profile_id FROM relance_devices WHERE device_id = ?', deviceId)?.profile_id as string | undefined) ?? null
    },
    async send(cartId, step) {
      const row = one('SELECT id, outcome, clicked_at FROM relance_sends WHERE cart_id = ? AND step = ?', cartId, step)
      return row === undefined ? null : { id: String(row.id), outcome: String(row.outcome), clickedAt: row.clicked_at === null ? null : Number(row.clicked_at) }
    },
    close() {
      db.close()
    },
  }
}
