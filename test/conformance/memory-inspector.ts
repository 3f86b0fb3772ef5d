import { memoryStoreInternals } from '../../src/stores/memory.js'
import type { JobRecord, ProfileRecord, SendRecord, Store } from '../../src/stores/types.js'
import type { RawInspector } from './suite.js'

/** The memory store's "raw client": its own maps, read without going through its methods. */
export function memoryInspector(store: Store): RawInspector {
  const maps = memoryStoreInternals(store)!
  return {
    async dump() {
      return JSON.stringify(Object.fromEntries(Object.entries(maps).map(([k, m]) => [k, [...m.entries()]])))
    },
    async count(kind) {
      return maps[kind]!.size
    },
    async job(cartId) {
      // The store keeps times as epoch milliseconds.
      const job = maps.jobs!.get(cartId) as (Omit<JobRecord, 'dueAt' | 'leaseUntil'> & { dueAt: number; leaseUntil: number | null }) | undefined
      if (job === undefined) return null
      return {
        state: job.state, dueAt: job.dueAt, owner: job.owner, leaseUntil: job.leaseUntil,
        attempts: job.attempts, rev: job.rev,
      }
    },
    async profile(id) {
      const p = maps.profiles!.get(id) as Pick<ProfileRecord, 'customerId' | 'email' | 'firstName'> | undefined
      return p === undefined ? null : { customerId: p.customerId, email: p.email, firstName: p.firstName }
    },
    async device(deviceId) {
      return (maps.devices!.get(deviceId) as string | undefined) ?? null
    },
    async send(cartId, step) {
      for (const s of maps.sends!.values() as Iterable<SendRecord>) {
        if (s.cartId === cartId && s.step === step) return { id: s.id, outcome: s.outcome, clickedAt: s.clickedAt?.getTime() ?? null }
      }
      return null
    },
  }
}
