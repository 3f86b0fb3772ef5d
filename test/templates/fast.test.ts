/**
 * The fast path (src/render/fast.ts) against Handlebars, its definition: on the built-in templates
 * with random carts, and on random templates of the supported subset with random contexts. Where
 * Handlebars returns, the fast function returns the same text or gives up; where Handlebars
 * throws, the fast function gives up too, and the delegate throws Handlebars' own error.
 */
import fc from 'fast-check'
import type Handlebars from 'handlebars'
import { beforeAll, describe, expect, it } from 'vitest'
import { tidyText } from '../../src/render/compile.js'
import { RUNTIME_FOR_TESTS, compileFast, withFallback, type FastOptions } from '../../src/render/fast.js'
import { COMPILE_OPTIONS, RUNTIME_OPTIONS, createHandlebars } from '../../src/render/helpers.js'
import { createTemplateRenderer, type CompiledTemplate, type TemplateRenderer } from '../../src/render/renderer.js'
import { SAMPLE_SHOP, SAMPLES } from '../../src/render/samples.js'
import type { RenderIncentive, RenderInput, RenderItem } from '../../src/render/types.js'

type Outcome = { ok: true; value: string } | { ok: false; error: Error }

function outcome(render: () => string): Outcome {
  try {
    return { ok: true, value: render() }
  } catch (error) {
    return { ok: false, error: error as Error }
  }
}

const SOURCES = ['html', 'text', 'subject', 'preheader'] as const

let renderer: TemplateRenderer
beforeAll(async () => {
  renderer = createTemplateRenderer()
  await renderer.init()
})

// ---- (a) the built-in templates, random carts ---------------------------------------------------

const NAMES = ['Chemise en lin lavé', 'a<b>c & "d" \'e\' =f `g`', 'Été 😀 — naïve façade', '<script>alert(1)</script>', 'x'.repeat(120), '  spaced  ', 'Line\nbreak']
const URLS = [undefined, 'https://shop.example/p/1', 'https://shop.example/p?a=1&b="2"', 'javascript:alert(1)', 'http://cdn.example/i.png?w=64&h=64', '/relative', 'data:text/html,<b>x</b>']

const itemArb: fc.Arbitrary<RenderItem> = fc.record({
  sku: fc.string({ minLength: 1, maxLength: 6 }),
  name: fc.oneof(fc.constantFrom(...NAMES), fc.string({ unit: fc.constantFrom('a', 'é', ' ', '<', '>', '&', '"', "'", '=', '`', '😀', '\u00a0'), minLength: 1, maxLength: 30 })),
  quantity: fc.integer({ min: 1, max: 12 }),
  unitAmount: fc.integer({ min: 0, max: 500_000 }),
  imageUrl: fc.constantFrom(...URLS),
  url: fc.constantFrom(...URLS),
  variant: fc.constantFrom(undefined, 'Bleu, M', 'Rouge & noir', '<b>XL</b>'),
})

const incentiveArb: fc.Arbitrary<RenderIncentive | null> = fc.option(fc.record({
  kind: fc.constantFrom('percent', 'amount', 'free-shipping' as const),
  value: fc.integer({ min: 0, max: 5_000 }),
  code: fc.constantFrom('MERCI-7QX2', 'A&B<C>"=', 'été'),
  expiresAt: fc.option(fc.date({ min: new Date('2026-01-01'), max: new Date('2027-01-01'), noInvalidDate: true }), { nil: null }),
}), { nil: null })

