/**
 * Storage benchmark, printed as tables:
 *
 * 1. `trackCart` per second, 1 and 4 concurrent callers, new visitors and updates, per store; each
 *    run on a fresh store, in rotated rounds.
 * 2. The cost of a tick that sends 1,000 due carts with 10k vs 1M stored (not due) carts, bulk
 *    loaded through each backend's own client: the cost must follow due work, not stored carts.
 * 3. PostgreSQL claims: the raw `FOR UPDATE SKIP LOCKED` statement vs the store's `claimDue`
 *    vs the engine's tick on the same table.
 * 4. Throughput of 1, 2 and 4 worker processes on one store, with a transport that answers at
 *    once (CPU-bound) and one that answers in `--latency` ms (like a provider's API).
 *
 *   npm run bench -- stores            (all of it; about ten minutes on 2 cores)
 *   npx tsx bench/stores.ts --big 200000 --only tick,claims
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import pg from 'pg'
import { createRelance } from '../src/engine.js'
import type { Transport } from '../src/transports/types.js'
import { FakeClock, ITEMS, SECRET, SHOP } from '../test/helpers/engine.js'
import { BACKENDS, POSTGRES_URL, type BenchBackend } from './_backends.js'
import { median, medianRange, rotatedRounds, toFirstInRound } from './_rounds.js'
import { childScript } from './_scripts.js'

const { values } = parseArgs({
  options: {
    big: { type: 'string', default: '1000000' },
    small: { type: 'string', default: '10000' },
    due: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '3' },
    only: { type: 'string', multiple: true },
    backends: { type: 'string', default: Object.keys(BACKENDS).join(',') },
    latency: { type: 'string', default: '100' },
  },
})
const BIG = Number(values.big)
const SMALL = Number(values.small)
const DUE = Number(values.due)
const SECONDS = Number(values.seconds)
const LATENCY = Number(values.latency)
const names = values.backends.split(',')
const SECTIONS = ['track', 'tick', 'claims', 'workers']
// `--only tick --only claims` or `--only tick,claims`; a misspelt section is an error, not an empty run.
const only = values.only?.flatMap((list) => list.split(','))
const unknown = only?.filter((section) => !SECTIONS.includes(section)) ?? []
if (unknown.length > 0) throw new Error(`--only: unknown section ${unknown.join(', ')} (expected ${SECTIONS.join(', ')})`)
const wanted = (section: string) => only === undefined || only.includes(section)
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ')
const T0 = new Date('2026-06-10T08:00:00Z')
const HOUR = 3_600_000

const discard: Transport = { name: 'discard', async send() { return { response: '250' } } }

function engine(backend: BenchBackend, clock: FakeClock) {
  return createRelance({ secret: SECRET, shop: SHOP, store: backend.store, transport: discard, clock, quietHours: false, frequencyCap: false })
}

/** `count` identified, consenting shoppers with an abandoned cart, at the clock's time. */
async function seedDue(relance: ReturnType<typeof engine>, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await relance.identify({ deviceId: `${prefix}-d${i}`, email: `${prefix}.${i}@example.com`, firstName: 'Camille', consent: { marketing: true } })
    await relance.trackCart({ cartId: `${prefix}-c${i}`, deviceId: `${prefix}-d${i}`, items: ITEMS, currency: 'EUR' })
  }
}

// --- 1. trackCart/s ----------------------------------------------------------------------------

type TrackCase = { label: string; callers: number; update: boolean }
const TRACK_CASES: TrackCase[] = [
  { label: 'new, 1 caller', callers: 1, update: false },
  { label: 'new, 4 callers', callers: 4, update: false },
  { label: 'update, 1 caller', callers: 1, update: true },
  { label: 'update, 4 callers', callers: 4, update: true },
]
const TRACK_WARM_UP_SECONDS = 1

/**
 * `trackCart` calls per second of one case, on a fresh store: each case starts from the same
 * state, so the four columns compare callers and kinds of call, not store sizes (one store for
 * all four runs gave the later columns a store two or three times larger). A warm-up of one
 * caller making new visitors comes first: it opens connections, warms statement caches and the
 * JIT, and tracks the carts an update picks from.
 */
