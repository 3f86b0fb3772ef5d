import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { run } from '../../src/cli.js'
import { randomUUID } from 'node:crypto'
import { postgresStore } from '../../src/postgres.js'
import { redisStore } from '../../src/redis.js'
import { sqliteStore } from '../../src/sqlite.js'
import type { Store } from '../../src/stores/types.js'
import { POSTGRES_URL, postgresInspector, testSchema } from '../conformance/postgres-inspector.js'
import { redisInspector } from '../conformance/redis-inspector.js'
import { REDIS_URL, requireServices } from '../helpers/services.js'
import { ITEMS, consentingShopper, setup } from '../helpers/engine.js'

function capture() {
  let out = ''
  let err = ''
  return {
    io: {
      stdout: new Writable({ write(c, _e, done) { out += String(c); done() } }),
      stderr: new Writable({ write(c, _e, done) { err += String(c); done() } }),
    },
    out: () => out,
    err: () => err,
  }
}

const dir = mkdtempSync(join(tmpdir(), 'relance-report-'))
const file = join(dir, 'relance.db')
let expected: Record<'holdout' | 'email', number>

/** A shop runs a holdout experiment on this store, closes it and returns who ordered, by variant. */
async function runExperiment(store: Store): Promise<Record<'holdout' | 'email', number>> {
  const counts = { holdout: 0, email: 0 }
  const { relance, clock } = setup({
    store,
    frequencyCap: false,
    experiments: [{ id: 'does-it-work', variants: [{ id: 'holdout', weight: 1, holdout: true }, { id: 'email', weight: 1 }] }],
  })
  for (let n = 0; n < 300; n++) {
    await consentingShopper(relance, n)
    await relance.trackCart({ cartId: `cart-${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
  }
  clock.advance({ hours: 1 })
  await relance.tick()
  clock.advance({ hours: 2 })
  for (let n = 0; n < 300; n++) {
    const variant = (await store.listCartSends(`cart-${n}`))[0]!.variant as 'holdout' | 'email'
    // Every 3rd emailed person and every 12th held-out person orders.
    if (n % (variant === 'email' ? 3 : 12) === 0) {
      counts[variant]++
      await relance.orderPlaced({ orderId: `o-${n}`, email: `shopper${n}@example.com`, total: 4200, currency: 'EUR' })
    }
  }
  await relance.close()
  return counts
}

/** `relance report --json` on a store spec: the recovered counts and the number assigned. */
async function reportedCounts(spec: string) {
  const { io, out, err } = capture()
  expect(await run(['report', '--store', spec, '--json'], io), err()).toBe(0)
  const report = JSON.parse(out())
  const variants = Object.fromEntries(report.experiments[0].variants.map((v: { id: string }) => [v.id, v]))
  return { email: variants.email.recovered, holdout: variants.holdout.recovered, assigned: variants.email.assigned + variants.holdout.assigned }
}

// A shop ran the experiment on a SQLite store; the report is read later, from the file alone.
beforeAll(async () => {
  expected = await runExperiment(sqliteStore({ filename: file }))
}, 120_000)

afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('relance report', () => {
  it('prints the steps and the experiment from a SQLite file alone', async () => {
    const { io, out } = capture()
    expect(await run(['report', '--store', `sqlite:${file}`], io)).toBe(0)
    const text = out()
    expect(text).toMatch(/reminder\s+\d+\s+0\s+\d+/)
    expect(text).toContain('experiment does-it-work (step reminder), control: holdout')
    expect(text).toMatch(/holdout \(holdout\)\s+\d+\s+0\s+0\s+/)
    expect(text).toMatch(/winner: email \(corrected p = /)
    expect(await reportedCounts(`sqlite:${file}`)).toEqual({ ...expected, assigned: 300 })
  })

  it('reads a PostgreSQL schema and a Redis prefix given as URLs', async () => {
    await requireServices('postgres', 'redis')
    const schema = testSchema()
    const pgCounts = await runExperiment(postgresStore({ connectionString: POSTGRES_URL, schema }))
    const prefix = `relance-report-${randomUUID().slice(0, 8)}`
    const redisCounts = await runExperiment(redisStore({ url: REDIS_URL, prefix }))
    const pgRaw = await postgresInspector(schema)
    const redisRaw = await redisInspector(prefix)
    try {
      expect(await reportedCounts(`${POSTGRES_URL}?schema=${schema}`)).toEqual({ ...pgCounts, assigned: 300 })
      expect(await reportedCounts(`${REDIS_URL}?prefix=${prefix}`)).toEqual({ ...redisCounts, assigned: 300 })
      expect(pgCounts.email + pgCounts.holdout).toBeGreaterThan(0)
    } finally {
      await pgRaw.dropSchema()
      await pgRaw.close()
      await redisRaw.dropKeys()
      await redisRaw.close()
    }
  }, 120_000)

  it('refuses a missing or unknown store with a clear message', async () => {
    const missing = capture()
    expect(await run(['report'], missing.io)).toBe(2)
    expect(missing.err()).toContain('--store is required')
    const unknown = capture()
    expect(await run(['report', '--store', 'mysql://x'], unknown.io)).toBe(1)
    expect(unknown.err()).toContain('expected sqlite:<file>, postgres://… or redis://…')
  })

  it('writes a self-contained HTML page with a chart per experiment, checked in Chromium', async () => {
    const html = join(dir, 'report.html')
    const { io } = capture()
    expect(await run(['report', '--store', `sqlite:${file}`, '--html', html], io)).toBe(0)
    const source = readFileSync(html, 'utf8')
    expect(source).not.toMatch(/<(script|link)\b|src="http/) // no external assets
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    try {
      const page = await browser.newPage({ viewport: { width: 960, height: 900 } })
      await page.goto(`file://${html}`)
      expect(await page.locator('section.experiment svg.chart g.variant').count()).toBe(2)
      expect(await page.locator('.verdict.winner').innerText()).toMatch(/^winner: email/)
      const box = await page.locator('svg.chart').boundingBox()
      expect(box!.width).toBeGreaterThan(500)
      const interval = await page.locator('g.variant[data-variant="email"] line.interval').boundingBox()
      expect(interval!.width).toBeGreaterThan(5)
      const png = await page.locator('section.experiment').screenshot()
      expect(png.subarray(1, 4).toString()).toBe('PNG')
      // Not a blank picture: many distinct bytes in the image data.
      expect(png.length).toBeGreaterThan(5_000)
      expect(new Set(png.subarray(100, 2100)).size).toBeGreaterThan(100)
    } finally {
      await browser.close()
    }
  })
})