const inputArb: fc.Arbitrary<Omit<RenderInput, 'template' | 'locale'>> = fc.record({
  firstName: fc.constantFrom(null, 'Camille', 'Zoé', '<b>Eve</b> & co', ' Anne ', ''),
  items: fc.oneof(fc.array(itemArb, { maxLength: 4 }), fc.array(itemArb, { minLength: 8, maxLength: 70 })),
  currency: fc.constantFrom('EUR', 'USD', 'JPY', 'CHF'),
  incentive: incentiveArb,
  logoUrl: fc.constantFrom(null, SAMPLE_SHOP.logoUrl, 'javascript:x'),
  address: fc.constantFrom(null, SAMPLE_SHOP.address, 'Rue <&> "1"'),
  phone: fc.constantFrom(null, SAMPLE_SHOP.phone),
  supportUrl: fc.constantFrom(null, SAMPLE_SHOP.supportUrl),
  replyTo: fc.constantFrom(null, SAMPLE_SHOP.replyTo),
  step: fc.integer({ min: 0, max: 2 }),
  token: fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', '_', '=', '&'), maxLength: 24 }),
}).map(({ firstName, items, currency, incentive, logoUrl, address, phone, supportUrl, replyTo, step, token }) => ({
  ...SAMPLES[0]!.input,
  shop: { ...SAMPLE_SHOP, logoUrl, address, phone, supportUrl, replyTo },
  customer: { firstName },
  cart: { id: 'c', currency, items },
  incentive,
  restoreUrl: `https://shop.example/panier/restaurer?token=${token}`,
  unsubscribeUrl: `https://shop.example/relance/unsubscribe?token=${token}&x="1"`,
  step: { id: 's', index: step, count: 3 },
}))

/** What `renderUnit` did with Handlebars alone before the fast path. */
function referenceEmail(unit: CompiledTemplate, input: RenderInput) {
  const compile = (key: (typeof SOURCES)[number]) => renderer.handlebars.compile(unit.sources[key], { ...COMPILE_OPTIONS, noEscape: key !== 'html' })
  const context = renderer.context(input)
  const oneLine = (text: string) => text.replace(/[ \t\r\n\f\v\u2028\u2029]+/g, ' ').trim()
  const subject = oneLine(compile('subject')(context, RUNTIME_OPTIONS))
  const preheader = oneLine(compile('preheader')(context, RUNTIME_OPTIONS))
  const options = { data: { subject, preheader }, ...RUNTIME_OPTIONS }
  return { subject, preheader, html: compile('html')(context, options), text: tidyText(compile('text')(context, options)), locale: unit.locale }
}

describe('fast path on the built-in templates', () => {
  it('covers every built-in template × locale (html, tidied text, subject, preheader)', () => {
    expect(renderer.compiled.size).toBeGreaterThanOrEqual(6)
    for (const unit of renderer.compiled.values()) {
      for (const key of SOURCES) {
        if (!unit.sources[key].includes('{{')) continue
        expect(compileFast(renderer.handlebars, unit.sources[key], { noEscape: key !== 'html', tidy: key === 'text' }), `${unit.name}/${unit.locale} ${key}`).not.toBeNull()
      }
    }
  })

  it('renders exactly what Handlebars renders, without falling back, on random carts', () => {
    const units = [...renderer.compiled.values()]
    const fast = new Map(units.map((unit) => [unit, Object.fromEntries(SOURCES.map((key) => [key, compileFast(renderer.handlebars, unit.sources[key], { noEscape: key !== 'html', tidy: key === 'text' })])) as Record<(typeof SOURCES)[number], ReturnType<typeof compileFast>>]))
    fc.assert(fc.property(inputArb, (partial) => {
      for (const unit of units) {
        const input: RenderInput = { ...partial, template: unit.name, locale: unit.locale }
        const expected = referenceEmail(unit, input)
        const context = renderer.context(input)
        const options = { data: { subject: expected.subject, preheader: expected.preheader }, ...RUNTIME_OPTIONS }
        for (const key of SOURCES) {
          const fn = fast.get(unit)![key]
          if (fn === null) continue // no mustache: a constant
          // No throw here: on real carts the fast path is the path taken.
          const value = fn(context, key === 'html' || key === 'text' ? options : RUNTIME_OPTIONS)
          if (key === 'html' || key === 'text') expect(value).toBe(expected[key])
          else expect(value.replace(/[ \t\r\n\f\v\u2028\u2029]+/g, ' ').trim()).toBe(expected[key])
        }
        // And through the renderer (delegates, subject normalisation, tidied text).
        expect(renderer.renderUnit(unit, input)).toEqual(expected)
      }
    }), { numRuns: 100, seed: 20261205 })
  })

  it('renders subject overrides like Handlebars', async () => {
    const overrides = [
      '{{customer.firstName}}, {{cart.count}} {{cart.lines}}  articles\n',
      '{{#if incentive}}{{incentive.value}} {{incentive.expires}}{{else}}{{shop.name}}{{/if}}',
      '{{#each cart.items}}{{name}}{{#unless @last}}, {{/unless}}{{/each}}',
      '{{cart.count}}{{cart.lines}}',
      '{{plural cart.count "# article" "# articles"}} — {{money cart.subtotalAmount}}',
    ]
    await fc.assert(fc.asyncProperty(inputArb, fc.constantFrom(...overrides), fc.constantFrom('reminder', 'last-chance'), fc.constantFrom('fr', 'en'), async (partial, subject, template, locale) => {
      const input: RenderInput = { ...partial, template, locale, subject }
      const reference = renderer.handlebars.compile(subject, { ...COMPILE_OPTIONS, noEscape: true })(renderer.context(input), RUNTIME_OPTIONS)
      expect((await renderer.render(input)).subject).toBe(reference.replace(/[ \t\r\n\f\v\u2028\u2029]+/g, ' ').trim())
    }), { numRuns: 60, seed: 20261205 })
  })
})

