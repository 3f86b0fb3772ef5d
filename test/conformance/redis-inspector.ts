import { Redis } from 'ioredis'
import type { RawInspector, RawKind } from './suite.js'
import { REDIS_URL } from '../helpers/services.js'

const PATTERNS: Record<RawKind, string> = {
  profiles: 'p', devices: 'd', carts: 'c', jobs: 'j', sends: 's', orders: 'o', assignments: 'a', suppressions: 'x',
}

/** Reads the prefix with a client of its own; `dump()` is every key and value under the prefix. */
export async function redisInspector(prefix: string): Promise<RawInspector & { dropKeys(): Promise<void>; close(): Promise<void> }> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  const keys = async (pattern: string) => {
    const out: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      out.push(...batch)
    } while (cursor !== '0')
    return out
  }
  const json = async (key: string) => {
    const v = await client.get(key)
    return v === null ? null : (JSON.parse(v) as Record<string, unknown>)
  }
  return {
    async dump() {
      const parts: string[] = []
      for (const key of (await keys(`${prefix}:*`)).sort()) {
        const type = await client.type(key)
        const value = type === 'string' ? await client.get(key)
          : type === 'set' ? (await client.smembers(key)).join(',')
            : type === 'zset' ? (await client.zrange(key, 0, -1)).join(',')
              : type
        parts.push(`${key} = ${value}`)
      }
      return parts.join('\n')
    },
    async count(kind) {
      return (await keys(`${prefix}:${PATTERNS[kind]}:*`)).length
    },
    async job(cartId) {
      const job = await json(`${prefix}:j:${cartId}`)
      if (job === null) return null
      return { state: String(job.state), dueAt: Number(job.dueAt), owner: (job.owner as string | null) ?? null, leaseUntil: (job.leaseUntil as number | null) ?? null, attempts: Number(job.attempts), rev: Number(job.rev) }
    },
    async profile(id) {
      const p = await json(`${prefix}:p:${id}`)
      return p === null ? null : { customerId: p.customerId as string | null, email: p.email as string | null, firstName: p.firstName as string | null }
    },
    async device(deviceId) {
      return ((await json(`${prefix}:d:${deviceId}`))?.profileId as string | undefined) ?? null
    },
    async send(cartId, step) {
      const id = await client.get(`${prefix}:sk:${cartId}\u0000${step}`)
      const s = id === null ? null : await json(`${prefix}:s:${id}`)
      return s === null ? null : { id: String(s.id), outcome: String(s.outcome), clickedAt: (s.clickedAt as number | null) ?? null }
    },
    async dropKeys() {
      const all = await keys(`${prefix}:*`)
      for (let i = 0; i < all.length; i += 500) await client.del(...all.slice(i, i + 500))
    },
    async close() {
      await client.quit()
    },
  }
}
