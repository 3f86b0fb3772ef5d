/**
 * `createRelance` options: the input types (`…Options`, with documented defaults), the resolved
 * types (`Resolved…`, every default applied) and the eager validation between them. Validation
 * never mutates the caller's objects and names the option and the rule on failure.
 */
import type { Duration } from 'date-fns'
import type { IncentiveKind, Renderer } from './render/types.js'
import type { Store } from './stores/types.js'
import type { Transport } from './transports/types.js'
import { approximateMs } from './time.js'
import type { CartItem, RestoreResult } from './types.js'
import {
  booleanOf, clockTimeOf, currencyOf, durationOf, failConfig as fail, integerOf, isPlainObject,
  knownKeys, localeOf, mailboxOf, objectOf, optionalString, stringOf, timeZoneOf, urlOf,
} from './validate.js'

/** Every method of the store contract: a store written for an older contract is refused at once. */
const STORE_METHODS = [
  'init', 'close', 'getProfile', 'findProfile', 'lookup', 'saveProfile', 'linkDevice', 'mergeProfiles', 'getCart', 'saveCart',
  'listCarts', 'schedule', 'cancel', 'getJob', 'claimDue', 'claimBatch', 'extendLease', 'settle', 'settleMany',
  'viewCarts', 'reserveSend', 'updateSend', 'getSend', 'listCartSends', 'listProfileSends', 'recordClick', 'saveOrder',
  'assign', 'getAssignment', 'suppress', 'getSuppression', 'unsuppress', 'forgetProfile', 'purge', 'scanSends',
  'scanOrders', 'scanAssignments', 'scanSuppressions',
] as const satisfies readonly (keyof Store)[]
// Compile-time: the list names every method of `Store`.
type StoreMethod = { [K in keyof Store]: Store[K] extends (...args: never[]) => unknown ? K : never }[keyof Store]
const everyStoreMethod: Exclude<StoreMethod, (typeof STORE_METHODS)[number]> extends never ? true : never = true
void everyStoreMethod

export interface ShopOptions {
  /** Sender identity shown in every email. */
  name: string
  /** The shop's home page (https). */
  url: string
  /** `Name <address>` of the sender. */
  from: string
  /** Where replies go: a human answers. @default the `from` address */
  replyTo?: string
  /** Default template locale. @default 'en' */
  locale?: string
  /** Default zone for quiet hours when a person's zone is unknown. @default 'UTC' */
  timeZone?: string
  /** Default currency. @default 'EUR' */
  currency?: string
  /** The shop route that calls `restore(token)`; must contain `{token}`. */
  restoreUrl: string
  /** The URL `relance.handle()` serves for unsubscribing (https); must contain `{token}`. */
  unsubscribeUrl: string
  /** Absolute https URL of the logo shown in the email header. @default none */
  logoUrl?: string
  /** Postal address of the sender, shown in the footer. @default none */
  address?: string
  /** A phone number where a person answers. @default none */
  phone?: string
  /** A help/contact page. @default none */
  supportUrl?: string
}

export interface IncentiveOptions {
  kind: IncentiveKind
  /** Percent (1–100) for `percent`; integer minor units for `amount`; ignored for `free-shipping`. */
  value?: number
  /** How long the code is valid. @default { days: 7 } */
  validFor?: Duration
}

export interface StepConditions {
  /** Only carts whose subtotal is at least this (integer minor units). @default none */
  minSubtotal?: number
  /** Only first-time (`new`) or returning buyers. @default both */
  customer?: 'new' | 'returning'
}

export interface StepOptions {
  /** Step id used in reports and experiments. @default the template name */
  id?: string
  /** Delay after the person's last cart activity on any device. */
  after: Duration
  /** Template folder name. Required for email steps. */
  template?: string
  /** `email` sends a message; `task` calls the `onTask` hook (a human follows up). @default 'email' */
  channel?: 'email' | 'task'
  /** Subject override (Handlebars), instead of the template's front matter. @default none */
  subject?: string
  when?: StepConditions
  incentive?: IncentiveOptions
}

export interface VariantOptions {
  id: string
  /** Relative weight (> 0). */
  weight: number
  /** A holdout sends nothing and records what would have been sent, for a fair comparison. @default false */
  holdout?: boolean
  subject?: string
  template?: string
  /** Replaces the step's delay (only for a single-step experiment). */
  after?: Duration
  /** Replaces the step's incentive; `null` removes it. */
  incentive?: IncentiveOptions | null
}