async function trackCartRun(name: string, measured: TrackCase): Promise<number> {
  const backend = await BACKENDS[name]!()
  try {
    const clock = new FakeClock(T0)
    const relance = engine(backend, clock)
    await relance.ready()
    const track = (i: number, items = ITEMS) => relance.trackCart({ cartId: `tc-${i}`, deviceId: `tc-d${i}`, items, currency: 'EUR' })
    const known = (await callsPerSecond(TRACK_WARM_UP_SECONDS, 1, (i) => track(i))).calls
    clock.advance({ seconds: 1 })
    // `update`: a new snapshot of a cart tracked before (the common call: an item added).
    const measuredCall = measured.update ? (i: number) => track(i % known, ITEMS.slice(0, 1 + (i % 2))) : track
    return (await callsPerSecond(SECONDS, measured.callers, measuredCall, known)).rate
  } finally {
    await backend.cleanup()
  }
}

/**
 * Calls per second of `call` by `callers` concurrent callers over `seconds`, and how many were
 * made; each call gets its number, counted from `from`.
 */
async function callsPerSecond(seconds: number, callers: number, call: (i: number) => Promise<unknown>, from = 0): Promise<{ rate: number; calls: number }> {
  const end = performance.now() + seconds * 1000
  let next = from
  const started = performance.now()
  await Promise.all(Array.from({ length: callers }, async () => {
    while (performance.now() < end) await call(next++)
  }))
  return { rate: (next - from) / ((performance.now() - started) / 1000), calls: next - from }
}

// --- 1b. what a commit costs here ------------------------------------------------------------

/**
 * New visitors with 4 callers, three ways on the same kind of store, each on a fresh one: the
 * engine's `trackCart` (its reads, the decision, one write), the store's write alone (the
 * `saveCart` that `trackCart` ends with: profile, device, cart and job in one commit), and
 * one-row inserts, each its own commit, through the same driver. The last is this machine's
 * ceiling for anything that commits once per call: it puts the other two in proportion on
 * machines whose disks differ (the same code ran 1.9–3.6k `trackCart`/s on PostgreSQL on
 * machines whose one-row commits differed as much).
 */
type CommitPath = [label: string, run: (backend: BenchBackend, seconds: number) => Promise<number>]
const COMMIT_CALLERS = 4

/** Calls per second of `call` by `COMMIT_CALLERS` concurrent callers, after a warm-up. */
async function perSecond(seconds: number, call: (i: number) => Promise<unknown>): Promise<number> {
  const warmUp = await callsPerSecond(TRACK_WARM_UP_SECONDS, COMMIT_CALLERS, call)
  return (await callsPerSecond(seconds, COMMIT_CALLERS, call, warmUp.calls)).rate
}

/** One-row inserts, each its own commit, through the backend's own driver. */
async function rawCommits(backend: BenchBackend, seconds: number): Promise<number> {
  if (backend.name === 'postgres') {
    const schema = `"${backend.spec!.split('#')[1]!}"`
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: COMMIT_CALLERS })
    try {
      await pool.query(`CREATE TABLE ${schema}.bench_commits (id bigint PRIMARY KEY, at timestamptz NOT NULL)`)
      const insert = `INSERT INTO ${schema}.bench_commits (id, at) VALUES ($1, $2)`
      return await perSecond(seconds, (i) => pool.query({ name: 'bench-commit', text: insert, values: [i, T0] }))
    } finally {
      await pool.end()
    }
  }
  // better-sqlite3 is synchronous: the callers take turns, one commit each, as the store's
  // connection would without its group commit. The same file and settings as the store's.
  const db = new Database(backend.spec!.replace(/^sqlite:/, ''))
  try {
    db.pragma('busy_timeout = 5000')
    db.pragma('synchronous = NORMAL')
    db.exec('CREATE TABLE bench_commits (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)')
    const insert = db.prepare('INSERT INTO bench_commits (id, at) VALUES (?, ?)')
    return await perSecond(seconds, async (i) => insert.run(i, T0.getTime()))
  } finally {
    db.close()
  }
}