// ---- (b) random templates of the subset, random contexts ----------------------------------------

const STRINGS: Record<string, string> = { k: 'K {x}!', one: '# one', many: '# many', 'a.b': '<{x}> & {y}' }
const hb: typeof Handlebars = createHandlebars(() => STRINGS)

/** Paths that every generated context can resolve, and paths that often fail in strict mode. */
const PATHS = [
  'n', 'z', 's', 't', 'f', 'd', 'nul', 'items', 'empty', 'obj', 'fn', 'proto', 'holes', 'this', '.', './n', 'this.n',
  '@root.n', '@root.s', '@root.items', 's.length', 'items.length', '[n]',
]
const RISKY_PATHS = [
  'a', 'b', 'obj.a', 'obj.n', 'obj.obj.a', 'obj.[n]', 'missing', 'missing.a', 'nul.a', 'proto.a', 'a.length', 'this.a',
  '../a', '../n', '../items', '../../a', '../this', '@index', '@first', '@last', '@key', '@root', '@root.a', '@subject',
  '@preheader', '@missing', '@index.x',
]
const LITERALS = ['"x"', '"<&>"', "'q'", '1', '0', '-1', '1.5', 'true', 'false', 'null', 'undefined']

const pathArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...PATHS) }, { weight: 2, arbitrary: fc.constantFrom(...RISKY_PATHS) })
const expressionArb: fc.Arbitrary<string> = fc.letrec<{ expression: string; call: string }>((tie) => ({
  expression: fc.oneof({ maxDepth: 2, depthSize: 'small' }, pathArb, fc.constantFrom(...LITERALS), tie('call').map((call) => `(${call})`)),
  call: fc.oneof(
    fc.tuple(tie('expression'), tie('expression')).map(([x, y]) => `eq ${x} ${y}`),
    fc.tuple(tie('expression'), tie('expression')).map(([x, y]) => `gt ${x} ${y}`),
    fc.constantFrom('t "k"', 't "one"', 't "nope"', 't a').chain((call) => fc.option(tie('expression'), { nil: undefined }).map((x) => (x === undefined ? call : `${call} x=${x}`))),
    fc.tuple(tie('expression'), tie('expression')).map(([x, y]) => `t "a.b" y=${y} x=${x}`),
    tie('expression').map((x) => `plural ${x} "one" "# many"`),
    tie('expression').map((x) => `plural ${x} (t "one") (t "many")`),
    fc.tuple(tie('expression'), fc.constantFrom('', ' "USD"', ' "JPY"')).map(([x, c]) => `money ${x}${c}`),
    fc.tuple(tie('expression'), fc.constantFrom('', ' "yyyy-MM-dd"')).map(([x, p]) => `date ${x}${p}`),
  ),
})).expression

