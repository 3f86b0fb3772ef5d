/**
 * A store from a one-line spec, so separate processes (workers, benchmarks) open the same store:
 * `memory`, `sqlite:<file>`, `postgres:<url>#<schema>`, `redis:<url>#<prefix>`. A new backend is one more line.
 */
import { memoryStore } from '../../src/stores/memory.js'
import { postgresStore } from '../../src/stores/postgres.js'
import { redisStore } from '../../src/stores/redis.js'
import { sqliteStore } from '../../src/stores/sqlite.js'
import type { Store } from '../../src/stores/types.js'

const BACKENDS: Record<string, (rest: string) => Store> = {
  memory: () => memoryStore(),
  sqlite: (file) => sqliteStore({ filename: file }),
  postgres: (rest) => {
    const [url, schema] = rest.split('#')
    // Worker processes start together on a busy 2-core machine: give the connection time, and
    // keep each pool small so that 4 workers never crowd PostgreSQL's connection limit.
    return postgresStore({ connectionString: url!, ...(schema ? { schema } : {}), connectionTimeoutMillis: 30_000, max: 4 })
  },
  redis: (rest) => {
    const [url, prefix] = rest.split('#')
    return redisStore({ url: url!, ...(prefix ? { prefix } : {}) })
  },
}

export function storeFromSpec(spec: string): Store {
  const colon = spec.indexOf(':')
  const kind = colon === -1 ? spec : spec.slice(0, colon)
  const open = BACKENDS[kind]
  if (open === undefined) throw new Error(`unknown store spec ${spec} (known: ${Object.keys(BACKENDS).join(', ')})`)
  return open(colon === -1 ? '' : spec.slice(colon + 1))
}