export interface ExperimentOptions {
  id: string
  /** The step id the variants change; absent: they apply to every step of the sequence. */
  step?: string
  variants: VariantOptions[]
}

export interface HookContext {
  cartId: string
  profileId: string
  step: string
  variant: string | null
  items: CartItem[]
  currency: string
  subtotal: number
  email: string | null
  firstName: string | null
  now: Date
}

/** Return `false` to skip this step, `{ items }` to send the revalidated content, or nothing. */
export type BeforeSendResult = void | undefined | false | { items: CartItem[] }

export interface TaskContext extends HookContext {
  customerId: string | null
  locale: string | null
  restoreUrl: string
}

export interface RelanceOptions {
  /** At least 32 characters; signs tokens and keys the suppression hashes. Keep it stable. */
  secret: string
  shop: ShopOptions
  /** @default memoryStore() */
  store?: Store
  /** @default memoryTransport() */
  transport?: Transport
  /** A folder whose files override the built-in templates file by file. @default the package's templates/ */
  templates?: string
  /** A renderer of your own instead of the MJML pipeline. @default the MJML + Handlebars renderer */
  renderer?: Renderer
  /** @default 1 h `reminder`, 24 h `reassurance`, 72 h `last-chance` */
  sequence?: StepOptions[]
  /** `false` disables. @default { start: '21:00', end: '08:00' } in the recipient's zone */
  quietHours?: { start: string; end: string } | false
  /** `false` disables. @default { max: 1, per: { hours: 12 } } */
  frequencyCap?: { max: number; per: Duration } | false
  /** @default 'explicit' */
  consentPolicy?: 'explicit' | 'soft-opt-in'
  /** @default [] */
  experiments?: ExperimentOptions[]
  /** @default { days: 7 } */
  attributionWindow?: Duration
  /** A cart inactive for longer is not recovered any more. @default { days: 7 } */
  staleAfter?: Duration
  /** Lifetime of restore links. @default { days: 30 } */
  restoreLinkTtl?: Duration
  /** No incentive for a person who received one within this period. @default { days: 30 } */
  incentiveCooldown?: Duration
  clock?: { now(): Date }
  /** Make the single-use code of an incentive (register it in your platform). @default nanoid, 10 characters */
  createCode?: (context: HookContext & { incentive: IncentiveOptions }) => string | Promise<string>
  /** Revalidate (stock, prices) or veto a send. @default none */
  beforeSend?: (context: HookContext) => BeforeSendResult | Promise<BeforeSendResult>
  /** Called for `channel: 'task'` steps. Required when a step is a task. */
  onTask?: (task: TaskContext) => void | Promise<void>
  /** When given, `handle()` also serves `shop.restoreUrl` and answers with what this returns. */
  onRestore?: (result: RestoreResult, request: Request) => Response | Promise<Response>
  /** How `handle()` finds the device of a restore request (e.g. from a cookie). @default none */
  deviceIdFrom?: (request: Request) => string | undefined
  retry?: {
    /** Attempts of one send before it is marked failed. @default 5 */
    attempts?: number
    /** First backoff, doubled each attempt, with ±20 % jitter. @default { minutes: 1 } */
    backoff?: Duration
    /** @default { hours: 1 } */
    maxBackoff?: Duration
  }
  worker?: {
    /** Lease owner id. @default hostname:pid:random */
    id?: string
    /** Jobs claimed per batch. @default 100 */
    batchSize?: number
    /**
     * Jobs processed at once within a batch. Keep it above the transport's connection count so
     * that a connection never waits while the engine prepares the next message (measured against
     * a local SMTP server with a pool of 5: 8 ⇒ ~75 % of raw nodemailer, 24 ⇒ ~84 %).
     * @default 24
     */
    concurrency?: number
    /** Lease length; keep it well above the slowest send. @default { minutes: 2 } */
    lease?: Duration
    /** Pause of the background loop between ticks. @default { seconds: 5 } */
    interval?: Duration
  }
  limits?: {
    /** @default 250 */
    maxItems?: number
  }
}

// --- resolved -----------------------------------------------------------------------------------

export interface ResolvedShop {
  name: string
  url: string
  from: string
  fromName: string | null
  fromAddress: string
  replyTo: string
  locale: string
  timeZone: string
  currency: string
  restoreUrl: string
  unsubscribeUrl: string
  logoUrl: string | null
  address: string | null
  phone: string | null
  supportUrl: string | null
}

export interface ResolvedIncentive {
  kind: IncentiveKind
  value: number
  validFor: Duration
}

