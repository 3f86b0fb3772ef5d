import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import mjml2html from 'mjml'
import { beforeAll, describe, expect, it } from 'vitest'
import { htmlToText, tidyText } from '../../src/render/compile.js'
import { COMPILE_OPTIONS, RUNTIME_OPTIONS, formatMoney, interpolate } from '../../src/render/helpers.js'
import { createTemplateRenderer, type TemplateRenderer } from '../../src/render/renderer.js'
import { SAMPLES, SAMPLE_SHOP, manyItems, sampleInput } from '../../src/render/samples.js'
import type { RenderInput, RenderItem } from '../../src/render/types.js'
import { decodeEntities, linksIn } from '../helpers/engine.js'

let renderer: TemplateRenderer
beforeAll(async () => {
  renderer = createTemplateRenderer()
  await renderer.init()
})

const TEMPLATES = ['reminder', 'reassurance', 'last-chance'] as const
const LOCALES = ['fr', 'en'] as const
const sample = (id: string) => SAMPLES.find((s) => s.id === id)!

function imgs(html: string): string[] {
  return [...html.matchAll(/<img\b[^>]*>/g)].map((m) => m[0])
}

describe('built-in templates', () => {
  for (const template of TEMPLATES) {
    for (const locale of LOCALES) {
      it(`${template} (${locale}) renders a complete, safe, small email`, async () => {
        const input = sampleInput(sample('incentive'), template, locale, { id: template, index: TEMPLATES.indexOf(template), count: 3 })
        const email = await renderer.render(input)
        expect(email.locale).toBe(locale)
        expect(email.subject.length).toBeGreaterThan(10)
        expect(email.subject.length).toBeLessThanOrEqual(90)
        expect(email.subject).not.toMatch(/\{\{|\}\}|undefined|null/)
        expect(email.preheader.length).toBeGreaterThan(10)
        expect(email.html).toMatch(new RegExp(`<html[^>]* lang="${locale}"`))
        expect(decodeEntities(/<title>([^<]+)<\/title>/.exec(email.html)?.[1] ?? '')).toBe(email.subject)
        expect(decodeEntities(email.html)).toContain(email.preheader)
        expect(email.text).not.toContain(email.preheader)
        // Every image has alt text; every link is https (validated or built by relance) or the shop's contact.
        for (const img of imgs(email.html)) expect(img).toMatch(/ alt="[^"]+"/)
        const links = linksIn(email.html)
        expect(links).toContain(input.restoreUrl)
        expect(links).toContain(input.unsubscribeUrl)
        for (const link of links) expect(link).toMatch(/^(https:\/\/|mailto:service@shop\.example$|tel:\+33)/)
        // The sender's identity, postal address and a way to reach a human.
        expect(email.text).toContain('12 rue des Lilas, 75011 Paris')
        expect(email.text).toContain('<service@shop.example>')
        expect(email.text).toContain(input.restoreUrl)
        expect(email.text).toContain(input.unsubscribeUrl)
        expect(Buffer.byteLength(email.html)).toBeLessThan(100 * 1024)
        expect(email.text).toMatchSnapshot()
      })
    }
  }

  it('formats money from minor units per locale', async () => {
    expect(formatMoney(4990, 'EUR', 'fr')).toMatch(/^49,90[\u00a0\u202f]€$/)
    expect(formatMoney(4990, 'EUR', 'en')).toBe('€49.90')
    expect(formatMoney(1500, 'JPY', 'en')).toBe('¥1,500')
    const fr = await renderer.render(sampleInput(sample('one-item'), 'reminder', 'fr'))
    expect(fr.text).toMatch(/99,80[\u00a0\u202f]€/) // 2 × 49,90 €
    const en = await renderer.render(sampleInput(sample('one-item'), 'reminder', 'en'))
    expect(en.text).toContain('€99.80')
    expect(en.text).toContain('€49.90 each')
  })

  it('formats an amount the same from the cache of formatted amounts, and keeps -0 apart from 0', () => {
    for (let pass = 0; pass < 2; pass++) {
      expect(formatMoney(0, 'EUR', 'en')).toBe('€0.00')
      expect(formatMoney(-0, 'EUR', 'en')).toBe('-€0.00')
      expect(formatMoney(-150, 'EUR', 'en')).toBe('-€1.50')
    }
  })

  it('puts the incentive, its code and its end date in the last chance, and nothing when there is none', async () => {
    const withCode = await renderer.render(sampleInput(sample('incentive'), 'last-chance', 'fr'))
    expect(withCode.subject).toMatch(/^Dernière chance : 10[\u00a0\u202f]% sur votre panier$/)
    expect(withCode.text).toContain('MERCI-7QX2')
    expect(withCode.text).toContain('Valable jusqu’au 17 juin 2026')
    const none = await renderer.render(sampleInput(sample('three-items'), 'last-chance', 'fr'))
    expect(none.subject).toBe('Dernier rappel : votre panier chez Maison Dupont')
    expect(none.html).not.toContain('MERCI')
  })

  it('escapes customer data and keeps javascript: or data: URLs out of every link and image', async () => {
    const evil: RenderItem = { sku: 'x', name: '<img src=x onerror=alert(1)>Sac "cabas" & co', quantity: 1, unitAmount: 100, url: 'javascript:alert(1)', imageUrl: 'data:image/svg+xml,<svg onload=alert(2)>' }
    const input: RenderInput = { ...sampleInput(sample('one-item'), 'reminder', 'fr'), customer: { firstName: '<script>alert(3)</script>' }, cart: { id: 'c', currency: 'EUR', items: [evil] } }
    const email = await renderer.render(input)
    expect(email.html).not.toContain('<script>')
    expect(email.html).not.toContain('<img src=x')
    expect(email.html.toLowerCase()).not.toContain('javascript:')
    expect(email.html).not.toContain('data:image')
    expect(email.html).toContain('&lt;script&gt;')
    expect(email.text).toContain('<img src=x onerror=alert(1)>Sac "cabas" & co')
  })

  it('summarises a 60-line cart and stays far below Gmail clipping (~102 KB)', async () => {
    for (const locale of LOCALES) {
      const email = await renderer.render(sampleInput(sample('sixty-items'), 'reminder', locale))
      expect(Buffer.byteLength(email.html)).toBeLessThan(60 * 1024)
      expect(email.text).toContain(locale === 'fr' ? 'et 52 autres articles dans votre panier' : 'and 52 more items in your cart')
      expect(email.text).not.toContain('Article n° 9 ')
    }
  })

  it('follows the locale chain fr-CA → fr → shop locale', async () => {
    const base = sample('one-item')
    expect((await renderer.render(sampleInput(base, 'reminder', 'fr-CA'))).locale).toBe('fr')
    expect((await renderer.render(sampleInput(base, 'reminder', 'en-US'))).locale).toBe('en')
    const german = await renderer.render({ ...sampleInput(base, 'reminder', 'de'), shop: { ...SAMPLE_SHOP, locale: 'en' } })
    expect(german.locale).toBe('en')
  })

  it('uses a subject given by the step or the experiment variant', async () => {
    const email = await renderer.render({ ...sampleInput(sample('one-item'), 'reminder', 'fr'), subject: '{{customer.firstName}}, on vous a gardé {{plural cart.count "un article" "# articles"}}' })
    expect(email.subject).toBe('Camille, on vous a gardé 2 articles')
  })
})

