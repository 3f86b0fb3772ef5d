/**
 * From the engine's raw data to what a template sees: formatted money and dates, validated URLs,
 * a long cart summarised. Every key is always present (`null` when absent) because templates
 * compile in strict mode, where a missing key is an error: that is how a typo is caught.
 * `templates/README.md` documents this shape for marketers; keep them in step.
 */
import { BoundedMap } from '../bounded-map.js'
import { formatLocalDate, formatMoney, formatPercent, pluralForm } from './helpers.js'
import type { RenderIncentive, RenderInput, RenderItem } from './types.js'

/** Lines shown before "and K more": keeps a 60-line cart far below Gmail's ~102 KB clipping. */
export const MAX_LINES = 8

export interface TemplateItem {
  name: string
  quantity: number
  /** Formatted: `29,90 €`. */
  unitPrice: string
  linePrice: string
  /** Validated http(s) URL or `null`. */
  imageUrl: string | null
  url: string | null
  variant: string | null
}

export interface TemplateContext {
  /** Resolved locale (`fr`, `en`) and its language tag for `lang`. */
  locale: string
  timeZone: string
  currency: string
  shop: {
    name: string
    url: string
    logoUrl: string | null
    address: string | null
    phone: string | null
    supportUrl: string | null
    replyTo: string | null
    email: string
  }
  customer: { firstName: string | null }
  cart: {
    items: TemplateItem[]
    /** Lines not shown (0 when all are). */
    more: number
    /** Number of lines and total quantity. */
    lines: number
    count: number
    subtotal: string
    /** Minor units, for `{{money}}` and comparisons. */
    subtotalAmount: number
  }
  restoreUrl: string
  unsubscribeUrl: string
  incentive: {
    kind: RenderIncentive['kind']
    code: string
    /** `10 %`, `5,00 €`, `la livraison offerte`… from the locale's strings. */
    value: string
    expiresAt: Date | null
    /** Formatted in the recipient's zone, or `null`. */
    expires: string | null
  } | null
  help: { replyTo: string | null; phone: string | null; supportUrl: string | null }
  step: { id: string; number: number; count: number; isLast: boolean }
  variant: string | null
}

/** Checked URLs (input → result): the shop's and its products' URLs come back in every email. */
const checkedUrls = new BoundedMap<string, string | null>()

/** Only absolute http(s) URLs survive; anything else (`javascript:`, `data:`, relative) is dropped. */
export function safeUrl(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null
  let checked = checkedUrls.get(value)
  if (checked === undefined) checkedUrls.set(value, (checked = parseSafeUrl(value)))
  return checked
}

function parseSafeUrl(value: string): string | null {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null
  } catch {
    return null
  }
}

function item(line: RenderItem, currency: string, locale: string): TemplateItem {
  return {
    name: line.name,
    quantity: line.quantity,
    unitPrice: formatMoney(line.unitAmount, currency, locale),
    linePrice: formatMoney(line.unitAmount * line.quantity, currency, locale),
    imageUrl: safeUrl(line.imageUrl),
    url: safeUrl(line.url),
    variant: line.variant ?? null,
  }
}

function incentiveValue(incentive: RenderIncentive, currency: string, locale: string, strings: Readonly<Record<string, string>>): string {
  if (incentive.kind === 'percent') return formatPercent(incentive.value, locale)
  if (incentive.kind === 'amount') return formatMoney(incentive.value, currency, locale)
  return strings['incentive.free-shipping'] ?? 'free shipping'
}

/** Builds the context for one email in a resolved locale. */
export function buildContext(input: RenderInput, locale: string, strings: Readonly<Record<string, string>>): TemplateContext {
  const { cart, shop } = input
  const timeZone = input.timeZone ?? shop.timeZone
  const subtotalAmount = cart.items.reduce((sum, line) => sum + line.unitAmount * line.quantity, 0)
  const shown = cart.items.slice(0, MAX_LINES).map((line) => item(line, cart.currency, locale))
  const supportUrl = safeUrl(shop.supportUrl)
  return {
    locale,
    timeZone,
    currency: cart.currency,
    shop: {
      name: shop.name,
      url: safeUrl(shop.url) ?? shop.url,
      logoUrl: safeUrl(shop.logoUrl),
      address: shop.address,
      phone: shop.phone,
      supportUrl,
      replyTo: shop.replyTo,
      email: shop.replyTo ?? shop.fromAddress,
    },
    customer: { firstName: input.customer.firstName },
    cart: {
      items: shown,
      more: cart.items.length - shown.length,
      lines: cart.items.length,
      count: cart.items.reduce((sum, line) => sum + line.quantity, 0),
      subtotal: formatMoney(subtotalAmount, cart.currency, locale),
      subtotalAmount,
    },
    restoreUrl: input.restoreUrl,
    unsubscribeUrl: input.unsubscribeUrl,
    incentive: input.incentive === null ? null : {
      kind: input.incentive.kind,
      code: input.incentive.code,
      value: incentiveValue(input.incentive, cart.currency, locale, strings),
      expiresAt: input.incentive.expiresAt,
      expires: input.incentive.expiresAt === null ? null : formatLocalDate(input.incentive.expiresAt, 'PPP', locale, timeZone),
    },
    help: { replyTo: shop.replyTo, phone: shop.phone, supportUrl },
    step: { id: input.step.id, number: input.step.index + 1, count: input.step.count, isLast: input.step.index + 1 >= input.step.count },
    variant: input.variant,
  }
}

export { pluralForm }