/** The write `trackCart` makes for a new visitor, made directly on the store. */
function storeWrite(backend: BenchBackend, seconds: number): Promise<number> {
  const at = T0
  const items = ITEMS.map(({ sku, name, quantity, unitAmount }) => ({ sku, name, quantity, unitAmount }))
  return perSecond(seconds, (i) => backend.store.saveCart(
    { id: `sw-${i}`, profileId: `sw-p${i}`, deviceId: `sw-d${i}`, items, currency: 'EUR', status: 'open', activityAt: at, createdAt: at, updatedAt: at },
    { dueAt: new Date(at.getTime() + HOUR) },
    {
      profile: {
        id: `sw-p${i}`, customerId: null, email: null, firstName: null, locale: null, timeZone: null,
        marketing: { state: 'unknown', at: null, source: null }, hasPurchased: false, lastOrderAt: null, createdAt: at, updatedAt: at,
      },
      device: { deviceId: `sw-d${i}`, at },
    },
  ))
}

async function engineTrack(backend: BenchBackend, seconds: number): Promise<number> {
  const relance = engine(backend, new FakeClock(T0))
  await relance.ready()
  return perSecond(seconds, (i) => relance.trackCart({ cartId: `tc-${i}`, deviceId: `tc-d${i}`, items: ITEMS, currency: 'EUR' }))
}

const COMMIT_PATHS: CommitPath[] = [
  ['one-row commits, raw driver', rawCommits],
  ['store.saveCart alone (a new visitor\'s write)', storeWrite],
  ['trackCart, new visitors', engineTrack],
]

async function commitCosts(name: string, rounds: number): Promise<number[][]> {
  return rotatedRounds(rounds, COMMIT_PATHS, async ([, run]) => {
    const backend = await BACKENDS[name]!()
    try {
      return await run(backend, SECONDS)
    } finally {
      await backend.cleanup()
    }
  })
}

// --- 2. tick cost vs stored carts --------------------------------------------------------------

interface TickCosts {
  /** ms of each counted tick of the small store, before the big one exists and after it is gone. */
  before: number[]
  after: number[]
  /** ms of each counted tick of the big store. */
  big: number[]
  loadSeconds: number
}

/**
 * A small store, then a big one, then the small one again, of the same backend, each with its own
 * engine and clock; each tick sends `DUE` carts seeded just before it. The big store is measured
 * between two series of the small one, and alone: this machine's speed drifts over minutes (one
 * PostgreSQL run measured the 10k tick at 548 ms, another at 1,036 ms), which the two series
 * around it bracket; and a big store beside the small one would slow the small one down too (a
 * memory store's garbage collector marks the whole heap; a database server shares its cache),
 * which would flatter the ratio.
 */
async function tickCosts(name: string, rounds: number): Promise<TickCosts> {
  const open = async (stored: number) => {
    const backend = await BACKENDS[name]!()
    // A store whose load or warm-up fails is removed here; the caller removes the others.
    try {
      const loadStart = performance.now()
      const chunk = 250_000
      for (let from = 0; from < stored; from += chunk) await backend.bulk(from, Math.min(chunk, stored - from))
      const loadSeconds = (performance.now() - loadStart) / 1000
      const clock = new FakeClock(T0)
      const relance = engine(backend, clock)
      let round = 0
      const tick = async () => {
        // 70 minutes apart: each round's carts are due (1 h) before the next round seeds, and all
        // rounds (13 for the small store) stay within a day, before any earlier cart's second step
        // (24 h) is due.
        clock.set(new Date(T0.getTime() + round * 70 * 60_000))
        await seedDue(relance, `r${round++}`, DUE)
        clock.advance({ hours: 1 })
        const started = performance.now()
        const result = await relance.tick()
        const ms = performance.now() - started
        if (result.sent !== DUE) throw new Error(`${name}: sent ${result.sent} of ${DUE}`)
        return ms
      }
      const series = async () => {
        const times: number[] = []
        for (let i = 0; i < rounds; i++) times.push(await tick())
        return times
      }
      // Three ticks warm up (JIT, statement caches) and are not counted: after one, the memory
      // store's first series still ran at 150 ms a tick and its last at 90.
      for (let i = 0; i < 3; i++) await tick()
      return { series, loadSeconds, cleanup: () => backend.cleanup() }
    } catch (error) {
      await backend.cleanup()
      throw error
    }
  }
  const small = await open(SMALL)
  try {
    const before = await small.series()
    // In a function of its own, so that nothing holds the big store once it is measured.
    const measureBig = async () => {
      const big = await open(BIG)
      try {
        return { times: await big.series(), loadSeconds: big.loadSeconds }
      } finally {
        await big.cleanup()
      }
    }
    const big = await measureBig()
    const after = await small.series()
    return { before, after, big: big.times, loadSeconds: big.loadSeconds }
  } finally {
    await small.cleanup()
  }
}