/** The naive pipeline: Handlebars on the MJML source, then MJML, for every email. */
async function naiveHtml(input: RenderInput, subject: string, preheader: string): Promise<string> {
  const unit = renderer.compiled.get(`${input.template}/${input.locale}`)!
  const doc = renderer.handlebars.compile(unit.sources.mjml, COMPILE_OPTIONS)(renderer.context(input), { ...RUNTIME_OPTIONS, data: { subject, preheader } })
  return (await mjml2html(doc, { validationLevel: 'strict', keepComments: false })).html
}

/**
 * The two outputs may differ only in ways no client sees: runs of whitespace (one space in HTML
 * outside <pre>, which the templates do not use), and Outlook conditional comments that close and
 * reopen around a protected helper (`<![endif]--> <!--[if mso | IE]>`), which Outlook reads as one.
 */
const collapse = (html: string) => html.replace(/\s+/g, ' ').replace(/<!\[endif\]--> ?<!--\[if mso \| IE\]>/g, '')

const itemArb: fc.Arbitrary<RenderItem> = fc.record({
  sku: fc.string({ minLength: 1, maxLength: 8 }),
  name: fc.stringMatching(/^[\p{L}\p{N}<>&"' «»€.,:;!?()\-/]{1,60}$/u).map((s) => s.trim().replace(/\s+/g, ' ')).filter((s) => s.length > 0),
  quantity: fc.integer({ min: 1, max: 20 }),
  unitAmount: fc.integer({ min: 0, max: 500_000 }),
  imageUrl: fc.option(fc.constantFrom('https://cdn.shop.example/a.jpg', 'javascript:alert(1)', 'http://x.example/b?c=d&e=f'), { nil: undefined }),
  url: fc.option(fc.constantFrom('https://shop.example/p/1', 'javascript:alert(1)', 'https://shop.example/p?a=1&b="2"'), { nil: undefined }),
  variant: fc.option(fc.constantFrom('Bleu, M', 'Rouge & noir', '<b>XL</b>'), { nil: undefined }),
})

const inputArb = fc.record({
  template: fc.constantFrom(...TEMPLATES),
  locale: fc.constantFrom(...LOCALES),
  firstName: fc.option(fc.constantFrom('Camille', 'Zoé', 'Anne-Sophie', '<b>Eve</b> & co'), { nil: null }),
  items: fc.array(itemArb, { minLength: 1, maxLength: 12 }),
  currency: fc.constantFrom('EUR', 'USD', 'JPY', 'CHF'),
  incentive: fc.option(fc.record({ kind: fc.constantFrom('percent', 'amount', 'free-shipping' as const), value: fc.integer({ min: 1, max: 50 }), code: fc.constantFrom('MERCI-1', 'A&B<C>'), expiresAt: fc.option(fc.date({ min: new Date('2026-01-01'), max: new Date('2027-01-01'), noInvalidDate: true }), { nil: null }) }), { nil: null }),
}).map(({ template, locale, firstName, items, currency, incentive }): RenderInput => ({
  ...sampleInput(sample('one-item'), template, locale),
  customer: { firstName },
  cart: { id: 'c', currency, items },
  incentive,
}))

describe('precompiled rendering', () => {
  it('equals MJML-per-email rendering (HTML) and the per-email HTML-to-text conversion (text), on random carts', async () => {
    await fc.assert(
      fc.asyncProperty(inputArb, async (input) => {
        const email = await renderer.render(input)
        expect(collapse(email.html)).toBe(collapse(await naiveHtml(input, email.subject, email.preheader)))
        expect(email.text).toBe(htmlToText(email.html))
      }),
      { numRuns: 40, seed: 20261122 },
    )
  })

  it('keeps a long cart (60 lines) equal too', async () => {
    const input = { ...sampleInput(sample('sixty-items'), 'last-chance', 'fr'), cart: { id: 'c', currency: 'EUR', items: manyItems(60) } }
    const email = await renderer.render(input)
    expect(collapse(email.html)).toBe(collapse(await naiveHtml(input, email.subject, email.preheader)))
    expect(email.text).toBe(htmlToText(email.html))
  })
})

/** The first definition of the text part's tidying (line by line), which the one-pass version must equal. */
const tidyByLine = (text: string) => text
  .split('\n')
  .map((line) => line.replace(/[ \t]+$/g, '').replace(/^[ \t]+/g, ''))
  .join('\n')
  .replace(/\n{3,}/g, '\n\n')
  .trim()

describe('text part tidying', () => {
  it('equals the line-by-line definition on random text', () => {
    const unit = fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2028', 'a', 'é', '<', '>')
    fc.assert(fc.property(fc.string({ unit, maxLength: 80 }), (text) => {
      expect(tidyText(text)).toBe(tidyByLine(text))
    }), { numRuns: 2000, seed: 20261201 })
  })
})

describe('string interpolation', () => {
  it('equals the regex replace definition on random strings and arguments', () => {
    const byRegex = (text: string, values: Record<string, unknown>) =>
      text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in values ? String(values[name]) : whole))
    const unit = fc.constantFrom('{', '}', 'a', 'b', '_', ' ', 'é', '{a}', '{b}', '{constructor}')
    const values = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(undefined), fc.constant('{a}')))
    fc.assert(fc.property(fc.string({ unit, maxLength: 30 }), values, (text, hash) => {
      expect(interpolate(text, hash)).toBe(byRegex(text, hash))
      expect(interpolate(text, hash)).toBe(byRegex(text, hash)) // from the split kept for this string
    }), { numRuns: 2000, seed: 20261201 })
  })
})

