/**
 * Validation primitives shared by option resolution (`INVALID_CONFIG`) and method input
 * (`INVALID_INPUT`). Each takes the dotted field path so the error names the field and the rule.
 */
import type { Duration } from 'date-fns'
import { RelanceError } from './errors.js'

export type Fail = (field: string, rule: string) => RelanceError

export const failInput: Fail = (field, rule) => new RelanceError('INVALID_INPUT', `${field} ${rule}`, { field })
export const failConfig: Fail = (field, rule) =>
  new RelanceError('INVALID_CONFIG', `option ${field} ${rule}`, { field })

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value === 'object' ? 'an object' : typeof value
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

export function objectOf(value: unknown, field: string, fail: Fail): Record<string, unknown> {
  if (!isPlainObject(value)) throw fail(field, `must be an object (got ${describe(value)})`)
  return value
}

/** Rejects keys the caller did not mean to send: a typo must not pass silently. */
export function knownKeys(value: Record<string, unknown>, keys: readonly string[], field: string, fail: Fail): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) {
      const path = field === '' ? key : `${field}.${key}`
      throw fail(path, `is not a known field (expected one of: ${keys.join(', ')})`)
    }
  }
}

// C0 controls and DEL, plus the Unicode line/paragraph separators: none belong in names or ids,
// and CR/LF would let a value add a mail header.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/

export function stringOf(
  value: unknown,
  field: string,
  fail: Fail,
  rules: { max?: number; min?: number; allowControl?: boolean } = {},
): string {
  if (typeof value !== 'string') throw fail(field, `must be a string (got ${describe(value)})`)
  const min = rules.min ?? 1
  const max = rules.max ?? 500
  if (value.trim().length < min) throw fail(field, min === 1 ? 'must not be empty' : `must have at least ${min} characters`)
  if (value.length > max) throw fail(field, `must be at most ${max} characters (got ${value.length})`)
  if (!rules.allowControl && CONTROL.test(value)) throw fail(field, 'must not contain control characters (CR, LF, tab, NUL…)')
  return value
}

export function optionalString(
  value: unknown,
  field: string,
  fail: Fail,
  rules: { max?: number } = {},
): string | undefined {
  return value === undefined ? undefined : stringOf(value, field, fail, rules)
}

/** An id from the shop: a non-empty string (or a safe integer, stringified) without controls. */
export function idOf(value: unknown, field: string, fail: Fail): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value)
  return stringOf(value, field, fail, { max: 200 })
}

export function integerOf(value: unknown, field: string, fail: Fail, rules: { min?: number; max?: number } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw fail(field, `must be a number (got ${describe(value)})`)
  if (!Number.isInteger(value)) throw fail(field, `must be an integer (got ${value}); amounts are integer minor units, e.g. 4990 for 49.90`)
  const min = rules.min ?? 0
  const max = rules.max ?? Number.MAX_SAFE_INTEGER
  if (value < min) throw fail(field, `must be at least ${min} (got ${value})`)
  if (value > max) throw fail(field, `must be at most ${max} (got ${value})`)
  return value
}

export function booleanOf(value: unknown, field: string, fail: Fail): boolean {
  if (typeof value !== 'boolean') throw fail(field, `must be true or false (got ${describe(value)})`)
  return value
}

// Deliberately simple: one @, no spaces or controls, a dotted domain. RFC 5322 allows far more,
// but shops collect addresses through forms, and anything exotic is more likely a typo.
const EMAIL = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+\.[^\s@<>()[\]\\,;:".]{2,}$/

/** Trims and lower-cases; rejects what is not a plausible single address. */
export function emailOf(value: unknown, field: string, fail: Fail): string {
  const raw = stringOf(value, field, fail, { max: 254 })
  const email = raw.trim().toLowerCase()
  if (!EMAIL.test(email) || email.includes('..')) throw fail(field, `must be an email address like name@example.com (got ${describe(raw)})`)
  return email
}

const currencies = new Set(Intl.supportedValuesOf('currency'))

export function currencyOf(value: unknown, field: string, fail: Fail): string {
  const code = stringOf(value, field, fail, { max: 3 })
  if (!/^[A-Z]{3}$/.test(code) || !currencies.has(code)) throw fail(field, `must be an ISO 4217 currency code in capitals, like EUR (got ${describe(value)})`)
  return code
}

const zoneCache = new Map<string, boolean>()

export function timeZoneOf(value: unknown, field: string, fail: Fail): string {
  const zone = stringOf(value, field, fail, { max: 64 })
  let known = zoneCache.get(zone)
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone })
      known = zone.includes('/') || zone === 'UTC'
    } catch {
      known = false
    }
    zoneCache.set(zone, known)
  }
  if (!known) throw fail(field, `must be an IANA time zone like Europe/Paris (got ${describe(value)})`)
  return zone
}