// --- 3. PostgreSQL claims ----------------------------------------------------------------------

interface ClaimRow {
  path: string
  claimers: number
  /** jobs/s of each round. */
  rates: number[]
  /** This path's rate / the raw statement's rate in the same round. */
  ratios: number[]
}

async function postgresClaims(rounds: number): Promise<ClaimRow[]> {
  const backend = await BACKENDS.postgres!()
  const schema = backend.spec!.split('#')[1]!
  const client = new pg.Client({ connectionString: POSTGRES_URL })
  await client.connect()
  const jobs = 20_000
  const batch = 100
  const s = `"${schema}"`
  const due = new Date(T0.getTime() - HOUR)
  const reset = async () => {
    await client.query(`UPDATE ${s}.relance_jobs SET owner = NULL, lease_until = NULL, state = 'pending', rev = 1, due_at = $1`, [due])
    await client.query(`VACUUM ANALYZE ${s}.relance_jobs`)
  }
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 })
  try {
    // Every job has its cart and profile, last active longer ago than `staleAfter`: the engines
    // claim each job, read it (cart, profile, send log, the person's other carts), decide
    // ("stale") and settle it — the claim machinery without rendering or sending.
    const stale = new Date(T0.getTime() - 30 * 24 * HOUR)
    await client.query(`INSERT INTO ${s}.relance_jobs (cart_id, profile_id, state, due_at, owner, lease_until, attempts, rev, note)
      SELECT 'claim-' || i, 'p-' || i, 'pending', $1, NULL, NULL, 0, 1, NULL FROM generate_series(1, $2) AS i`, [due, jobs])
    await client.query(`INSERT INTO ${s}.relance_profiles (id, email, marketing_state, has_purchased, created_at, updated_at)
      SELECT 'p-' || i, 'claim.' || i || '@example.com', 'granted', false, $1, $1 FROM generate_series(1, $2) AS i`, [stale, jobs])
    await client.query(`INSERT INTO ${s}.relance_carts (id, profile_id, items, currency, status, activity_at, created_at, updated_at)
      SELECT 'claim-' || i, 'p-' || i, $3::jsonb, 'EUR', 'open', $1, $1, $1 FROM generate_series(1, $2) AS i`, [stale, jobs, JSON.stringify(ITEMS)])
    await client.query(`VACUUM ANALYZE ${s}.relance_carts`)
    await client.query(`VACUUM ANALYZE ${s}.relance_profiles`)
    const rawStatement = `
      WITH due AS (
        SELECT cart_id FROM ${s}.relance_jobs
        WHERE state = 'pending' AND due_at <= $1 AND (owner IS NULL OR lease_until <= $1)
        ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      UPDATE ${s}.relance_jobs AS j SET owner = $3, lease_until = $4 FROM due WHERE j.cart_id = due.cart_id
      RETURNING j.*`
    const lease = new Date(T0.getTime() + HOUR)
    const drain = async (claim: (owner: string) => Promise<number>, claimers: number) => {
      await reset()
      let total = 0
      const started = performance.now()
      await Promise.all(Array.from({ length: claimers }, async (_, i) => {
        for (;;) {
          const n = await claim(`c${i}`)
          total += n
          if (n === 0) return
        }
      }))
      if (total !== jobs) throw new Error(`claimed ${total} of ${jobs}`)
      return jobs / ((performance.now() - started) / 1000)
    }
    const ticks = async (claimers: number) => {
      await reset()
      const engines = Array.from({ length: claimers }, () => engine(backend, new FakeClock(T0)))
      await Promise.all(engines.map((e) => e.ready()))
      const started = performance.now()
      const results = await Promise.all(engines.map((e) => e.tick()))
      const rate = jobs / ((performance.now() - started) / 1000)
      const claimed = results.reduce((sum, r) => sum + r.claimed, 0)
      const skipped = results.reduce((sum, r) => sum + r.skipped, 0)
      if (claimed !== jobs || skipped !== jobs) throw new Error(`engines claimed ${claimed} and skipped ${skipped} of ${jobs}`)
      return rate
    }
    const paths: [string, (claimers: number) => Promise<number>][] = [
      ['raw SKIP LOCKED statement', (n) => drain((owner) => pool.query(rawStatement, [T0, batch, owner, lease]).then((r) => r.rowCount ?? 0), n)],
      ['store.claimDue', (n) => drain((owner) => backend.store.claimDue({ now: T0, limit: batch, owner, leaseUntil: lease }).then((r) => r.length), n)],
      ['engine tick(): claim + read + decide + settle (batch 100, concurrency 24)', ticks],
    ]
    const rows: ClaimRow[] = []
    for (const claimers of [1, 4]) {
      // Each round runs every path once, in a rotated order, so none always runs warmest.
      const rates = await rotatedRounds(rounds, paths, ([, run]) => run(claimers))
      const ratios = toFirstInRound(rates)
      paths.forEach(([path], index) => {
        rows.push({ path, claimers, rates: rates[index]!, ratios: ratios[index]! })
      })
    }
    return rows
  } finally {
    await pool.end()
    await client.end()
    await backend.cleanup()
  }
}