export interface ResolvedStep {
  id: string
  index: number
  after: Duration
  template: string | null
  channel: 'email' | 'task'
  subject: string | null
  when: { minSubtotal: number | null; customer: 'new' | 'returning' | null }
  incentive: ResolvedIncentive | null
}

export interface ResolvedVariant {
  id: string
  weight: number
  holdout: boolean
  subject: string | null
  template: string | null
  after: Duration | null
  /** `undefined`: keep the step's; `null`: none. */
  incentive: ResolvedIncentive | null | undefined
}

export interface ResolvedExperiment {
  id: string
  step: string | null
  variants: ResolvedVariant[]
}

export interface ResolvedOptions {
  secret: string
  shop: ResolvedShop
  templates: string | undefined
  sequence: ResolvedStep[]
  quietHours: { start: number; end: number } | null
  frequencyCap: { max: number; per: Duration } | null
  consentPolicy: 'explicit' | 'soft-opt-in'
  experiments: ResolvedExperiment[]
  attributionWindow: Duration
  staleAfter: Duration
  restoreLinkTtl: Duration
  incentiveCooldown: Duration
  retry: { attempts: number; backoff: Duration; maxBackoff: Duration }
  worker: { id: string | undefined; batchSize: number; concurrency: number; lease: Duration; interval: Duration }
  limits: { maxItems: number }
}

export const DEFAULT_SEQUENCE: readonly StepOptions[] = Object.freeze([
  { after: { hours: 1 }, template: 'reminder' },
  { after: { hours: 24 }, template: 'reassurance' },
  { after: { hours: 72 }, template: 'last-chance' },
])

const TOP_KEYS = [
  'secret', 'shop', 'store', 'transport', 'templates', 'renderer', 'sequence', 'quietHours', 'frequencyCap',
  'consentPolicy', 'experiments', 'attributionWindow', 'staleAfter', 'restoreLinkTtl', 'incentiveCooldown',
  'clock', 'createCode', 'beforeSend', 'onTask', 'onRestore', 'deviceIdFrom', 'retry', 'worker', 'limits',
] as const

function functionOf(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'function') throw fail(field, `must be a function (got ${typeof value})`)
}

function resolveShop(value: unknown): ResolvedShop {
  const shop = objectOf(value, 'shop', fail)
  knownKeys(shop, ['name', 'url', 'from', 'replyTo', 'locale', 'timeZone', 'currency', 'restoreUrl',
    'unsubscribeUrl', 'logoUrl', 'address', 'phone', 'supportUrl'], 'shop', fail)
  const from = mailboxOf(shop.from, 'shop.from', fail)
  const replyTo = shop.replyTo === undefined ? from.address : mailboxOf(shop.replyTo, 'shop.replyTo', fail).address
  const tokenUrl = (key: 'restoreUrl' | 'unsubscribeUrl', httpsOnly: boolean): string => {
    const field = `shop.${key}`
    urlOf(shop[key], field, fail, { httpsOnly })
    const text = shop[key] as string
    if (text.split('{token}').length !== 2) throw fail(field, 'must contain the placeholder {token} exactly once')
    return text
  }
  const optionalUrl = (key: 'logoUrl' | 'supportUrl'): string | null =>
    shop[key] === undefined ? null : urlOf(shop[key], `shop.${key}`, fail).href
  return {
    name: stringOf(shop.name, 'shop.name', fail, { max: 100 }),
    url: urlOf(shop.url, 'shop.url', fail).href,
    from: from.name === null ? from.address : `${from.name} <${from.address}>`,
    fromName: from.name,
    fromAddress: from.address,
    replyTo,
    locale: shop.locale === undefined ? 'en' : localeOf(shop.locale, 'shop.locale', fail),
    timeZone: shop.timeZone === undefined ? 'UTC' : timeZoneOf(shop.timeZone, 'shop.timeZone', fail),
    currency: shop.currency === undefined ? 'EUR' : currencyOf(shop.currency, 'shop.currency', fail),
    restoreUrl: tokenUrl('restoreUrl', false),
    unsubscribeUrl: tokenUrl('unsubscribeUrl', true),
    logoUrl: optionalUrl('logoUrl'),
    address: optionalString(shop.address, 'shop.address', fail, { max: 300 }) ?? null,
    phone: optionalString(shop.phone, 'shop.phone', fail, { max: 40 }) ?? null,
    supportUrl: optionalUrl('supportUrl'),
  }
}