describe('sources without a mustache', () => {
  it('are printed as they are by Handlebars, escaping or not', () => {
    const unit = fc.constantFrom('{', '}', '\\', 'a', ' ', '\n', '\r', '~', '!', '>', '#', '/', '&', '<', '"', "'", '^', '=', 'é')
    const source = fc.string({ unit, maxLength: 40 }).filter((text) => !text.includes('{{'))
    fc.assert(fc.property(source, (text) => {
      for (const noEscape of [false, true]) {
        expect(renderer.handlebars.compile(text, { ...COMPILE_OPTIONS, noEscape })({}, RUNTIME_OPTIONS)).toBe(text)
      }
    }), { numRuns: 2000, seed: 20261201 })
  })

  it('give the same subject and preheader as Handlebars in every built-in template', () => {
    for (const unit of renderer.compiled.values()) {
      for (const key of ['subject', 'preheader'] as const) {
        const reference = renderer.handlebars.compile(unit.sources[key], { ...COMPILE_OPTIONS, noEscape: true })
        for (const s of SAMPLES) {
          const context = renderer.context(sampleInput(s, unit.name, unit.locale))
          expect(unit[key](context, RUNTIME_OPTIONS)).toBe(reference(context, RUNTIME_OPTIONS))
        }
      }
    }
  })
})