const open = fc.constantFrom('{{', '{{~')
const close = fc.constantFrom('}}', '~}}')
const TEXT = ['x', ' ', '  ', '\n', '\n\n', ' \n ', '\t', '<b>', '&amp;', 'é😀', '=', '\u00a0', 'a\nb', '\\{{a}}', '{{! note }}', '{{!-- c --}}']

const templateArb: fc.Arbitrary<string> = fc.letrec<{ nodes: string; node: string; block: string }>((tie) => ({
  nodes: fc.array(tie('node'), { maxLength: 5 }).map((nodes) => nodes.join('')),
  node: fc.oneof(
    { maxDepth: 3, depthSize: 'small' },
    fc.constantFrom(...TEXT),
    fc.tuple(open, pathArb, close).map(([o, p, c]) => `${o}${p}${c}`),
    fc.tuple(open, fc.constantFrom('eq', 'gt', 't', 'plural', 'money', 'date'), expressionArb, close).map(([o, name, x, c]) => `${o}${name} ${x}${name === 't' || name === 'plural' ? ' "one" "# many"' : ''}${c}`),
    expressionArb.map((x) => `{{eq ${x} 1}}`),
    pathArb.map((p) => `{{{${p}}}}`),
    pathArb.map((p) => `{{& ${p}}}`),
    tie('block'),
  ),
  block: fc.record({
    kind: fc.constantFrom('if', 'if', 'unless', 'each', 'each', 'with', 'if-chain', 'inverted', 'include-zero', 'section', 'block-params', 'lookup'),
    argument: fc.oneof(pathArb, expressionArb),
    body: tie('nodes'),
    inverse: fc.option(tie('nodes'), { nil: undefined }),
    standalone: fc.boolean(),
    tildes: fc.tuple(open, close, open, close),
  }).map(({ kind, argument, body, inverse, standalone, tildes: [o1, c1, o2, c2] }) => {
    const nl = standalone ? '\n  ' : ''
    const end = standalone ? '\n' : ''
    const elseTag = inverse === undefined ? '' : `${nl}{{else}}${end}${inverse}`
    switch (kind) {
      case 'if-chain': return `${nl}${o1}#if ${argument}${c1}${end}${body}${nl}{{else if ${argument === 'z' ? 'n' : 'z'}}}${end}${inverse ?? ''}${nl}${o2}/if${c2}${end}`
      case 'inverted': return `${nl}${o1}^if ${argument}${c1}${end}${body}${nl}${o2}/if${c2}${end}`
      case 'include-zero': return `${o1}#if ${argument} includeZero=true${c1}${body}${elseTag}${o2}/if${c2}`
      // Outside the subset (the fast path must fall back, or refuse the template, and still agree).
      case 'section': return `{{#items}}${body}{{/items}}`
      case 'block-params': return `{{#each items as |item i|}}{{item.a}}{{i}}${body}{{/each}}`
      case 'lookup': return `{{lookup obj "a"}}${body}`
      default: return `${nl}${o1}#${kind} ${argument}${c1}${end}${body}${elseTag}${nl}${o2}/${kind}${c2}${end}`
    }
  }),
})).nodes

class WithGetter {
  get a(): string {
    return 'inherited'
  }
}

