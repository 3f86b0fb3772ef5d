import pg from 'pg'
import type { RawInspector } from './suite.js'

import { POSTGRES_URL } from '../helpers/services.js'

export { POSTGRES_URL }

const TABLES = {
  profiles: 'relance_profiles', devices: 'relance_devices', carts: 'relance_carts', jobs: 'relance_jobs',
  sends: 'relance_sends', orders: 'relance_orders', assignments: 'relance_assignments', suppressions: 'relance_suppressions',
} as const

/** Reads the schema with a client of its own; `dump()` is every row of every table of the schema. */
export async function postgresInspector(schema: string): Promise<RawInspector & { dropSchema(): Promise<void>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  const one = async (text: string, values: unknown[]) => (await client.query(text, values)).rows[0] as Record<string, unknown> | undefined
  const ms = (v: unknown) => (v === null ? null : (v as Date).getTime())
  return {
    async dump() {
      const { rows: tables } = await client.query(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema])
      const parts: string[] = []
      for (const { table_name } of tables) {
        const { rows } = await client.query(`SELECT row_to_json(t)::text AS row FROM "${schema}"."${table_name}" t`)
        parts.push(`-- ${table_name}`, ...rows.map((r) => r.row as string))
      }
      return parts.join('\n')
    },
    async count(kind) {
      return Number((await one(`SELECT count(*) AS n FROM "${schema}".${TABLES[kind]}`, []))!.n)
    },
    async job(cartId) {
      const row = await one(`SELECT state, due_at, owner, lease_until, attempts, rev FROM "${schema}".relance_jobs WHERE cart_id = $1`, [cartId])
      if (row === undefined) return null
      return {
        state: String(row.state), dueAt: ms(row.due_at)!, owner: row.owner as string | null, leaseUntil: ms(row.lease_until),
        attempts: Number(row.attempts), rev: Number(row.rev),
      }
    },
    async profile(id) {
      const row = await one(`SELECT customer_id, email, first_name FROM "${schema}".relance_profiles WHERE id = $1`, [id])
      return row === undefined ? null : { customerId: row.customer_id as string | null, email: row.email as string | null, firstName: row.first_name as string | null }
    },
    async device(deviceId) {
      return ((await one(`SELECT profile_id FROM "${schema}".relance_devices WHERE device_id = $1`, [deviceId]))?.profile_id as string | undefined) ?? null
    },
    async send(cartId, step) {
      const row = await one(`SELECT id, outcome, clicked_at FROM "${schema}".relance_sends WHERE cart_id = $1 AND step = $2`, [cartId, step])
      return row === undefined ? null : { id: String(row.id), outcome: String(row.outcome), clickedAt: ms(row.clicked_at) }
    },
    async dropSchema() {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    },
    async close() {
      await client.end()
    },
  }
}

export function testSchema(): string {
  return `relance_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
}