// --- 4. worker processes -----------------------------------------------------------------------

const WORKER = childScript('../test/workers/worker.ts')

async function workerThroughput(name: string, processes: number, carts: number, latency = 0): Promise<number> {
  const backend = await BACKENDS[name]!()
  const dir = mkdtempSync(join(tmpdir(), 'relance-bench-log-'))
  const log = join(dir, 'sent.log')
  try {
    const clock = new FakeClock(T0)
    await seedDue(engine(backend, clock), 'w', carts)
    const at = new Date(T0.getTime() + HOUR).toISOString()
    const children = Array.from({ length: processes }, (_, i) => spawn(process.execPath, [...WORKER.execArgv, WORKER.file, backend.spec!, at, log, '--id', `w${i}`, '--latency', String(latency)], { stdio: ['pipe', 'pipe', 'inherit'] }))
    const ready = children.map((child) => new Promise<void>((resolve) => {
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); if (out.includes('ready')) resolve() })
    }))
    const exits = children.map((child) => new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exit ${code}`))))))
    await Promise.all(ready)
    const started = performance.now()
    for (const child of children) child.stdin.write('go\n')
    await Promise.all(exits)
    const seconds = (performance.now() - started) / 1000
    const lines = readFileSync(log, 'utf8').trim().split('\n')
    const distinct = new Set(lines.map((line) => (JSON.parse(line) as { cartId: string }).cartId)).size
    if (lines.length !== carts || distinct !== carts) throw new Error(`${name}: ${lines.length} messages to ${distinct} of ${carts} carts`)
    return carts / seconds
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await backend.cleanup()
  }
}

// --- run ---------------------------------------------------------------------------------------

console.log(`Storage benchmark (${names.join(', ')}); figures are medians or ${SECONDS}-second runs\n`)

if (wanted('track')) {
  const rounds = 3
  console.log('### trackCart per second\n')
  console.log(`New: a new cart on a new device (profile + device + cart + job written). Update: a new snapshot of a known cart. Each run on a fresh store after a ${TRACK_WARM_UP_SECONDS}-second warm-up; median (min–max) of ${rounds} rounds, the cases in rotated order.\n`)
  console.log(`| store | ${TRACK_CASES.map((c) => c.label).join(' | ')} |`)
  console.log(`| --- |${' ---: |'.repeat(TRACK_CASES.length)}`)
  for (const name of names) {
    const rates = await rotatedRounds(rounds, TRACK_CASES, (measured) => trackCartRun(name, measured))
    console.log(`| ${name} | ${rates.map((xs) => medianRange(xs, fmt)).join(' | ')} |`)
  }
  console.log()
  const durable = names.filter((name) => name === 'sqlite' || name === 'postgres')
  if (durable.length > 0) {
    console.log(`### What a commit costs here: new visitors, ${COMMIT_CALLERS} callers\n`)
    console.log(`Each path on a fresh store, after a ${TRACK_WARM_UP_SECONDS}-second warm-up; median of ${rounds} rounds, the paths in rotated order. The ratio is to the one-row commits of the same round (min–max). SQLite's one-row commits take turns (better-sqlite3 is synchronous); the store's writes from concurrent callers share one commit.\n`)
    console.log('| store | path | calls/s | vs one-row commits |')
    console.log('| --- | --- | ---: | ---: |')
    for (const name of durable) {
      const rates = await commitCosts(name, rounds)
      const ratios = toFirstInRound(rates)
      COMMIT_PATHS.forEach(([label], index) => {
        console.log(`| ${name} | ${label} | ${fmt(median(rates[index]!))} | ${medianRange(ratios[index]!, (x) => x.toFixed(2))} |`)
      })
    }
    console.log()
  }
}

