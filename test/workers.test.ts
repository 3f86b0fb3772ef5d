/**
 * Many worker processes on one durable store: every step is sent exactly once, and a worker
 * killed mid-batch loses nothing (its leases expire and another worker finishes its work).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../src/stores/types.js'
import { testSchema } from './conformance/postgres-inspector.js'
import { ITEMS, consentingShopper, setup } from './helpers/engine.js'
import { POSTGRES_URL, REDIS_URL, requireServices } from './helpers/services.js'
import { storeFromSpec } from './workers/store-spec.js'
import { Redis } from 'ioredis'

const WORKER = new URL('./workers/worker.ts', import.meta.url).pathname
const T0 = new Date('2026-06-10T08:00:00Z')
const HOUR = 3_600_000

interface Worker {
  child: ChildProcessWithoutNullStreams
  stdout: () => string
  waitFor(text: string): Promise<void>
  exit: Promise<number | null>
}

function startWorker(spec: string, now: Date, log: string, args: string[] = []): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, spec, now.toISOString(), log, ...args], { stdio: 'pipe' })
  let out = ''
  let err = ''
  const waiters: { text: string; resolve: () => void }[] = []
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
    for (const w of waiters) if (out.includes(w.text)) w.resolve()
  })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    child,
    stdout: () => out,
    waitFor: (text) => new Promise<void>((resolve, reject) => {
      if (out.includes(text)) return resolve()
      waiters.push({ text, resolve })
      void exit.then((code) => reject(new Error(`worker exited (${code}) before "${text}"\nstdout: ${out}\nstderr: ${err}`)))
    }),
    exit: exit.then((code) => {
      if (code !== 0 && code !== null) throw new Error(`worker exited with ${code}\nstderr: ${err}`)
      return code
    }),
  }
}

/** Starts `count` workers, waits until all are ready, then lets them go at once. */
async function runTogether(spec: string, now: Date, log: string, count: number, args: string[] = []): Promise<Worker[]> {
  const workers = Array.from({ length: count }, (_, i) => startWorker(spec, now, log, ['--id', `w${i + 1}@${now.toISOString()}`, ...args]))
  await Promise.all(workers.map((w) => w.waitFor('ready')))
  for (const w of workers) w.child.stdin.write('go\n')
  return workers
}

interface Line { messageId: string; cartId: string; step: string; worker: string }
const readLog = (file: string): Line[] =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) : []

function byKey(lines: Line[]): Map<string, Line[]> {
  const map = new Map<string, Line[]>()
  for (const line of lines) {
    const key = `${line.cartId}/${line.step}`
    map.set(key, [...(map.get(key) ?? []), line])
  }
  return map
}

async function seed(store: Store, carts: number): Promise<void> {
  const { relance } = setup({ store, frequencyCap: false }, T0)
  for (let i = 0; i < carts; i++) {
    await consentingShopper(relance, i)
    await relance.trackCart({ cartId: `cart-${i}`, deviceId: `device-${i}`, items: ITEMS, currency: 'EUR' })
  }
}