const leafArb = fc.oneof(
  fc.constantFrom('', 'x', '<a href="x">&\'`=</a>', 'é 😀', ' pad ', '\n line \n', 'a\n\n b', '\u00a0nbsp\u00a0', '0', 'true'),
  fc.integer({ min: -3, max: 5 }),
  fc.constantFrom(0, -0, 1.5, NaN, true, false, null, undefined),
  fc.constant(new Date('2026-06-17T21:59:00Z')),
)
const valueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown; object: Record<string, unknown>; array: unknown[] }>((tie) => ({
  value: fc.oneof({ maxDepth: 3, depthSize: 'small' }, leafArb, tie('object'), tie('array')),
  object: fc.tuple(fc.dictionary(fc.constantFrom('a', 'b', 'n', 's', 'z', 'nul', 'obj', 'items', 'x'), tie('value'), { maxKeys: 5 }), fc.boolean())
    .map(([object, bare]) => (bare ? Object.assign(Object.create(null) as Record<string, unknown>, object) : object)),
  array: fc.array(tie('value'), { maxLength: 4 }),
})).value
const objectArb = fc.dictionary(fc.constantFrom('a', 'b', 'n', 's', 'z', 'nul', 'obj', 'items', 'x'), valueArb, { maxKeys: 5 })

const contextArb = fc.record({
  a: valueArb, b: valueArb, n: fc.integer({ min: -2, max: 3 }), z: fc.constant(0), s: fc.constantFrom('<&>"\'`=', 'plain', ' \n '),
  nul: fc.constant(null), t: fc.constant(true), f: fc.constant(false), d: fc.constant(new Date('2026-06-17T21:59:00Z')),
  items: fc.array(fc.oneof(objectArb, leafArb), { maxLength: 4 }), empty: fc.constant([]), obj: objectArb,
  fn: fc.constant(() => 'lambda'), proto: fc.constant(new WithGetter()), holes: fc.constant([{ a: 1 }, , { a: 3 }]), // eslint-disable-line no-sparse-arrays
  locale: fc.constantFrom('fr', 'en'), currency: fc.constantFrom('EUR', 'JPY'), timeZone: fc.constant('Europe/Paris'),
}, { requiredKeys: ['n', 'z', 's', 'nul', 't', 'f', 'd', 'items', 'empty', 'obj', 'fn', 'proto', 'holes', 'locale', 'currency', 'timeZone'] })

const optionsArb: fc.Arbitrary<FastOptions | undefined> = fc.constantFrom<FastOptions | undefined>(
  RUNTIME_OPTIONS,
  { data: { subject: 'S <&> "s"', preheader: 'P\npre' }, ...RUNTIME_OPTIONS },
  { data: { subject: 3 }, ...RUNTIME_OPTIONS },
  { data: { root: { a: 'data root' } }, ...RUNTIME_OPTIONS },
)

