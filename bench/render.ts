/**
 * Rendering throughput, in one run: the naive pipeline (Handlebars over the MJML source, then
 * MJML, then html-to-text, for every email) vs relance's (MJML and the text form compiled once at
 * startup, Handlebars only per email).
 *
 *   npx tsx bench/render.ts [--emails 5000] [--naive 200] [--warm-up 2000 (ms per pipeline)]
 */
import { parseArgs } from 'node:util'
import mjml2html from 'mjml'
import { htmlToText } from '../src/render/compile.js'
import { COMPILE_OPTIONS, RUNTIME_OPTIONS } from '../src/render/helpers.js'
import { createTemplateRenderer } from '../src/render/renderer.js'
import { SAMPLES, sampleInput } from '../src/render/samples.js'
import type { RenderInput } from '../src/render/types.js'

const { values } = parseArgs({ options: { emails: { type: 'string', default: '5000' }, naive: { type: 'string', default: '200' }, 'warm-up': { type: 'string', default: '2000' } } })
const emails = Number(values.emails)
const naiveEmails = Number(values.naive)
const WARM_UP_MS = Number(values['warm-up'])

const renderer = createTemplateRenderer()
const startup = performance.now()
await renderer.init()
const startupMs = performance.now() - startup

const inputs: RenderInput[] = Array.from({ length: Math.max(emails, naiveEmails) }, (_, i) => {
  const sample = SAMPLES[i % 3]! // 1 item, 3 items, 3 items with a code: typical carts
  const template = (['reminder', 'reassurance', 'last-chance'] as const)[i % 3]!
  return { ...sampleInput(sample, template, i % 2 === 0 ? 'fr' : 'en'), customer: { firstName: `Client ${i}` } }
})

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
 * Each pipeline first runs for the same warm-up time, so both are measured in steady state (a
 * server renders for hours): Handlebars' many small generated functions need some 15,000 calls
 * before V8 has optimised them, the naive pipeline settles after a few hundred.
 */
async function time(count: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const warm = performance.now() + WARM_UP_MS
  for (let i = 0; performance.now() < warm; i++) await fn(i % count)
  const started = performance.now()
  for (let i = 0; i < count; i++) await fn(i)
  return (performance.now() - started) / count
}

const rows: [string, number][] = []
rows.push(['naive: Handlebars → MJML → html-to-text per email', await time(naiveEmails, (i) => naive(inputs[i]!))])
rows.push(['naive, text part only: html-to-text per email', await time(emails, async (i) => htmlToText((await renderer.render(inputs[i]!)).html))])
rows.push(['relance: precompiled HTML + text per email', await time(emails, (i) => renderer.render(inputs[i]!))])

const [naiveMs, , relanceMs] = rows.map(([, ms]) => ms) as [number, number, number]
console.log(`Rendering, ${emails} emails (${naiveEmails} for the naive pipeline) after ${WARM_UP_MS} ms of warm-up each, Node ${process.version}; startup compiles ${renderer.compiled.size} templates × locales in ${startupMs.toFixed(0)} ms\n`)
console.log('| pipeline | ms / email | emails / s | vs naive |')
console.log('| --- | ---: | ---: | ---: |')
for (const [label, ms] of rows) console.log(`| ${label} | ${ms.toFixed(3)} | ${Math.round(1000 / ms).toLocaleString('en')} | ${(naiveMs / ms).toFixed(0)}× |`)
console.log(`\nprecompiled vs naive: ${(naiveMs / relanceMs).toFixed(0)}× (target ≥ 500×)`)