function resolveIncentive(value: unknown, field: string): ResolvedIncentive {
  const incentive = objectOf(value, field, fail)
  knownKeys(incentive, ['kind', 'value', 'validFor'], field, fail)
  const kind = incentive.kind
  const validFor = incentive.validFor === undefined ? { days: 7 } : durationOf(incentive.validFor, `${field}.validFor`, fail)
  if (kind === 'percent') return { kind, value: integerOf(incentive.value, `${field}.value`, fail, { min: 1, max: 100 }), validFor }
  if (kind === 'amount') return { kind, value: integerOf(incentive.value, `${field}.value`, fail, { min: 1 }), validFor }
  if (kind === 'free-shipping') return { kind, value: 0, validFor }
  throw fail(`${field}.kind`, `must be 'percent', 'amount' or 'free-shipping' (got ${JSON.stringify(kind)})`)
}

function resolveSequence(value: unknown, renderer: Renderer | undefined, hasOnTask: boolean): ResolvedStep[] {
  if (!Array.isArray(value) || value.length === 0) throw fail('sequence', 'must be a non-empty array of steps')
  const ids = new Set<string>()
  let previousAfter: number | null = null
  return value.map((raw, index): ResolvedStep => {
    const field = `sequence[${index}]`
    const step = objectOf(raw, field, fail)
    knownKeys(step, ['id', 'after', 'template', 'channel', 'subject', 'when', 'incentive'], field, fail)
    const channel = step.channel ?? 'email'
    if (channel !== 'email' && channel !== 'task') throw fail(`${field}.channel`, `must be 'email' or 'task' (got ${JSON.stringify(channel)})`)
    const template = step.template === undefined ? null : stringOf(step.template, `${field}.template`, fail, { max: 100 })
    if (channel === 'email') {
      if (template === null) throw fail(`${field}.template`, 'is required for an email step')
      if (renderer !== undefined && !renderer.has(template)) throw fail(`${field}.template`, `names a template that does not exist: ${JSON.stringify(template)}`)
    } else if (!hasOnTask) {
      throw fail('onTask', `is required because ${field} is a task step`)
    }
    const id = step.id === undefined ? (template ?? `task-${index + 1}`) : stringOf(step.id, `${field}.id`, fail, { max: 100 })
    if (ids.has(id)) throw fail(`${field}.id`, `must be unique in the sequence (${JSON.stringify(id)} is used twice; give the step an id)`)
    ids.add(id)
    const after = durationOf(step.after, `${field}.after`, fail, { allowZero: true })
    const afterMs = approximateMs(after)
    if (previousAfter !== null && afterMs < previousAfter) throw fail(`${field}.after`, 'must not be shorter than the previous step\'s delay')
    previousAfter = afterMs
    let when: ResolvedStep['when'] = { minSubtotal: null, customer: null }
    if (step.when !== undefined) {
      const w = objectOf(step.when, `${field}.when`, fail)
      knownKeys(w, ['minSubtotal', 'customer'], `${field}.when`, fail)
      if (w.customer !== undefined && w.customer !== 'new' && w.customer !== 'returning') {
        throw fail(`${field}.when.customer`, `must be 'new' or 'returning' (got ${JSON.stringify(w.customer)})`)
      }
      when = {
        minSubtotal: w.minSubtotal === undefined ? null : integerOf(w.minSubtotal, `${field}.when.minSubtotal`, fail),
        customer: (w.customer as 'new' | 'returning' | undefined) ?? null,
      }
    }
    return {
      id, index, after, template, channel, when,
      subject: step.subject === undefined ? null : stringOf(step.subject, `${field}.subject`, fail, { max: 300 }),
      incentive: step.incentive === undefined ? null : resolveIncentive(step.incentive, `${field}.incentive`),
    }
  })
}