const backends: { name: string; open: () => Promise<{ spec: string; cleanup: () => Promise<void> }> }[] = [
  {
    name: 'postgres',
    async open() {
      await requireServices('postgres')
      const schema = testSchema()
      return {
        spec: `postgres:${POSTGRES_URL}#${schema}`,
        async cleanup() {
          const client = new pg.Client({ connectionString: POSTGRES_URL })
          await client.connect()
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
          await client.end()
        },
      }
    },
  },
  {
    name: 'redis',
    async open() {
      await requireServices('redis')
      const prefix = `relance-workers-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
      return {
        spec: `redis:${REDIS_URL}#${prefix}`,
        async cleanup() {
          const client = new Redis(REDIS_URL)
          const keys = await client.keys(`${prefix}:*`) // test cleanup only; the store itself never uses KEYS
          if (keys.length > 0) await client.del(...keys)
          await client.quit()
        },
      }
    },
  },
  {
    name: 'sqlite file',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'relance-workers-'))
      return { spec: `sqlite:${join(dir, 'relance.db')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) }
    },
  },
]

describe.each(backends)('worker processes on $name', ({ open }) => {
  let spec: string
  let cleanup: () => Promise<void>
  let store: Store
  let dir: string
  beforeAll(async () => {
    ;({ spec, cleanup } = await open())
    dir = mkdtempSync(join(tmpdir(), 'relance-worker-logs-'))
  })
  afterAll(async () => {
    await store?.close()
    await cleanup()
    rmSync(dir, { recursive: true, force: true })
  })

  it('4 processes on a few hundred due carts: each step is sent exactly once', async () => {
    store = storeFromSpec(spec)
    const carts = 300
    await seed(store, carts)
    const log = join(dir, 'exactly-once.log')

    for (const [step, at] of [['reminder', new Date(T0.getTime() + HOUR)], ['reassurance', new Date(T0.getTime() + 24 * HOUR)]] as const) {
      const workers = await runTogether(spec, at, log, 4, ['--batch', '20'])
      await Promise.all(workers.map((w) => w.exit))
      const lines = readLog(log).filter((l) => l.step === step)
      const keys = byKey(lines)
      expect(keys.size).toBe(carts)
      expect([...keys.values()].filter((l) => l.length > 1)).toEqual([])
      expect(new Set(lines.map((l) => l.messageId)).size).toBe(carts)
      // They really worked side by side.
      expect(new Set(lines.map((l) => l.worker)).size).toBeGreaterThanOrEqual(2)
    }
    for (let i = 0; i < carts; i += 37) {
      const sends = await store.listCartSends(`cart-${i}`)
      expect(sends.map((s) => [s.step, s.outcome])).toEqual([['reminder', 'sent'], ['reassurance', 'sent']])
    }
  }, 180_000)

  it('a worker killed mid-batch loses nothing: after its lease, another finishes; resends keep the Message-ID', async () => {
    await store.close()
    await cleanup()
    ;({ spec, cleanup } = await open())
    store = storeFromSpec(spec)
    const carts = 200
    await seed(store, carts)
    const log = join(dir, 'crash.log')
    const at = new Date(T0.getTime() + HOUR)

    // Worker A claims a batch of 50, confirms 20 sends, then its provider accepts but never
    // confirms: SIGKILL while the batch is in flight.
    const a = startWorker(spec, at, log, ['--id', 'A', '--batch', '50', '--concurrency', '4', '--block-after', '20', '--wait', 'no'])
    await a.waitFor('blocked')
    a.child.kill('SIGKILL')
    await a.exit
    const heldByA: string[] = []
    for (let i = 0; i < carts; i++) if ((await store.getJob(`cart-${i}`))?.owner === 'A') heldByA.push(`cart-${i}`)
    // Sent by A but not recorded: the blocked messages, and any confirmed one whose store update
    // the kill cut off (the window no email system can close). Their jobs are still A's.
    const inFlight = readLog(log).filter((l) => l.worker === 'A' && heldByA.includes(l.cartId)).length
    expect(heldByA.length).toBeGreaterThan(0)
    expect(inFlight).toBeGreaterThan(0)

    // Within A's lease, two other workers do everything else and leave A's jobs alone.
    const during = await runTogether(spec, at, log, 2)
    await Promise.all(during.map((w) => w.exit))
    const afterDuring = readLog(log)
    expect([...byKey(afterDuring).values()].filter((l) => l.length > 1)).toEqual([])
    expect(afterDuring.filter((l) => l.worker !== 'A' && heldByA.includes(l.cartId))).toEqual([])
    expect(byKey(afterDuring).size).toBe(carts - heldByA.length + inFlight)

    // Once the lease (2 minutes) is over, one more worker finishes A's batch.
    const later = await runTogether(spec, new Date(at.getTime() + 2 * 60_000 + 1000), log, 1)
    await Promise.all(later.map((w) => w.exit))
    const lines = readLog(log)
    const keys = byKey(lines)
    expect(keys.size).toBe(carts) // nothing lost
    const repeated = [...keys.entries()].filter(([, l]) => l.length > 1)
    // Only messages A handed over without a confirmation are sent again, with the same Message-ID.
    expect(repeated.length).toBeLessThanOrEqual(inFlight)
    for (const [, l] of repeated) {
      expect(l).toHaveLength(2)
      expect(l[0]!.worker).toBe('A')
      expect(l[1]!.messageId).toBe(l[0]!.messageId)
    }
    for (let i = 0; i < carts; i++) {
      const sends = await store.listCartSends(`cart-${i}`)
      expect(sends.map((s) => s.outcome)).toEqual(['sent'])
      expect(await store.getJob(`cart-${i}`)).toMatchObject({ owner: null })
    }
  }, 180_000)
})