if (wanted('tick')) {
  const rounds = 5
  console.log(`### One tick sending ${DUE} due carts, by number of stored (not due) carts\n`)
  console.log(`Medians of ${rounds} ticks: the ${fmt(SMALL)} store, then the ${fmt(BIG)} store alone, then the ${fmt(SMALL)} store again; the ratio is to all ${2 * rounds} ticks of the small one.\n`)
  console.log(`| store | ${fmt(SMALL)} stored, before | ${fmt(BIG)} stored | ${fmt(SMALL)} stored, after | ratio | bulk load of ${fmt(BIG)} |`)
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
  for (const name of names) {
    const costs = await tickCosts(name, rounds)
    const ratio = median(costs.big) / median([...costs.before, ...costs.after])
    console.log(`| ${name} | ${fmt(median(costs.before))} ms | ${fmt(median(costs.big))} ms | ${fmt(median(costs.after))} ms | ${ratio.toFixed(2)}× | ${costs.loadSeconds.toFixed(0)} s |`)
  }
  console.log()
}

if (wanted('claims') && names.includes('postgres')) {
  const rounds = 3
  console.log(`### PostgreSQL claims on one table of 20 000 due jobs (batches of 100), median of ${rounds} rounds\n`)
  console.log('| path | claimers (engines) | jobs/s | vs raw statement, same round (min–max) |')
  console.log('| --- | ---: | ---: | ---: |')
  for (const row of await postgresClaims(rounds)) {
    console.log(`| ${row.path} | ${row.claimers} | ${fmt(median(row.rates))} | ${medianRange(row.ratios, (x) => x.toFixed(2))} |`)
  }
  console.log()
}

if (wanted('workers')) {
  const carts = 2000
  const shared = names.filter((name) => name !== 'memory')
  // Without latency every process competes for the same cores (the database's included); with a
  // provider-like answer time, a worker mostly waits, and more workers send more.
  console.log(`### Worker processes on one store: ${carts} due carts sent end to end (render + a transport logging to a file)\n`)
  console.log('| store | transport answers in | 1 process | 2 processes | 4 processes |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const name of shared) {
    for (const latency of [0, LATENCY]) {
      const rates: number[] = []
      for (const processes of [1, 2, 4]) rates.push(await workerThroughput(name, processes, carts, latency))
      console.log(`| ${name} | ${latency} ms | ${rates.map((r) => `${fmt(r)}/s`).join(' | ')} |`)
    }
  }
  console.log()
}