describe('fast path on random templates of the subset', () => {
  it('returns what Handlebars returns, or gives up; where Handlebars throws, the delegate throws its error', () => {
    const seen = { renders: 0, compiled: 0, handlebarsRendered: 0, fastRendered: 0, handlebarsThrew: 0 }
    fc.assert(fc.property(templateArb, contextArb, optionsArb, fc.boolean(), (source, context, options, noEscape) => {
      const compileOptions = { ...COMPILE_OPTIONS, noEscape }
      try {
        hb.precompile(source, compileOptions)
      } catch {
        return // refused at startup by compileHbs: nothing renders it
      }
      const reference = hb.compile(source, compileOptions)
      for (const tidy of noEscape ? [false, true] : [false]) {
        seen.renders++
        const slow: Handlebars.TemplateDelegate = tidy ? (c, o) => tidyText(reference(c, o)) : reference
        const expected = outcome(() => slow(context, options))
        const fast = compileFast(hb, source, { noEscape, tidy })
        if (fast !== null) {
          seen.compiled++
          const got = outcome(() => fast(context, options))
          if (expected.ok) seen.handlebarsRendered++
          else seen.handlebarsThrew++
          if (got.ok) {
            seen.fastRendered++
            expect(expected, `Handlebars threw, the fast path returned ${JSON.stringify(got.value)}`).toEqual({ ok: true, value: got.value })
          }
        }
        const delegate = outcome(() => withFallback(fast, slow)(context, options))
        if (expected.ok) expect(delegate).toEqual(expected)
        else {
          expect(delegate.ok).toBe(false)
          if (!delegate.ok) expect([delegate.error.constructor, delegate.error.message]).toEqual([expected.error.constructor, expected.error.message])
        }
      }
    }), { numRuns: 3000, seed: 20261205 })
    // Worth something only if the fast path compiles most templates, renders most of what
    // Handlebars renders, and meets many errors.
    expect(seen.compiled / seen.renders).toBeGreaterThan(0.7)
    expect(seen.fastRendered / seen.handlebarsRendered).toBeGreaterThan(0.6)
    expect(seen.handlebarsThrew).toBeGreaterThan(300)
  })

  it('equals Handlebars on hand-picked corners', () => {
    const cases: [string, unknown, boolean?][] = [
      ['{{a}}{{b}}', { a: 1, b: 2 }, true], // Handlebars adds: "3"
      ['{{#if t}}{{a}}{{/if}}{{b}}', { t: true, a: 1, b: true }, true],
      ['{{a}}{{#if t}}{{b}}{{/if}}', { t: true, a: 1, b: 2 }, true],
      ['{{a}}{{b}}x', { a: true, b: 1 }, true],
      ['{{n}}{{#each n}}{{else}}{{eq "x"}}{{/each}}', { n: 0 }, true], // each returns its {{else}} raw: 0 + false
      ['{{eq a b}}{{gt a b}}', { a: 1, b: 1 }, true],
      ['{{#each items}}{{@index}}{{@first}}{{@last}}{{@key}}{{this}}{{/each}}', { items: ['a', 'b', 0] }],
      ['{{#each items}}{{../n}}{{/each}}', { n: 5, items: [{ n: 1 }, { n: 2 }] }],
      ['{{#with obj}}{{a}}{{../a}}{{else}}none{{/with}}', { a: 'top', obj: { a: 'in' } }],
      ['{{#with obj}}{{a}}{{else}}none{{/with}}', { obj: [] }],
      ['{{#with z}}[{{this}}]{{else}}none{{/with}}{{#with empty}}x{{else}}none{{/with}}', { z: 0, empty: [] }],
      ['{{#with this}}{{../a}}{{/with}}', { a: 'a' }],
      ['{{#if z includeZero=true}}zero{{else}}no{{/if}}', { z: 0 }],
      ['{{#unless empty}}empty{{/unless}}', { empty: [] }],
      ['{{@root.a}}{{#each items}}{{@root.a}}{{/each}}', { a: '<', items: [1] }],
      ['{{money n}} {{money n "JPY"}} {{plural n "# a" "# b"}} {{t "k" x=n}}', { n: 1234, locale: 'fr', currency: 'EUR' }],
      ['  {{#if t}}\n  line\n  {{/if}}\n', { t: true }],
      ['{{~a~}}  {{b}} ', { a: 'x', b: 'y' }],
      ['{{-0}}{{money -0}}', { locale: 'fr', currency: 'EUR' }],
      ['{{fn}}|{{{fn}}}', { fn: () => 'lambda' }],
      ['{{fn}}', { fn: () => 'lambda' }, true],
      ['{{#each items}}{{#if this}}{{this}}{{else}}{{this}}{{/if}}{{/each}}', { items: [null, 1, undefined] }],
      ['{{#with obj}}{{a}}{{/with}}', { obj: new WithGetter() }],
    ]
    for (const [source, context, noEscape = false] of cases) {
      for (const tidy of noEscape ? [false, true] : [false]) {
        const reference = hb.compile(source, { ...COMPILE_OPTIONS, noEscape })
        const fast = compileFast(hb, source, { noEscape, tidy })
        const expected = outcome(() => (tidy ? tidyText(reference(context, RUNTIME_OPTIONS)) : reference(context, RUNTIME_OPTIONS)))
        if (fast === null) continue
        const got = outcome(() => fast(context, RUNTIME_OPTIONS))
        if (got.ok) expect(got, source).toEqual(expected)
      }
    }
    // The first cases must not fall back: they are the point.
    expect(compileFast(hb, '{{a}}{{b}}', { noEscape: true })!({ a: 1, b: 2 }, RUNTIME_OPTIONS)).toBe('3')
    expect(() => compileFast(hb, '{{a}}{{b}}', { noEscape: true, tidy: true })!({ a: 1, b: 2 }, RUNTIME_OPTIONS)).toThrow()
    expect(compileFast(hb, '{{a}}{{b}}', { noEscape: true, tidy: true })!({ a: 1, b: '2' }, RUNTIME_OPTIONS)).toBe('12')
  })

  it('tidies the text part like tidyText, values and literal text alike', () => {
    const unit = fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2028', '\ufeff', 'a', 'é', '<')
    const text = fc.string({ unit, maxLength: 24 })
    fc.assert(fc.property(fc.array(fc.tuple(text, text), { maxLength: 4 }), text, (pairs, tail) => {
      // Literal text and values alternate; the values are `v0`, `v1`…
      const source = pairs.map(([literal], index) => `${literal.replace(/[{}\\]/g, '')}{{v${index}}}`).join('') + tail
      const context = Object.fromEntries(pairs.map(([, value], index) => [`v${index}`, value]))
      const expected = tidyText(hb.compile(source, { ...COMPILE_OPTIONS, noEscape: true })(context, RUNTIME_OPTIONS))
      expect(compileFast(hb, source, { noEscape: true, tidy: true })!(context, RUNTIME_OPTIONS)).toBe(expected)
    }), { numRuns: 3000, seed: 20261205 })
  })

  it('escapes like Handlebars', () => {
    const { escapeString } = RUNTIME_FOR_TESTS
    const unit = fc.constantFrom('&', '<', '>', '"', "'", '`', '=', 'a', ' ', 'é', '😀', '\n')
    fc.assert(fc.property(fc.string({ unit, maxLength: 30 }), (text) => {
      expect(escapeString(text)).toBe(hb.escapeExpression(text))
    }), { numRuns: 2000, seed: 20261205 })
  })
})