export function localeOf(value: unknown, field: string, fail: Fail): string {
  const tag = stringOf(value, field, fail, { max: 35 })
  try {
    const [canonical] = Intl.getCanonicalLocales(tag)
    if (canonical !== undefined) return canonical
  } catch {
    // fall through to the error below
  }
  throw fail(field, `must be a BCP 47 language tag like fr or fr-CA (got ${describe(value)})`)
}

/** Absolute http(s) URL. `https` only unless the host is local (development). */
export function urlOf(value: unknown, field: string, fail: Fail, rules: { httpsOnly?: boolean } = {}): URL {
  const raw = stringOf(value, field, fail, { max: 2000 })
  let url: URL
  try {
    url = new URL(raw.replace('{token}', 'TOKEN'))
  } catch {
    throw fail(field, `must be an absolute URL (got ${describe(raw)})`)
  }
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]'
  if (url.protocol === 'https:' || (url.protocol === 'http:' && (!rules.httpsOnly || local))) return url
  throw fail(field, rules.httpsOnly ? 'must be an https URL (http is accepted only for localhost)' : 'must be an http or https URL')
}

/** A point in time given as a Date, an ISO 8601 string or epoch milliseconds. */
export function dateOf(value: unknown, field: string, fail: Fail): Date {
  let date: Date | undefined
  if (value instanceof Date) date = new Date(value.getTime())
  else if (typeof value === 'number' && Number.isFinite(value)) date = new Date(value)
  else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) date = new Date(value)
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw fail(field, `must be a Date, an ISO 8601 date-time string or epoch milliseconds (got ${describe(value)})`)
  }
  return date
}

const DURATION_KEYS = ['years', 'months', 'weeks', 'days', 'hours', 'minutes', 'seconds'] as const

/** A date-fns `Duration` with at least one non-negative finite field. */
export function durationOf(value: unknown, field: string, fail: Fail, rules: { allowZero?: boolean } = {}): Duration {
  const object = objectOf(value, field, fail)
  knownKeys(object, DURATION_KEYS, field, fail)
  const duration: Duration = {}
  let total = 0
  for (const key of DURATION_KEYS) {
    const part = object[key]
    if (part === undefined) continue
    if (typeof part !== 'number' || !Number.isFinite(part) || part < 0) {
      throw fail(`${field}.${key}`, `must be a non-negative number (got ${describe(part)})`)
    }
    duration[key] = part
    total += part
  }
  if (Object.keys(duration).length === 0) throw fail(field, `must be a date-fns Duration such as { hours: 1 }`)
  if (total === 0 && !rules.allowZero) throw fail(field, 'must be longer than zero')
  return duration
}

/** "HH:mm" on a 24-hour clock, as minutes after midnight. */
export function clockTimeOf(value: unknown, field: string, fail: Fail): number {
  const text = stringOf(value, field, fail, { max: 5 })
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text)
  if (match === null) throw fail(field, `must be a 24-hour time "HH:mm" like "21:00" (got ${describe(value)})`)
  return Number(match[1]) * 60 + Number(match[2])
}

/** Parses `Name <address>` or a bare address; the display name must be header-safe. */
export function mailboxOf(value: unknown, field: string, fail: Fail): { name: string | null; address: string } {
  const text = stringOf(value, field, fail, { max: 320 })
  const match = /^\s*(?:"?([^"<>]*?)"?\s*<([^<>]+)>|([^<>\s]+))\s*$/.exec(text)
  if (match === null) throw fail(field, `must be an address or "Name <address>" (got ${describe(value)})`)
  const address = emailOf(match[2] ?? match[3], field, fail)
  const name = match[1]?.trim() || null
  return { name, address }
}
