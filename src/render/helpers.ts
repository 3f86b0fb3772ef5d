/**
 * The Handlebars dialect marketers write: an isolated instance (nothing registered globally can
 * leak in), strict mode (a misspelt variable is an error, not an empty string), only the helpers
 * below (`knownHelpersOnly`), HTML escaping on, no prototype access.
 */
import { TZDate } from '@date-fns/tz'
import { format as formatDate, type Locale } from 'date-fns'
import { enGB, enUS, fr } from 'date-fns/locale'
import Handlebars from 'handlebars'
import { BoundedMap } from '../bounded-map.js'

/** Helpers a template may call. Anything else fails at compile time. */
export const HELPER_NAMES = ['money', 'date', 'plural', 't', 'eq', 'gt'] as const

export type Strings = Readonly<Record<string, string>>

/** Per-call state the helpers read through `@root`; never data a template can reach by name. */
export interface HelperRoot {
  locale: string
  timeZone: string
  currency: string
}

const DATE_LOCALES: Record<string, Locale> = { fr, en: enGB, 'en-GB': enGB, 'en-US': enUS }

function dateLocale(tag: string): Locale {
  return DATE_LOCALES[tag] ?? DATE_LOCALES[tag.split('-')[0]!] ?? enGB
}

// Building an Intl formatter costs about as much as rendering a whole email: keep them.
const moneyFormats = new Map<string, { format: Intl.NumberFormat; divisor: number; texts: BoundedMap<number, string> }>()
const percentFormats = new Map<string, Intl.NumberFormat>()

/** Integer minor units → `49,90 €` (fr) or `€49.90` (en), with the currency's own decimals. */
export function formatMoney(minor: number, currency: string, locale: string): string {
  const key = `${locale}|${currency}`
  let entry = moneyFormats.get(key)
  if (entry === undefined) {
    const format = new Intl.NumberFormat(locale, { style: 'currency', currency })
    entry = { format, divisor: 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2), texts: new BoundedMap() }
    moneyFormats.set(key, entry)
  }
  // A catalogue repeats its prices and formatting one costs about 0.4 µs: format each amount
  // once. -0 (`-0,00 €`) is not kept, as a Map holds it under the key 0.
  if (Object.is(minor, -0)) return entry.format.format(minor / entry.divisor)
  let text = entry.texts.get(minor)
  if (text === undefined) entry.texts.set(minor, (text = entry.format.format(minor / entry.divisor)))
  return text
}

/** `10 %` (fr) or `10%` (en) from a whole percentage. */
export function formatPercent(percent: number, locale: string): string {
  let format = percentFormats.get(locale)
  if (format === undefined) percentFormats.set(locale, (format = new Intl.NumberFormat(locale, { style: 'percent' })))
  return format.format(percent / 100)
}

const dates = new BoundedMap<string, string>()

/** A date in the recipient's zone with a date-fns pattern (`PPP` by default: `12 juin 2026`). */
export function formatLocalDate(at: Date, pattern: string, locale: string, timeZone: string): string {
  // Codes of one campaign share their end date: formatting it once per batch is enough.
  const key = `${at.getTime()}|${pattern}|${locale}|${timeZone}`
  let text = dates.get(key)
  if (text === undefined) dates.set(key, (text = formatDate(new TZDate(at.getTime(), timeZone), pattern, { locale: dateLocale(locale) })))
  return text
}

const plurals = new Map<string, Intl.PluralRules>()

/** `one` or `other` form for a count in this locale (French counts 0 and 1 as singular). */
export function pluralForm(count: number, locale: string): 'one' | 'other' {
  let rules = plurals.get(locale)
  if (rules === undefined) plurals.set(locale, (rules = new Intl.PluralRules(locale)))
  return rules.select(count) === 'one' ? 'one' : 'other'
}

/** Each translated string split once around its `{name}` placeholders: literal, name, literal, … */
const placeholders = new BoundedMap<string, string[]>()

/**
 * Replaces `{name}` in a string with hash arguments: `{{t "cart.more" count=3}}`. Several calls per
 * email: joining the split string costs a tenth of a regex replace with a callback.
 */
export function interpolate(text: string, values: Record<string, unknown>): string {
  let parts = placeholders.get(text)
  if (parts === undefined) placeholders.set(text, (parts = text.split(/\{(\w+)\}/)))
  let out = parts[0]!
  for (let i = 1; i < parts.length; i += 2) {
    const name = parts[i]!
    out += (name in values ? String(values[name]) : `{${name}}`) + parts[i + 1]!
  }
  return out
}

/**
 * Creates the isolated instance. `strings(locale)` gives the translated strings of a locale for
 * `{{t}}` (already resolved through the fallback chain by the caller).
 */
export function createHandlebars(strings: (locale: string) => Strings): typeof Handlebars {
  const hb = Handlebars.create()
  const root = (options: Handlebars.HelperOptions): HelperRoot => options.data.root as HelperRoot

  hb.registerHelper('money', function (this: unknown, amount: unknown, ...rest: unknown[]) {
    const options = rest.pop() as Handlebars.HelperOptions
    const r = root(options)
    const currency = typeof rest[0] === 'string' ? rest[0] : r.currency
    if (typeof amount !== 'number' || !Number.isFinite(amount)) throw new Error('money needs an amount in minor units (a number)')
    return formatMoney(amount, currency, r.locale)
  })

  hb.registerHelper('date', function (this: unknown, at: unknown, ...rest: unknown[]) {
    const options = rest.pop() as Handlebars.HelperOptions
    const r = root(options)
    const pattern = typeof rest[0] === 'string' ? rest[0] : 'PPP'
    const date = at instanceof Date ? at : typeof at === 'string' || typeof at === 'number' ? new Date(at) : null
    if (date === null || Number.isNaN(date.getTime())) return ''
    return formatLocalDate(date, pattern, r.locale, r.timeZone)
  })

  hb.registerHelper('plural', function (this: unknown, count: unknown, one: unknown, other: unknown, options: Handlebars.HelperOptions) {
    if (typeof count !== 'number') throw new Error('plural needs a number: {{plural count "article" "articles"}}')
    const form = pluralForm(count, root(options).locale) === 'one' ? one : other
    return String(form).replace(/#/g, String(count))
  })

  hb.registerHelper('t', function (this: unknown, key: unknown, options: Handlebars.HelperOptions) {
    const r = root(options)
    const table = strings(r.locale)
    if (typeof key !== 'string' || !(key in table)) throw new Error(`unknown string ${JSON.stringify(key)} for locale ${r.locale}`)
    return interpolate(table[key]!, options.hash as Record<string, unknown>)
  })

  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b)
  hb.registerHelper('gt', (a: unknown, b: unknown) => typeof a === 'number' && typeof b === 'number' && a > b)
  return hb
}

export const COMPILE_OPTIONS = {
  strict: true,
  knownHelpersOnly: true,
  knownHelpers: Object.fromEntries(HELPER_NAMES.map((name) => [name, true])),
  // `{{#if}}` / `{{#each}}` over absent optional values must not throw in strict mode.
  assumeObjects: false,
} as const

export const RUNTIME_OPTIONS = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
} as const
