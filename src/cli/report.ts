/**
 * `relance report --store <spec> [--since D] [--until D] [--currency EUR] [--json] [--html F]`:
 * the recovery and A/B report of a store, computed from its contents alone (experiments, their
 * variants and holdouts are read from the assignments and send records).
 *
 * Store specs: `sqlite:./relance.db`, `postgres://user@host/db?schema=relance` (or
 * `postgresql://`), `redis://host:6379?prefix=relance:`.
 */
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { CliIo } from '../cli.js'
import { RelanceError } from '../errors.js'
import { computeReport, deriveReportConfig, type ExperimentReport, type Report } from '../report.js'
import type { Store } from '../stores/types.js'

/** Opens the store a spec names (the adapter is loaded only when asked for). */
export async function openStore(spec: string): Promise<Store> {
  if (spec.startsWith('sqlite:')) {
    const { sqliteStore } = await import('../sqlite.js')
    return sqliteStore({ filename: spec.slice('sqlite:'.length) })
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const url = new URL(spec)
    const schema = url.searchParams.get('schema') ?? undefined
    url.searchParams.delete('schema')
    const { postgresStore } = await import('../postgres.js')
    return postgresStore({ connectionString: url.href, ...(schema === undefined ? {} : { schema }) })
  }
  if (/^rediss?:\/\//.test(spec)) {
    const url = new URL(spec)
    const prefix = url.searchParams.get('prefix') ?? undefined
    url.searchParams.delete('prefix')
    // Loaded by path so that a build without the Redis adapter still runs the other stores.
    const path = '../redis.js'
    const { redisStore } = (await import(/* @vite-ignore */ path)) as { redisStore: (o: Record<string, unknown>) => Store }
    return redisStore({ url: url.href, ...(prefix === undefined ? {} : { prefix }) })
  }
  throw new RelanceError('INVALID_CONFIG', `--store: expected sqlite:<file>, postgres://… or redis://… (got ${JSON.stringify(spec)})`, { details: { field: 'store' } })
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`
const money = (minor: number, currency: string) => new Intl.NumberFormat('en', { style: 'currency', currency }).format(minor / 100)

function verdictLine(e: ExperimentReport): string {
  if (e.winner !== null) return `winner: ${e.winner} (corrected p = ${e.pValue?.toPrecision(2)})`
  return `no winner yet: ${e.verdict}${e.pValue === null ? '' : ` (smallest corrected p = ${e.pValue.toPrecision(2)})`}`
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n')
}

export function formatReport(report: Report): string {
  const c = report.currency
  const out: string[] = []
  out.push(`relance report ${report.since === null ? 'from the beginning' : `from ${report.since.toISOString()}`} until ${report.until.toISOString()}`)
  out.push('')
  out.push(table([
    ['step', 'sent', 'failed', 'held out', 'clicked', 'recovered', 'after click', 'revenue'],
    ...report.steps.map((s) => [s.id, `${s.sent}`, `${s.failed}`, `${s.heldOut}`, `${s.clicked}`, `${s.recovered}`, `${s.recoveredAfterClick}`, money(s.revenue, c)]),
  ]))
  const t = report.totals
  out.push('')
  out.push(`deliverability: ${t.sent} sent, ${t.hardBounces} hard bounces, ${t.complaints} complaints (${(t.complaintRate * 100).toFixed(2)} %, keep it under 0.1 %)`)
  for (const e of report.experiments) {
    out.push('')
    out.push(`experiment ${e.id}${e.step === null ? ' (whole sequence)' : ` (step ${e.step})`}, control: ${e.control}`)
    out.push(table([
      ['variant', 'people', 'sent', 'clicked', 'converted', 'rate', '95 % interval', 'uplift', 'p', 'revenue/person'],
      ...e.variants.map((v) => [
        `${v.id}${v.holdout ? ' (holdout)' : ''}`, `${v.assigned}`, `${v.sent}`, `${v.clicked}`, `${v.converted}`, pct(v.conversionRate),
        `${pct(v.interval[0])} – ${pct(v.interval[1])}`, v.uplift === null ? '—' : `${v.uplift >= 0 ? '+' : ''}${(v.uplift * 100).toFixed(0)} %`,
        v.pValue === null ? '—' : v.pValue.toPrecision(2), money(Math.round(v.revenuePerRecipient), c),
      ]),
    ]))
    out.push(verdictLine(e))
  }
  return `${out.join('\n')}\n`
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)

/** One SVG chart per experiment: conversion rate with its interval bar, revenue per person. */
function chart(e: ExperimentReport, currency: string): string {
  const width = 640
  const rowH = 44
  const left = 150
  const plot = width - left - 30
  const max = Math.max(0.05, ...e.variants.map((v) => v.interval[1])) * 1.1
  const maxRevenue = Math.max(1, ...e.variants.map((v) => v.revenuePerRecipient))
  const height = e.variants.length * rowH + 40
  const x = (r: number) => left + (r / max) * plot
  const rows = e.variants.map((v, i) => {
    const y = 30 + i * rowH
    const colour = v.id === e.winner ? '#15803d' : v.holdout ? '#6b7280' : '#1d4ed8'
    return `<g class="variant" data-variant="${esc(v.id)}">
  <text x="${left - 10}" y="${y + 5}" text-anchor="end">${esc(v.id)}${v.holdout ? ' (holdout)' : ''}</text>
  <line class="interval" x1="${x(v.interval[0]).toFixed(1)}" x2="${x(v.interval[1]).toFixed(1)}" y1="${y}" y2="${y}" stroke="${colour}" stroke-width="3"/>
  <line x1="${x(v.interval[0]).toFixed(1)}" x2="${x(v.interval[0]).toFixed(1)}" y1="${y - 7}" y2="${y + 7}" stroke="${colour}" stroke-width="2"/>
  <line x1="${x(v.interval[1]).toFixed(1)}" x2="${x(v.interval[1]).toFixed(1)}" y1="${y - 7}" y2="${y + 7}" stroke="${colour}" stroke-width="2"/>
  <circle class="rate" cx="${x(v.conversionRate).toFixed(1)}" cy="${y}" r="6" fill="${colour}"/>
  <text x="${(x(v.conversionRate) + 10).toFixed(1)}" y="${y - 10}" font-size="12">${pct(v.conversionRate)}</text>
  <rect class="revenue" x="${left}" y="${y + 12}" width="${((v.revenuePerRecipient / maxRevenue) * plot * 0.5).toFixed(1)}" height="6" fill="${colour}" opacity="0.35"/>
  <text x="${(left + (v.revenuePerRecipient / maxRevenue) * plot * 0.5 + 6).toFixed(1)}" y="${y + 19}" font-size="11">${esc(money(Math.round(v.revenuePerRecipient), currency))} / person</text>
</g>`
  })
  return `<svg class="chart" role="img" aria-label="Conversion by variant for ${esc(e.id)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">
<line x1="${left}" x2="${left}" y1="10" y2="${height - 10}" stroke="#d0d4da"/>
${rows.join('\n')}
</svg>`
}

export function reportHtml(report: Report): string {
  const sections = report.experiments.map((e) => `<section class="experiment" id="experiment-${esc(e.id)}">
<h2>${esc(e.id)} <small>${e.step === null ? 'whole sequence' : `step ${esc(e.step)}`}</small></h2>
<p class="verdict ${e.winner === null ? 'none' : 'winner'}">${esc(verdictLine(e))}</p>
${chart(e, report.currency)}
<table><thead><tr><th>variant</th><th>people</th><th>sent</th><th>clicked</th><th>converted</th><th>rate</th><th>95 % interval</th><th>uplift</th><th>p</th></tr></thead><tbody>
${e.variants.map((v) => `<tr><td>${esc(v.id)}${v.holdout ? ' (holdout)' : ''}</td><td>${v.assigned}</td><td>${v.sent}</td><td>${v.clicked}</td><td>${v.converted}</td><td>${pct(v.conversionRate)}</td><td>${pct(v.interval[0])} – ${pct(v.interval[1])}</td><td>${v.uplift === null ? '—' : `${(v.uplift * 100).toFixed(0)} %`}</td><td>${v.pValue === null ? '—' : v.pValue.toPrecision(2)}</td></tr>`).join('\n')}
</tbody></table></section>`)
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>relance report</title>
<style>body{font:14px/1.5 system-ui,sans-serif;margin:24px;color:#1f2328;max-width:900px}table{border-collapse:collapse;margin:8px 0 24px}td,th{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:right}td:first-child,th:first-child{text-align:left}.verdict.winner{color:#15803d;font-weight:600}.verdict.none{color:#6b7280}small{color:#6b7280;font-weight:400}</style>
</head><body><h1>relance report</h1>
<p>${report.since === null ? 'From the beginning' : `From ${esc(report.since.toISOString())}`} until ${esc(report.until.toISOString())}. Conversion = people who ordered within the attribution window after an email (or, for a holdout, after the moment it would have been sent) ÷ people who reached the experiment.</p>
<h2>Steps</h2><pre class="steps">${esc(formatReport({ ...report, experiments: [] }))}</pre>
${sections.join('\n') || '<p>No experiment in this period.</p>'}
</body></html>`
}