function resolveExperiments(value: unknown, steps: ResolvedStep[], renderer: Renderer | undefined): ResolvedExperiment[] {
  if (!Array.isArray(value)) throw fail('experiments', 'must be an array')
  const ids = new Set<string>()
  const stepsTaken = new Map<string, string>()
  return value.map((raw, index): ResolvedExperiment => {
    const field = `experiments[${index}]`
    const experiment = objectOf(raw, field, fail)
    knownKeys(experiment, ['id', 'step', 'variants'], field, fail)
    const id = stringOf(experiment.id, `${field}.id`, fail, { max: 100 })
    if (ids.has(id)) throw fail(`${field}.id`, `must be unique (${JSON.stringify(id)} is used twice)`)
    ids.add(id)
    const step = experiment.step === undefined ? null : stringOf(experiment.step, `${field}.step`, fail, { max: 100 })
    if (step !== null && !steps.some((s) => s.id === step)) {
      throw fail(`${field}.step`, `must name a step id of the sequence (${steps.map((s) => s.id).join(', ')}); got ${JSON.stringify(step)}`)
    }
    // Two experiments on the same step would make each one's effect unreadable.
    for (const key of step === null ? steps.map((s) => s.id) : [step]) {
      const other = stepsTaken.get(key)
      if (other !== undefined) throw fail(`${field}.step`, `overlaps experiment ${JSON.stringify(other)} on step ${JSON.stringify(key)}; run one experiment per step at a time`)
      stepsTaken.set(key, id)
    }
    if (!Array.isArray(experiment.variants) || experiment.variants.length < 2) {
      throw fail(`${field}.variants`, 'must be an array of at least two variants')
    }
    const variantIds = new Set<string>()
    const variants = experiment.variants.map((rawVariant, v): ResolvedVariant => {
      const vf = `${field}.variants[${v}]`
      const variant = objectOf(rawVariant, vf, fail)
      knownKeys(variant, ['id', 'weight', 'holdout', 'subject', 'template', 'after', 'incentive'], vf, fail)
      const variantId = stringOf(variant.id, `${vf}.id`, fail, { max: 100 })
      if (variantIds.has(variantId)) throw fail(`${vf}.id`, `must be unique within the experiment (${JSON.stringify(variantId)} is used twice)`)
      variantIds.add(variantId)
      const weight = variant.weight
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0) throw fail(`${vf}.weight`, `must be a positive number (got ${String(weight)})`)
      const template = variant.template === undefined ? null : stringOf(variant.template, `${vf}.template`, fail, { max: 100 })
      if (template !== null && renderer !== undefined && !renderer.has(template)) throw fail(`${vf}.template`, `names a template that does not exist: ${JSON.stringify(template)}`)
      if (variant.after !== undefined && step === null) throw fail(`${vf}.after`, 'is only allowed in an experiment on one step (set experiment.step)')
      return {
        id: variantId, weight,
        holdout: variant.holdout === undefined ? false : booleanOf(variant.holdout, `${vf}.holdout`, fail),
        subject: variant.subject === undefined ? null : stringOf(variant.subject, `${vf}.subject`, fail, { max: 300 }),
        template,
        after: variant.after === undefined ? null : durationOf(variant.after, `${vf}.after`, fail, { allowZero: true }),
        incentive: variant.incentive === undefined ? undefined : variant.incentive === null ? null : resolveIncentive(variant.incentive, `${vf}.incentive`),
      }
    })
    if (variants.filter((v) => v.holdout).length > 1) throw fail(`${field}.variants`, 'must have at most one holdout variant')
    return { id, step, variants }
  })
}

function positiveInteger(value: unknown, field: string, fallback: number, max: number): number {
  return value === undefined ? fallback : integerOf(value, field, fail, { min: 1, max })
}

