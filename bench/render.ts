/**
 * Rendering throughput, in one run: the naive pipeline (Handlebars over the MJML source, then
 * MJML, then html-to-text, for every email) vs relance's (MJML and the text form compiled once at
 * startup; per email, the templates' fast path of src/render/fast.ts, Handlebars where it does not
 * apply). The row "fast path off" renders the same precompiled sources with the Handlebars runtime
 * alone, as relance did before the fast path.
 *
 *   npx tsx bench/render.ts [--emails 5000] [--naive 60] [--rounds 7] [--warm-up 2000 (ms per pipeline)]
 */
import { parseArgs } from 'node:util'
import type Handlebars from 'handlebars'
import mjml2html from 'mjml'
import { htmlToText, tidyText } from '../src/render/compile.js'
import { COMPILE_OPTIONS, RUNTIME_OPTIONS } from '../src/render/helpers.js'
import { createTemplateRenderer, oneLine } from '../src/render/renderer.js'
import { SAMPLES, sampleInput } from '../src/render/samples.js'
import type { RenderInput } from '../src/render/types.js'
import { median, rotatedRounds } from './_rounds.js'

const { values } = parseArgs({ options: { emails: { type: 'string', default: '5000' }, naive: { type: 'string', default: '60' }, rounds: { type: 'string', default: '7' }, 'warm-up': { type: 'string', default: '2000' } } })
const emails = Number(values.emails)
const naiveEmails = Number(values.naive)
const WARM_UP_MS = Number(values['warm-up'])
const ROUNDS = Number(values.rounds)

const renderer = createTemplateRenderer()
const startup = performance.now()
await renderer.init()
const startupMs = performance.now() - startup

const inputs: RenderInput[] = Array.from({ length: Math.max(emails, naiveEmails) }, (_, i) => {
  const sample = SAMPLES[i % 3]! // 1 item, 3 items, 3 items with a code: typical carts
  const template = (['reminder', 'reassurance', 'last-chance'] as const)[i % 3]!
  // Each email has its own first name and signed links, as in production.
  return {
    ...sampleInput(sample, template, i % 2 === 0 ? 'fr' : 'en'),
    customer: { firstName: `Client ${i}` },
    restoreUrl: `https://shop.example/panier/restaurer?token=${i.toString(36).padStart(22, 'r')}`,
    unsubscribeUrl: `https://shop.example/relance/unsubscribe?token=${i.toString(36).padStart(22, 'u')}`,
  }
})

/** relance's per-email work with the Handlebars functions only (renderUnit without the fast path). */
const handlebarsOnly = new Map<string, Record<'html' | 'text' | 'subject' | 'preheader', Handlebars.TemplateDelegate>>()
function runtimeOnly(input: RenderInput): { subject: string; preheader: string; html: string; text: string } {
  const unit = renderer.compiled.get(`${input.template}/${input.locale}`)!
  let fns = handlebarsOnly.get(unit.file)
  if (fns === undefined) {
    const compile = (source: string, noEscape: boolean) => renderer.handlebars.compile(source, { ...COMPILE_OPTIONS, noEscape })
    handlebarsOnly.set(unit.file, (fns = {
      html: compile(unit.sources.html, false),
      text: compile(unit.sources.text, true),
      subject: compile(unit.sources.subject, true),
      preheader: compile(unit.sources.preheader, true),
    }))
  }
  const context = renderer.context(input)
  const subject = oneLine(fns.subject(context, RUNTIME_OPTIONS))
  const preheader = oneLine(fns.preheader(context, RUNTIME_OPTIONS))
  const options = { data: { subject, preheader }, ...RUNTIME_OPTIONS }
  return { subject, preheader, html: fns.html(context, options), text: tidyText(fns.text(context, options)) }
}

