/**
 * Validation of method input. Everything is checked before anything is stored, so a rejected
 * call leaves the store exactly as it was.
 */
import type { CartItemRecord } from './stores/types.js'
import {
  booleanOf, currencyOf, dateOf, emailOf, failInput as fail, idOf, integerOf, knownKeys, localeOf,
  objectOf, stringOf, timeZoneOf,
} from './validate.js'

export interface IdentityKeys {
  deviceId: string | null
  customerId: string | null
  email: string | null
}

export interface TrackCartCommand extends IdentityKeys {
  cartId: string
  items: CartItemRecord[]
  currency: string
  at: Date
}

export interface IdentifyCommand extends IdentityKeys {
  firstName: string | null
  locale: string | null
  timeZone: string | null
  consent: { marketing: boolean; at: Date; source: string } | null
  hasPurchased: boolean | null
  at: Date
}

export interface OrderCommand extends IdentityKeys {
  orderId: string
  cartId: string | null
  total: number
  currency: string
  at: Date
}

/** Largest amount accepted, in minor units: far above any cart, far below float trouble. */
const MAX_AMOUNT = 1e13

function keysOf(input: Record<string, unknown>): IdentityKeys {
  return {
    deviceId: input.deviceId === undefined ? null : idOf(input.deviceId, 'deviceId', fail),
    customerId: input.customerId === undefined ? null : idOf(input.customerId, 'customerId', fail),
    email: input.email === undefined ? null : emailOf(input.email, 'email', fail),
  }
}

function atOf(value: unknown, now: Date): Date {
  return value === undefined ? now : dateOf(value, 'at', fail)
}

/** A name already tidy is kept as it is: a new copy of it in every stored cart would be memory for nothing. */
const UNTIDY = /^\s|\s$|\s\s|[^\S ]/

/** Display text: surrounding and repeated whitespace carries no meaning in an email. */
function tidy(text: string): string {
  return UNTIDY.test(text) ? text.trim().replace(/\s+/g, ' ') : text
}

function itemOf(value: unknown, field: string): CartItemRecord {
  const raw = objectOf(value, field, fail)
  knownKeys(raw, ['sku', 'name', 'quantity', 'unitAmount', 'imageUrl', 'url', 'variant'], field, fail)
  const item: CartItemRecord = {
    sku: idOf(raw.sku, `${field}.sku`, fail),
    name: tidy(stringOf(raw.name, `${field}.name`, fail, { max: 500 })),
    quantity: integerOf(raw.quantity, `${field}.quantity`, fail, { min: 1, max: 100_000 }),
    unitAmount: integerOf(raw.unitAmount, `${field}.unitAmount`, fail, { min: 0, max: MAX_AMOUNT }),
  }
  // URLs are stored as given; only absolute http(s) ones ever reach a template (the renderer checks).
  if (raw.imageUrl !== undefined) item.imageUrl = stringOf(raw.imageUrl, `${field}.imageUrl`, fail, { max: 2000 })
  if (raw.url !== undefined) item.url = stringOf(raw.url, `${field}.url`, fail, { max: 2000 })
  if (raw.variant !== undefined) item.variant = tidy(stringOf(raw.variant, `${field}.variant`, fail, { max: 200 }))
  return item
}

export function parseItems(value: unknown, maxItems: number): CartItemRecord[] {
  if (!Array.isArray(value)) throw fail('items', 'must be an array of cart lines ([] for an empty cart)')
  if (value.length > maxItems) throw fail('items', `must have at most ${maxItems} lines (got ${value.length}; see limits.maxItems)`)
  return value.map((item, index) => itemOf(item, `items[${index}]`))
}

export function parseTrackCart(input: unknown, now: Date, maxItems: number): TrackCartCommand {
  const raw = objectOf(input, 'input', fail)
  knownKeys(raw, ['cartId', 'deviceId', 'customerId', 'email', 'items', 'currency', 'at'], '', fail)
  const cartId = idOf(raw.cartId, 'cartId', fail)
  const keys = keysOf(raw)
  if (keys.deviceId === null && keys.customerId === null && keys.email === null) {
    throw fail('deviceId', 'is required when neither customerId nor email is given')
  }
  return { cartId, ...keys, items: parseItems(raw.items, maxItems), currency: currencyOf(raw.currency, 'currency', fail), at: atOf(raw.at, now) }
}

export function parseIdentify(input: unknown, now: Date): IdentifyCommand {
  const raw = objectOf(input, 'input', fail)
  knownKeys(raw, ['deviceId', 'customerId', 'email', 'firstName', 'locale', 'timeZone', 'consent', 'hasPurchased', 'at'], '', fail)
  const keys = keysOf(raw)
  if (keys.deviceId === null && keys.customerId === null && keys.email === null) {
    throw fail('deviceId', 'or customerId or email is required to know who is identified')
  }
  const at = atOf(raw.at, now)
  let consent: IdentifyCommand['consent'] = null
  if (raw.consent !== undefined) {
    const c = objectOf(raw.consent, 'consent', fail)
    knownKeys(c, ['marketing', 'at', 'source'], 'consent', fail)
    consent = {
      marketing: booleanOf(c.marketing, 'consent.marketing', fail),
      at: c.at === undefined ? at : dateOf(c.at, 'consent.at', fail),
      source: c.source === undefined ? 'identify' : stringOf(c.source, 'consent.source', fail, { max: 100 }),
    }
  }
  return {
    ...keys,
    firstName: raw.firstName === undefined ? null : stringOf(raw.firstName, 'firstName', fail, { max: 100 }).trim(),
    locale: raw.locale === undefined ? null : localeOf(raw.locale, 'locale', fail),
    timeZone: raw.timeZone === undefined ? null : timeZoneOf(raw.timeZone, 'timeZone', fail),
    consent,
    hasPurchased: raw.hasPurchased === undefined ? null : booleanOf(raw.hasPurchased, 'hasPurchased', fail),
    at,
  }
}

export function parseOrder(input: unknown, now: Date): OrderCommand {
  const raw = objectOf(input, 'input', fail)
  knownKeys(raw, ['orderId', 'cartId', 'customerId', 'email', 'deviceId', 'total', 'currency', 'at'], '', fail)
  const orderId = idOf(raw.orderId, 'orderId', fail)
  const cartId = raw.cartId === undefined ? null : idOf(raw.cartId, 'cartId', fail)
  const keys = keysOf(raw)
  if (cartId === null && keys.deviceId === null && keys.customerId === null && keys.email === null) {
    throw fail('cartId', 'or customerId, email or deviceId is required to know who ordered')
  }
  return {
    orderId, cartId, ...keys,
    total: integerOf(raw.total, 'total', fail, { min: 0, max: MAX_AMOUNT }),
    currency: currencyOf(raw.currency, 'currency', fail),
    at: atOf(raw.at, now),
  }
}

export function parseWho(input: unknown, method: string): { email: string } | { customerId: string } {
  const raw = objectOf(input, 'input', fail)
  knownKeys(raw, ['email', 'customerId'], '', fail)
  if ((raw.email === undefined) === (raw.customerId === undefined)) {
    throw fail('email', `or customerId (exactly one) is required by ${method}()`)
  }
  return raw.email !== undefined ? { email: emailOf(raw.email, 'email', fail) } : { customerId: idOf(raw.customerId, 'customerId', fail) }
}