// ---- (c) what the fast path leaves to Handlebars ------------------------------------------------

describe('fast path refusals', () => {
  it('returns null outside the subset', () => {
    const refused = [
      '{{> partial}}', '{{#> layout}}x{{/layout}}', '{{#*inline "p"}}x{{/inline}}', '{{* decorator}}',
      '{{{{raw}}}} {{x}} {{{{/raw}}}}', '{{#each items as |item|}}{{item}}{{/each}}', '{{#with obj as |o|}}{{o}}{{/with}}',
      '{{#each items key="a"}}x{{/each}}', '{{#with obj x=1}}{{/with}}', '{{lookup obj "a"}}', '{{log a}}', '{{#items}}x{{/items}}',
      '{{^items}}x{{/items}}', '{{#if}}x{{/if}}', '{{#if a b}}x{{/if}}', '{{#each}}x{{/each}}', '{{unknown 1}}', '{{#unknown a}}x{{/unknown}}',
      '{{@../index}}', '{{this.money 1}}', '{{a.b c}}', '{{if a}}', '{{each}}', '{{(t "k")}}', '{{#t "k"}}x{{/t}}', '{{"literal"}}',
      '{{constructor}}', '{{a.__proto__}}', '{{t "k" __proto__=1}}', '{{t "k" x=1 x=2}}', '{{a', '{{#if a}}',
    ]
    for (const source of refused) expect(compileFast(hb, source), source).toBeNull()
    // The tidied text exists only unescaped.
    expect(compileFast(hb, '{{a}}', { tidy: true })).toBeNull()
    // An instance whose block helper was replaced keeps Handlebars for that helper.
    const replaced = createHandlebars(() => STRINGS)
    replaced.registerHelper('if', () => 'mine')
    expect(compileFast(replaced, '{{#if a}}x{{/if}}')).toBeNull()
    expect(compileFast(replaced, '{{#unless a}}x{{/unless}}')).toBeNull() // Handlebars' unless calls the instance's if
    expect(compileFast(replaced, '{{a}}')).not.toBeNull()
  })
})