const naiveFns = new Map<string, (context: unknown, options: unknown) => string>()
async function naive(input: RenderInput): Promise<{ html: string; text: string }> {
  const unit = renderer.compiled.get(`${input.template}/${input.locale}`)!
  let fn = naiveFns.get(unit.file)
  if (fn === undefined) naiveFns.set(unit.file, (fn = renderer.handlebars.compile(unit.sources.mjml, COMPILE_OPTIONS) as never))
  const context = renderer.context(input)
  const subject = unit.subject(context, RUNTIME_OPTIONS)
  const doc = fn(context, { ...RUNTIME_OPTIONS, data: { subject, preheader: unit.preheader(context, RUNTIME_OPTIONS) } })
  const html = (await mjml2html(doc, { validationLevel: 'skip', keepComments: false })).html
  return { html, text: htmlToText(html) }
}

/**
 * Each pipeline first runs for the same warm-up time, so all are measured in steady state (a
 * server renders for hours): Handlebars' many small generated functions need some 15,000 calls
 * before V8 has optimised them, the naive pipeline settles after a few hundred.
 */
async function warmUp(count: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const warm = performance.now() + WARM_UP_MS
  for (let i = 0; performance.now() < warm; i++) await fn(i % count)
}

/** Milliseconds per email over one pass of `count` emails. */
async function pass(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < count; i++) await fn(i)
  return (performance.now() - started) / count
}

// Both relance rows must render the same emails (the tests prove it at length; this guards the table).
for (const input of inputs.slice(0, 60)) {
  const { locale: _, ...fast } = await renderer.render(input)
  if (JSON.stringify(fast) !== JSON.stringify(runtimeOnly(input))) throw new Error(`fast path and Handlebars differ for ${input.template}/${input.locale}`)
}

/**
 * Every pipeline's strings are made flat before the pass counts the email. Strings built by
 * joining pieces (Handlebars' output, and the fast path's) are ropes that V8 flattens on first
 * use: for a 16 KB HTML with a `€` in it (two bytes per character) that copy costs 10–15 µs, as
 * much as rendering, and the transport pays it whatever it does with the HTML. MJML's output is
 * already flat. A regex match is the portable way to make V8 flatten a string.
 */
const FLAT = /^/
function materialized<T extends { html: string; text: string }>(email: T): T {
  FLAT.test(email.html)
  FLAT.test(email.text)
  return email
}

const pipelines: [string, number, (i: number) => Promise<unknown>][] = [
  ['naive: Handlebars → MJML → html-to-text per email', naiveEmails, async (i) => materialized(await naive(inputs[i]!))],
  ['naive, text part only: html-to-text per email', emails, async (i) => htmlToText(materialized(await renderer.render(inputs[i]!)).html)],
  ['relance, fast path off: precompiled, Handlebars runtime per email', emails, async (i) => materialized(runtimeOnly(inputs[i]!))],
  ['relance, strings as returned (not yet flattened)', emails, (i) => renderer.render(inputs[i]!)],
  ['relance: precompiled HTML + text per email, flat strings', emails, async (i) => materialized(await renderer.render(inputs[i]!))],
]
for (const [, count, fn] of pipelines) await warmUp(count, fn)
// Rounds: every pipeline makes one pass per round, in a rotated order, and each ratio is taken
// within its round; this machine's speed drifts over seconds, which a single pass each would
// put into the ratio.
const perRound = await rotatedRounds(ROUNDS, pipelines, ([, count, fn]) => pass(count, fn))
const ratios = (index: number) => perRound[0]!.map((naiveMs, round) => naiveMs / perRound[index]![round]!)
const range = (xs: number[]) => `${median(xs).toFixed(0)}× (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`

console.log(`Rendering: ${ROUNDS} rounds of ${emails} emails per pipeline (${naiveEmails} for the naive one) after ${WARM_UP_MS} ms of warm-up each, Node ${process.version}; startup compiles ${renderer.compiled.size} templates × locales in ${startupMs.toFixed(0)} ms\n`)
console.log('| pipeline | ms / email (median of rounds) | emails / s | vs naive, same round: median (min–max) |')
console.log('| --- | ---: | ---: | ---: |')
pipelines.forEach(([label], index) => {
  const ms = median(perRound[index]!)
  console.log(`| ${label} | ${ms.toFixed(3)} | ${Math.round(1000 / ms).toLocaleString('en')} | ${range(ratios(index))} |`)
})
console.log(`\nprecompiled vs naive: ${range(ratios(pipelines.length - 1))} (target ≥ 500×)`)
