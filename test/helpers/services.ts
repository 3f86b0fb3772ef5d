/**
 * The real servers the database tests need. Each test file that uses one calls
 * `requireServices(...)` first: when the server does not answer, the tests fail with a message
 * saying how to start it. They never skip. With `CI=true` the message says it is a CI failure.
 */
import { Socket } from 'node:net'
import pg from 'pg'

export const POSTGRES_URL = process.env.RELANCE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.RELANCE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export type Service = 'postgres' | 'redis'

const START: Record<Service, string> = {
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  redis: 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log',
}

const checks = new Map<Service, Promise<void>>()

async function pingPostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } finally {
    await client.end().catch(() => {})
  }
}

function pingRedis(): Promise<void> {
  const url = new URL(REDIS_URL)
  return new Promise((resolve, reject) => {
    const socket = new Socket()
    const fail = (error: Error) => {
      socket.destroy()
      reject(error)
    }
    socket.setTimeout(3000, () => fail(new Error('no answer within 3 s')))
    socket.once('error', fail)
    socket.connect(Number(url.port || 6379), url.hostname, () => socket.write('PING\r\n'))
    socket.once('data', (data) => {
      socket.destroy()
      if (data.toString().startsWith('+PONG')) resolve()
      else reject(new Error(`unexpected answer to PING: ${data.toString().trim()}`))
    })
  })
}

function explain(service: Service, error: unknown): Error {
  const where = service === 'postgres' ? POSTGRES_URL : REDIS_URL
  const why = error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error)
  const lines = process.env.CI === 'true'
    ? [`${service} does not answer at ${where} (${why}). CI=true: the database tests fail; .ci/run should have started it.`]
    : [
        `${service} does not answer at ${where} (${why}).`,
        'The database tests need the real server (they fail rather than skip). Start it with:',
        `  ${START[service]}`,
        'See DEVELOPERS.md.',
      ]
  return new Error(lines.join('\n'), { cause: error })
}

/** Resolves when every named server answers; rejects with how to start the missing one. */
export async function requireServices(...services: Service[]): Promise<void> {
  for (const service of services) {
    let check = checks.get(service)
    if (check === undefined) {
      check = (service === 'postgres' ? pingPostgres() : pingRedis()).catch((error: unknown) => {
        throw explain(service, error)
      })
      checks.set(service, check)
    }
    await check
  }
}