/** A templates folder with the given files (relative path → content). */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'relance-templates-'))
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true })
    writeFileSync(join(dir, path), content)
  }
  return dir
}

const page = (body: string, front = 'subject: "Hi {{shop.name}}"') => `---\n${front}\n---\n<mjml>\n  <mj-body>\n${body}\n  </mj-body>\n</mjml>\n`

describe('custom templates and block helpers', () => {
  it('overrides the built-ins file by file', async () => {
    const dir = folder({ 'reminder/fr.mjml': page('<mj-section><mj-column><mj-text>Coucou {{customer.firstName}} <a href="{{unsubscribeUrl}}">stop</a></mj-text></mj-column></mj-section>') })
    const custom = createTemplateRenderer({ templates: dir })
    await custom.init()
    const fr = await custom.render(sampleInput(sample('one-item'), 'reminder', 'fr'))
    expect(fr.text).toContain('Coucou Camille')
    expect(fr.subject).toBe('Hi Maison Dupont')
    const en = await custom.render(sampleInput(sample('one-item'), 'reminder', 'en'))
    expect(en.text).toContain('Hello Camille')
    expect(custom.has('last-chance')).toBe(true)
  })

  it('keeps {{#each}} between mj-sections, where MJML alone drops it silently', async () => {
    const body = `    {{#each cart.items}}
    <mj-section><mj-column><mj-text>Line: {{name}}</mj-text></mj-column></mj-section>
    {{/each}}
    <mj-section><mj-column><mj-text><a href="{{unsubscribeUrl}}">stop</a></mj-text></mj-column></mj-section>`
    // The pitfall itself: MJML drops the bare helpers without a word, even in strict mode.
    const bare = await mjml2html(`<mjml><mj-body>${body}</mj-body></mjml>`, { validationLevel: 'strict' })
    expect(bare.errors).toEqual([])
    expect(bare.html).not.toContain('{{#each')
    // Protected, each item gets its section.
    const custom = createTemplateRenderer({ templates: folder({ 'loop/en.mjml': page(body) }) })
    await custom.init()
    const email = await custom.render(sampleInput(sample('three-items'), 'loop', 'en'))
    expect(email.text.match(/^Line: /gm)).toHaveLength(3)
    expect(email.text).toContain('Line: Casquette brodée « Été »')
  })

  it('refuses at startup, with file and line: broken MJML, unknown partial, unknown variable, unsafe link, raw output, a dropped block helper', async () => {
    const cases: [string, string, RegExp][] = [
      ['broken MJML', page('<mj-section><mj-column>\n<mj-text colour="red">Hi</mj-text></mj-column></mj-section>'), /broken\/en\.mjml:7: MJML: .*colour/],
      ['unknown partial', page('{{> nope}}'), /broken\/en\.mjml:6: unknown partial "nope"/],
      ['unknown variable', page('<mj-section><mj-column><mj-text>{{custmer.firstName}}</mj-text></mj-column></mj-section>'), /broken\/en\.mjml:6: unknown variable "custmer\.firstName"/],
      ['unsafe link', page('<mj-section><mj-column><mj-button href="{{customer.firstName}}">x</mj-button></mj-column></mj-section>'), /broken\/en\.mjml:6: href="\{\{customer\.firstName\}\}" may not start with a variable/],
      ['raw output', page('<mj-section><mj-column><mj-text>{{{customer.firstName}}}</mj-text></mj-column></mj-section>'), /broken\/en\.mjml:6: triple braces/],
      ['helper in the head', `---\nsubject: x\n---\n<mjml>\n<mj-head>\n{{#if customer.firstName}}<mj-title>x</mj-title>{{/if}}\n</mj-head>\n<mj-body></mj-body>\n</mjml>\n`, /broken\/en\.mjml:6: \{\{#if customer\.firstName\}\} was dropped by MJML/],
      ['no subject', page('', 'preheader: x'), /broken\/en\.mjml:1: the front matter has no subject/],
      ['unknown front matter', page('', 'subjet: x'), /broken\/en\.mjml:2: unknown front matter key "subjet"/],
    ]
    for (const [label, source, message] of cases) {
      const custom = createTemplateRenderer({ templates: folder({ 'broken/en.mjml': source }) })
      const error = await custom.init().then(() => null, (e: unknown) => e)
      expect(error, label).toMatchObject({ code: 'TEMPLATE_ERROR' })
      expect((error as Error).message, label).toMatch(message)
    }
  })
})