export async function main(args: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }, open: (spec: string) => Promise<Store> = openStore): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({ args, options: {
      store: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, currency: { type: 'string', default: 'EUR' },
      json: { type: 'boolean', default: false }, html: { type: 'string' },
    } }))
  } catch (error) {
    io.stderr.write(`relance report: ${(error as Error).message}\n`)
    return 2
  }
  if (values.store === undefined) {
    io.stderr.write('relance report: --store is required (sqlite:./relance.db, postgres://…, redis://…)\n')
    return 2
  }
  const date = (text: string | undefined, name: string) => {
    if (text === undefined) return undefined
    const d = new Date(text)
    if (Number.isNaN(d.getTime())) throw new RelanceError('INVALID_INPUT', `--${name}: not a date (${text})`)
    return d
  }
  let store: Store | null = null
  try {
    const since = date(values.since, 'since') ?? null
    const until = date(values.until, 'until') ?? new Date(Date.now() + 1)
    store = await open(values.store)
    await store.init()
    const config = await deriveReportConfig(store, values.currency!, { since, until })
    const report = await computeReport(store, config, { since, until })
    if (values.html !== undefined) {
      writeFileSync(values.html, reportHtml(report))
      io.stderr.write(`relance report: wrote ${values.html}\n`)
    }
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report))
    return 0
  } catch (error) {
    io.stderr.write(`relance report: ${(error as Error).message}\n`)
    return 1
  } finally {
    await store?.close()
  }
}