export function resolveOptions(input: unknown, renderer: Renderer | undefined): ResolvedOptions {
  const options = objectOf(input, 'options', fail)
  knownKeys(options, TOP_KEYS, '', fail)
  const secret = options.secret
  if (typeof secret !== 'string' || secret.length < 32) {
    throw fail('secret', 'must be a string of at least 32 characters (e.g. 32 random bytes, base64)')
  }
  for (const hook of ['createCode', 'beforeSend', 'onTask', 'onRestore', 'deviceIdFrom'] as const) functionOf(options[hook], hook)
  if (options.clock !== undefined && (!isPlainObject(options.clock) || typeof options.clock.now !== 'function')) {
    throw fail('clock', 'must be an object with a now() method returning a Date')
  }
  if (options.store !== undefined) {
    if (!isPlainObject(options.store)) throw fail('store', 'must be a store such as memoryStore() or sqliteStore({ filename })')
    const store = options.store as unknown as Record<string, unknown>
    const missing = STORE_METHODS.filter((method) => typeof store[method] !== 'function')
    if (missing.length > 0) {
      throw fail('store', `must be a store such as memoryStore() or sqliteStore({ filename }); this one lacks ${missing.join(', ')} (see src/stores/types.ts)`)
    }
  }
  if (options.transport !== undefined && (!isPlainObject(options.transport) || typeof options.transport.send !== 'function')) {
    throw fail('transport', 'must be a transport such as memoryTransport() or nodemailerTransport({ smtp })')
  }
  if (options.renderer !== undefined && (!isPlainObject(options.renderer) || typeof options.renderer.render !== 'function')) {
    throw fail('renderer', 'must implement init(), has() and render()')
  }
  const shop = resolveShop(options.shop)
  const sequence = resolveSequence(options.sequence ?? DEFAULT_SEQUENCE, renderer, typeof options.onTask === 'function')

  let quietHours: ResolvedOptions['quietHours'] = { start: 21 * 60, end: 8 * 60 }
  if (options.quietHours === false) quietHours = null
  else if (options.quietHours !== undefined) {
    const q = objectOf(options.quietHours, 'quietHours', fail)
    knownKeys(q, ['start', 'end'], 'quietHours', fail)
    quietHours = { start: clockTimeOf(q.start, 'quietHours.start', fail), end: clockTimeOf(q.end, 'quietHours.end', fail) }
    if (quietHours.start === quietHours.end) throw fail('quietHours', 'must have different start and end (use false to disable)')
  }

  let frequencyCap: ResolvedOptions['frequencyCap'] = { max: 1, per: { hours: 12 } }
  if (options.frequencyCap === false) frequencyCap = null
  else if (options.frequencyCap !== undefined) {
    const c = objectOf(options.frequencyCap, 'frequencyCap', fail)
    knownKeys(c, ['max', 'per'], 'frequencyCap', fail)
    frequencyCap = { max: integerOf(c.max, 'frequencyCap.max', fail, { min: 1, max: 1000 }), per: durationOf(c.per, 'frequencyCap.per', fail) }
  }

  const consentPolicy = options.consentPolicy ?? 'explicit'
  if (consentPolicy !== 'explicit' && consentPolicy !== 'soft-opt-in') {
    throw fail('consentPolicy', `must be 'explicit' or 'soft-opt-in' (got ${JSON.stringify(consentPolicy)})`)
  }

  const retry = options.retry === undefined ? {} : objectOf(options.retry, 'retry', fail)
  knownKeys(retry, ['attempts', 'backoff', 'maxBackoff'], 'retry', fail)
  const worker = options.worker === undefined ? {} : objectOf(options.worker, 'worker', fail)
  knownKeys(worker, ['id', 'batchSize', 'concurrency', 'lease', 'interval'], 'worker', fail)
  const limits = options.limits === undefined ? {} : objectOf(options.limits, 'limits', fail)
  knownKeys(limits, ['maxItems'], 'limits', fail)

  const duration = (key: 'attributionWindow' | 'staleAfter' | 'restoreLinkTtl' | 'incentiveCooldown', fallback: Duration) =>
    options[key] === undefined ? fallback : durationOf(options[key], key, fail)

  return {
    secret,
    shop,
    templates: options.templates === undefined ? undefined : stringOf(options.templates, 'templates', fail, { max: 4096 }),
    sequence,
    quietHours,
    frequencyCap,
    consentPolicy,
    experiments: resolveExperiments(options.experiments ?? [], sequence, renderer),
    attributionWindow: duration('attributionWindow', { days: 7 }),
    staleAfter: duration('staleAfter', { days: 7 }),
    restoreLinkTtl: duration('restoreLinkTtl', { days: 30 }),
    incentiveCooldown: duration('incentiveCooldown', { days: 30 }),
    retry: {
      attempts: positiveInteger(retry.attempts, 'retry.attempts', 5, 100),
      backoff: retry.backoff === undefined ? { minutes: 1 } : durationOf(retry.backoff, 'retry.backoff', fail),
      maxBackoff: retry.maxBackoff === undefined ? { hours: 1 } : durationOf(retry.maxBackoff, 'retry.maxBackoff', fail),
    },
    worker: {
      id: worker.id === undefined ? undefined : stringOf(worker.id, 'worker.id', fail, { max: 200 }),
      batchSize: positiveInteger(worker.batchSize, 'worker.batchSize', 100, 10_000),
      concurrency: positiveInteger(worker.concurrency, 'worker.concurrency', 24, 1000),
      lease: worker.lease === undefined ? { minutes: 2 } : durationOf(worker.lease, 'worker.lease', fail),
      interval: worker.interval === undefined ? { seconds: 5 } : durationOf(worker.interval, 'worker.interval', fail),
    },
    limits: { maxItems: positiveInteger(limits.maxItems, 'limits.maxItems', 250, 10_000) },
  }
}
