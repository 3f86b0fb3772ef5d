/**
 * Processing of due work. A job only says "look at cart X now"; every decision is recomputed
 * here from the current cart, profile, send log and options, so a stale job can never cause a
 * wrong email: at worst it wakes up for nothing and goes back to sleep.
 *
 * Order of the checks for one job: the cart is still the person's live abandoned cart (not
 * emptied, ordered, superseded or stale) → which step is due (only the most advanced one, no
 * burst after downtime) → a lawful basis and an address that is not suppressed → quiet hours →
 * frequency cap → one email per person per tick → hooks → reserve the (cart, step) record →
 * send → mark sent only once the transport confirmed.
 */
import { customAlphabet } from 'nanoid'
import type { Core } from './core.js'
import { RelanceError, isRelanceError } from './errors.js'
import {
  effectiveStep, experimentFor, lookupAssignment, recordAssignment, type Assignment, type EffectiveStep,
} from './experiments.js'
import { parseItems } from './inputs.js'
import type { HookContext } from './options.js'
import type { RenderInput } from './render/types.js'
import type {
  CartRecord, CartView, JobRecord, ProfileRecord, SendIncentive, SendOutcome, SendRecord, SettleItem, Settlement,
} from './stores/types.js'
import { addDuration, approximateMs, backoffDelay, capUntil, quietUntil, subtractDuration } from './time.js'
import { randomId, signToken, tokenUrl } from './tokens.js'
import { classifyTransportError } from './transports/classify.js'
import type { OutgoingMessage } from './transports/types.js'
import type { SkipReason, TickResult } from './types.js'

/** State shared by the jobs of one tick. */
export interface TickState {
  now: Date
  counts: TickResult
  /** Profiles that got a message in this tick: never two in one run. */
  contacted: Set<string>
  /** Set after a connection-level failure: the remaining sends of the tick wait instead of piling up. */
  transportDownUntil: Date | null
  /** A send was held back by the rate limit: the background loop comes back sooner. */
  rateLimited: boolean
  /**
   * Settlements of the batch being processed, written together (`settleMany`) once the batch is
   * done. Every settlement ends its job's processing, and is guarded by owner and revision, so
   * writing it a little later changes nothing but the number of round trips.
   */
  settlements: SettleItem[]
  /**
   * For each queued settlement, what reports it (a 'skipped' or 'deferred' event and its count),
   * or null: run once the settlement is written and applied, so a listener reading the store
   * sees what the event says, and a decision that yielded to a newer state of the cart (the cart
   * changed while it was processed) is neither announced nor counted.
   */
  announcements: ((() => void) | null)[]
}

export function newTickState(now: Date): TickState {
  return {
    now,
    counts: { claimed: 0, sent: 0, skipped: 0, deferred: 0, failed: 0, heldOut: 0, tasks: 0 },
    contacted: new Set(),
    transportDownUntil: null,
    rateLimited: false,
    settlements: [],
    announcements: [],
  }
}

/** Token bucket on the engine clock: `maxPerSecond` sends per second, bursts up to that. */
export class RateLimiter {
  private tokens: number
  private last = -Infinity

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond
  }

  /** Takes a token at `now`; returns null when granted, else when to try again. */
  take(now: Date): Date | null {
    const t = now.getTime()
    if (this.last !== -Infinity) this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond)
    this.last = Math.max(this.last, t)
    if (this.tokens >= 1) {
      this.tokens -= 1
      return null
    }
    return new Date(t + Math.ceil(((1 - this.tokens) / this.perSecond) * 1000))
  }
}

const makeCode = customAlphabet('23456789ABCDEFGHJKLMNPQRSTUVWXYZ', 10)

export function subtotalOf(items: readonly { quantity: number; unitAmount: number }[]): number {
  return items.reduce((sum, item) => sum + item.quantity * item.unitAmount, 0)
}

function timeZoneOf(core: Core, profile: ProfileRecord): string {
  return profile.timeZone ?? core.options.shop.timeZone
}

/** Whether the person may receive marketing email (guarantee 2). */
export function hasLawfulBasis(core: Core, profile: ProfileRecord): boolean {
  if (profile.marketing.state === 'granted') return true
  // Soft opt-in (CPCE L.34-5, ePrivacy art. 13(2)): existing customers who were offered an
  // opt-out at collection — which the shop attests by choosing this policy — and never refused.
  return core.options.consentPolicy === 'soft-opt-in' && profile.marketing.state === 'unknown' && profile.hasPurchased
}

/**
 * Queues the job's settlement with the rest of its batch (see `TickState.settlements`), and the
 * event that announces it once it is applied.
 */
export function settleJob(state: TickState, job: JobRecord, settlement: Settlement, announce: (() => void) | null = null): void {
  state.settlements.push({ cartId: job.cartId, rev: job.rev, settlement })
  state.announcements.push(announce)
}

/** Steps not yet taken for this cart, each as this person receives it, with its due time. */
async function remainingSteps(core: Core, cart: CartRecord, profile: ProfileRecord, sends: SendRecord[]) {
  const taken = sends.filter((s) => s.outcome !== 'sending').map((s) => s.stepIndex)
  const next = taken.length === 0 ? 0 : Math.max(...taken) + 1
  const zone = timeZoneOf(core, profile)
  const assignments = new Map<string, Assignment>()
  const steps: { effective: EffectiveStep; dueAt: Date }[] = []
  for (const step of core.options.sequence.slice(next)) {
    const experiment = experimentFor(core, step)
    let assignment: Assignment | null = null
    if (experiment !== null) {
      assignment = assignments.get(experiment.id) ?? (await lookupAssignment(core, experiment, profile.id))
      assignments.set(experiment.id, assignment)
    }
    const effective = effectiveStep(step, assignment)
    steps.push({ effective, dueAt: addDuration(cart.activityAt, effective.after, zone) })
  }
  return steps
}

function meetsConditions(effective: EffectiveStep, profile: ProfileRecord, subtotal: number): boolean {
  const { when } = effective.step
  if (when.minSubtotal !== null && subtotal < when.minSubtotal) return false
  if (when.customer === 'new' && profile.hasPurchased) return false
  if (when.customer === 'returning' && !profile.hasPurchased) return false
  return true
}

function hookContext(cart: CartRecord, profile: ProfileRecord, effective: EffectiveStep, now: Date): HookContext {
  return {
    cartId: cart.id,
    profileId: profile.id,
    step: effective.step.id,
    variant: effective.assignment?.variant.id ?? null,
    items: structuredClone(cart.items),
    currency: cart.currency,
    subtotal: subtotalOf(cart.items),
    email: profile.email,
    firstName: profile.firstName,
    now,
  }
}

async function callHook<T>(core: Core, name: string, cartId: string, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    const wrapped = new RelanceError('HOOK_ERROR', `the ${name} hook threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    core.emit('error', { error: wrapped, during: `hook:${name}`, cartId })
    throw wrapped
  }
}

function fromDomain(core: Core): string {
  return core.options.shop.fromAddress.split('@')[1]!
}

export function messageIdFor(core: Core, cartId: string, step: string): string {
  return `<${core.keys.messageTag(cartId, step)}.relance@${fromDomain(core)}>`
}

export function restoreUrlFor(core: Core, send: SendRecord): string {
  const expiresAt = addDuration(send.createdAt, core.options.restoreLinkTtl, core.options.shop.timeZone)
  return tokenUrl(core.options.shop.restoreUrl, signToken(core.keys, 'restore', send.id, expiresAt))
}

export function unsubscribeUrlFor(core: Core, send: SendRecord): string {
  return tokenUrl(core.options.shop.unsubscribeUrl, signToken(core.keys, 'unsubscribe', send.id, null))
}

/**
 * Processes one leased job, given the view of its cart read with its batch (`undefined`: the
 * cart is gone). Never throws for a per-job problem: failures are settled, counted and reported
 * through events; only store failures escape (the lease then expires and another attempt
 * happens later). The settlement is queued in `state.settlements`.
 *
 * The view may be a few moments older than the job's processing; that is safe because anything
 * that should stop an email (an order, a new snapshot, an objection) changes the job's revision,
 * and the send is reserved only while the revision is the one claimed.
 */
export async function processJob(
  core: Core, job: JobRecord, view: CartView | undefined, state: TickState, limiter: RateLimiter | null,
): Promise<void> {
  try {
    await processClaimed(core, job, view, state, limiter)
  } catch (error) {
    if (!(error instanceof JobChanged)) throw error
    // An order, a new snapshot or a cancel reached the job after it was claimed: the newer state
    // wins. The settlement yields to it (the revision moved on) and only releases the lease.
    settleJob(state, job, { state: 'done', note: 'changed' })
  }
}

/** The job changed under its lease; thrown by `reserve` and caught by `processJob`. */
class JobChanged extends Error {}

async function processClaimed(
  core: Core, job: JobRecord, view: CartView | undefined, state: TickState, limiter: RateLimiter | null,
): Promise<void> {
  const { store, options } = core
  const { now, counts } = state
  const settle = (settlement: Settlement) => settleJob(state, job, settlement)
  const end = async (reason: SkipReason, profileId: string, step: string | null = null) => {
    settleJob(state, job, { state: 'done', note: reason }, () => {
      counts.skipped++
      core.emit('skipped', { cartId: job.cartId, profileId, step, reason, at: now })
    })
  }
  const defer = async (step: string, reason: 'quiet-hours' | 'frequency-cap' | 'rate-limit' | 'retry', until: Date, attempts = job.attempts) => {
    settleJob(state, job, { state: 'pending', dueAt: until, attempts, note: reason }, () => {
      counts.deferred++
      core.emit('deferred', { cartId: job.cartId, profileId: job.profileId, step, reason, until })
    })
  }

  if (view === undefined || view.profile === null) return end('gone', job.profileId)
  let cart = view.cart
  const { profile, sends } = view
  if (cart.status === 'empty') return end('emptied', profile.id)
  if (cart.status === 'ordered') return end('ordered', profile.id)
  if (profile.lastOrderAt !== null && profile.lastOrderAt.getTime() >= cart.activityAt.getTime()) return end('ordered', profile.id)
  if (view.superseded) return end('superseded', profile.id)
  const zone = timeZoneOf(core, profile)
  if (addDuration(cart.activityAt, options.staleAfter, zone).getTime() <= now.getTime()) return end('stale', profile.id)

  const remaining = await remainingSteps(core, cart, profile, sends)
  if (remaining.length === 0) return end('completed', profile.id)
  const due = remaining.filter((r) => r.dueAt.getTime() <= now.getTime())
  if (due.length === 0) {
    settle({ state: 'pending', dueAt: remaining[0]!.dueAt, attempts: 0, note: 'waiting' })
    return
  }
  const subtotal = subtotalOf(cart.items)
  const eligible = due.filter((r) => meetsConditions(r.effective, profile, subtotal))
  const chosen = eligible[eligible.length - 1]
  const passedOver = async () => {
    // Steps due before the chosen one are overdue (downtime): never sent later, never in a burst.
    for (const r of due) {
      if (r === chosen) continue
      const condition = !eligible.includes(r)
      await reserve(core, job, cart!, profile, r.effective, now, 'skipped', condition ? 'condition' : 'overdue')
      counts.skipped++
      core.emit('skipped', { cartId: cart!.id, profileId: profile.id, step: r.effective.step.id, reason: condition ? 'condition' : 'overdue', at: now })
    }
  }
  if (chosen === undefined) {
    await passedOver()
    const later = remaining.find((r) => r.dueAt.getTime() > now.getTime())
    if (later === undefined) return end('completed', profile.id)
    settle({ state: 'pending', dueAt: later.dueAt, attempts: 0, note: 'waiting' })
    return
  }
  const effective = chosen.effective
  const stepId = effective.step.id
  const isEmail = effective.step.channel === 'email'

  // Lawful basis and suppression (guarantees 1 and 2). Checked before the holdout branch so that
  // the holdout records a "would have sent" exactly when an email would have been sent.
  if (isEmail && profile.email === null) return end('no-email', profile.id)
  if (profile.marketing.state === 'refused') return end('no-consent', profile.id)
  if (profile.email !== null && (await store.getSuppression(core.keys.emailKey(profile.email))) !== null) {
    return end('suppressed', profile.id)
  }
  if (!hasLawfulBasis(core, profile)) return end('no-consent', profile.id)

  if (isEmail) {
    if (options.quietHours !== null) {
      const until = quietUntil(now, options.quietHours, zone)
      if (until !== null) return defer(stepId, 'quiet-hours', until)
    }
    if (options.frequencyCap !== null) {
      const since = subtractDuration(now, options.frequencyCap.per, zone)
      const recent = await store.listProfileSends(profile.id, since)
      const times = recent
        .filter((s) => s.outcome === 'sent' || s.outcome === 'sending' || s.outcome === 'held-out')
        .filter((s) => !(s.cartId === cart!.id && s.step === stepId)) // a retry of this very send
        .map((s) => s.sentAt ?? s.createdAt)
      const until = capUntil(now, times, options.frequencyCap, zone)
      if (until !== null) return defer(stepId, 'frequency-cap', until)
    }
    if (state.contacted.has(profile.id)) return defer(stepId, 'frequency-cap', new Date(now.getTime() + 1))
  }

  // From here on the person has reached the step: the experiment assignment becomes permanent.
  let assignment = effective.assignment
  if (assignment !== null) {
    assignment = await recordAssignment(core, assignment, profile.id, now)
    if (assignment.variant.id !== effective.assignment?.variant.id) Object.assign(effective, effectiveStep(effective.step, assignment))
  }

  if (effective.holdout) {
    await passedOver()
    await reserve(core, job, cart, profile, effective, now, 'held-out', null)
    counts.heldOut++
    state.contacted.add(profile.id)
    return settleNext(core, state, job, cart, profile, sends, effective.step.index)
  }

  if (state.transportDownUntil !== null && isEmail && state.transportDownUntil > now) {
    return defer(stepId, 'retry', state.transportDownUntil)
  }

  // The shop's last word: revalidate stock and prices, or veto.
  if (core.hooks.beforeSend !== undefined) {
    let verdict
    try {
      verdict = await callHook(core, 'beforeSend', cart.id, () => core.hooks.beforeSend!(hookContext(cart!, profile, effective, now)))
    } catch (error) {
      return retryLater(core, job, state, stepId, error as RelanceError, false)
    }
    if (verdict === false) {
      await passedOver()
      await reserve(core, job, cart, profile, effective, now, 'skipped', 'vetoed')
      counts.skipped++
      core.emit('skipped', { cartId: cart.id, profileId: profile.id, step: stepId, reason: 'vetoed', at: now })
      return settleNext(core, state, job, cart, profile, sends, effective.step.index)
    }
    if (typeof verdict === 'object' && verdict !== null) {
      let items
      try {
        items = parseItems(verdict.items, options.limits.maxItems)
      } catch (error) {
        const wrapped = new RelanceError('HOOK_ERROR', `beforeSend returned invalid items: ${(error as Error).message}`, { cause: error })
        core.emit('error', { error: wrapped, during: 'hook:beforeSend', cartId: cart.id })
        return retryLater(core, job, state, stepId, wrapped, false)
      }
      cart = { ...cart, items, status: items.length === 0 ? 'empty' : cart.status, updatedAt: now }
      await store.saveCart(cart)
      if (items.length === 0) return end('emptied', profile.id)
    }
  }

  await passedOver()
  const send = await reserve(core, job, cart, profile, effective, now, 'sending', null)
  if (send.outcome !== 'sending') {
    // Another worker finished this step while our lease was running out: nothing to do.
    return settleNext(core, state, job, cart, profile, sends, effective.step.index)
  }

  if (!isEmail) {
    try {
      await callHook(core, 'onTask', cart.id, () => core.hooks.onTask!({
        ...hookContext(cart!, profile, effective, now),
        customerId: profile.customerId,
        locale: profile.locale,
        restoreUrl: restoreUrlFor(core, send),
      }))
    } catch (error) {
      return retryLater(core, job, state, stepId, error as RelanceError, false)
    }
    await store.updateSend(send.id, { outcome: 'task', sentAt: now, reason: null })
    counts.tasks++
    return settleNext(core, state, job, cart, profile, sends, effective.step.index)
  }

  const incentive = send.incentive ?? (await makeIncentive(core, cart, profile, effective, send, now))
  let message: OutgoingMessage
  try {
    message = await buildMessage(core, cart, profile, effective, { ...send, incentive }, now)
  } catch (error) {
    // A template that cannot render this cart will not render it later either.
    const wrapped = isRelanceError(error) ? error : new RelanceError('TEMPLATE_ERROR', `rendering failed: ${String(error)}`, { cause: error })
    core.emit('error', { error: wrapped, during: 'render', cartId: cart.id })
    await store.updateSend(send.id, { outcome: 'failed', reason: wrapped.message })
    counts.failed++
    core.emit('failed', { cartId: cart.id, profileId: profile.id, step: stepId, error: wrapped, attempts: job.attempts + 1, willRetry: false })
    return settleNext(core, state, job, cart, profile, sends, effective.step.index)
  }

  if (limiter !== null) {
    const until = limiter.take(core.clock.now())
    if (until !== null) {
      state.rateLimited = true
      return defer(stepId, 'rate-limit', until.getTime() > now.getTime() ? until : new Date(now.getTime() + 1))
    }
  }

  // A slow batch (hooks, rendering, a congested server) can eat the lease: renew it before handing
  // over the message, and give up if another worker has taken the job meanwhile.
  const leaseMs = approximateMs(options.worker.lease)
  const elapsed = core.clock.now().getTime() - now.getTime()
  if (elapsed > leaseMs / 2 && !(await store.extendLease(job.cartId, core.workerId, new Date(core.clock.now().getTime() + leaseMs)))) return

  state.contacted.add(profile.id)
  try {
    await core.transport.send(message)
  } catch (thrown) {
    const error = classifyTransportError(thrown)
    if (error.permanent) {
      await store.updateSend(send.id, { outcome: 'failed', reason: error.message })
      counts.failed++
      const bounced = error.details?.aboutRecipient !== false
      if (bounced) await store.suppress({ key: core.keys.emailKey(profile.email!), reason: 'bounce', at: now })
      core.emit('failed', { cartId: cart.id, profileId: profile.id, step: stepId, error, attempts: job.attempts + 1, willRetry: false })
      // A refused message (not address) loses this step only; the next one may still go out.
      if (!bounced) return settleNext(core, state, job, cart, profile, sends, effective.step.index)
      settle({ state: 'done', note: 'bounced' })
      return
    }
    await store.updateSend(send.id, { reason: error.message })
    return retryLater(core, job, state, stepId, error, true)
  }
  await store.updateSend(send.id, { outcome: 'sent', sentAt: now, reason: null })
  counts.sent++
  core.emit('sent', { cartId: cart.id, profileId: profile.id, step: stepId, variant: send.variant, messageId: message.messageId, at: now })
  return settleNext(core, state, job, cart, profile, sends, effective.step.index)
}

/**
 * A transient failure: back off and try again. Failures the server answered (4xx) count toward
 * `retry.attempts`; an unreachable server or a failing hook only delays (work is never lost
 * because the mail server is down), until the cart goes stale.
 */
async function retryLater(core: Core, job: JobRecord, state: TickState, step: string, error: RelanceError, fromTransport: boolean): Promise<void> {
  const attempts = job.attempts + 1
  const answered = fromTransport && typeof error.details?.responseCode === 'number'
  const { retry } = core.options
  const delay = backoffDelay(attempts, retry.backoff, retry.maxBackoff, `${job.cartId}:${step}`)
  const until = new Date(state.now.getTime() + delay)
  if (fromTransport && !answered) state.transportDownUntil = until
  if (answered && attempts >= retry.attempts) {
    const send = (await core.store.listCartSends(job.cartId)).find((s) => s.step === step)
    if (send !== undefined) await core.store.updateSend(send.id, { outcome: 'failed', reason: error.message })
    state.counts.failed++
    core.emit('failed', { cartId: job.cartId, profileId: job.profileId, step, error, attempts, willRetry: false })
    const [view] = (await core.store.viewCarts([job.cartId])).values()
    const index = core.options.sequence.findIndex((s) => s.id === step)
    if (view === undefined || view.profile === null) {
      settleJob(state, job, { state: 'done', note: 'failed' })
      return
    }
    return settleNext(core, state, job, view.cart, view.profile, view.sends, index)
  }
  core.emit('failed', { cartId: job.cartId, profileId: job.profileId, step, error, attempts, willRetry: true })
  settleJob(state, job, { state: 'pending', dueAt: until, attempts, note: 'retry' }, () => {
    state.counts.deferred++
    core.emit('deferred', { cartId: job.cartId, profileId: job.profileId, step, reason: 'retry', until })
  })
}

/**
 * After step `index` was taken: sleep until the next step, or finish. `sends` is the cart's log
 * as read before this step: only steps after `index` count, and under the lease no other worker
 * can have taken one of those.
 */
async function settleNext(
  core: Core, state: TickState, job: JobRecord, cart: CartRecord, profile: ProfileRecord, sends: SendRecord[], index: number,
): Promise<void> {
  const remaining = (await remainingSteps(core, cart, profile, sends)).filter((r) => r.effective.step.index > index)
  const next = remaining[0]
  if (next === undefined) {
    settleJob(state, job, { state: 'done', note: 'completed' })
    return
  }
  const { now } = state
  const dueAt = next.dueAt.getTime() > now.getTime() ? next.dueAt : new Date(now.getTime() + 1)
  settleJob(state, job, { state: 'pending', dueAt, attempts: 0, note: 'waiting' })
}

async function reserve(
  core: Core, job: JobRecord, cart: CartRecord, profile: ProfileRecord, effective: EffectiveStep, now: Date,
  outcome: SendOutcome, reason: string | null,
): Promise<SendRecord> {
  const final = outcome === 'held-out' || outcome === 'skipped'
  const send = await core.store.reserveSend({
    id: randomId(),
    cartId: cart.id,
    profileId: profile.id,
    step: effective.step.id,
    stepIndex: effective.step.index,
    experimentId: effective.assignment?.experiment.id ?? null,
    variant: effective.assignment?.variant.id ?? null,
    outcome,
    messageId: effective.step.channel === 'email' && !final ? messageIdFor(core, cart.id, effective.step.id) : null,
    incentive: null,
    subtotal: subtotalOf(cart.items),
    currency: cart.currency,
    reason,
    createdAt: now,
    sentAt: outcome === 'held-out' ? now : null,
    clickedAt: null,
  }, { owner: core.workerId, rev: job.rev })
  if (send === null) throw new JobChanged()
  return send
}

/** Makes the single-use code, unless the person had an incentive recently (abuse guard). */
async function makeIncentive(
  core: Core, cart: CartRecord, profile: ProfileRecord, effective: EffectiveStep, send: SendRecord, now: Date,
): Promise<SendIncentive | null> {
  const incentive = effective.incentive
  if (incentive === null) return null
  const zone = timeZoneOf(core, profile)
  const since = subtractDuration(now, core.options.incentiveCooldown, zone)
  const recent = await core.store.listProfileSends(profile.id, since)
  if (recent.some((s) => s.id !== send.id && s.incentive !== null && (s.outcome === 'sent' || s.outcome === 'sending'))) return null
  const code = core.hooks.createCode === undefined
    ? makeCode()
    : await callHook(core, 'createCode', cart.id, () => core.hooks.createCode!({
      ...hookContext(cart, profile, effective, now),
      incentive: { kind: incentive.kind, value: incentive.value, validFor: incentive.validFor },
    }))
  if (typeof code !== 'string' || code.length === 0 || code.length > 64 || /[\r\n]/.test(code)) {
    throw new RelanceError('HOOK_ERROR', 'createCode must return a non-empty string of at most 64 characters')
  }
  const result: SendIncentive = { kind: incentive.kind, value: incentive.value, code, expiresAt: addDuration(now, incentive.validFor, zone) }
  await core.store.updateSend(send.id, { incentive: result })
  return result
}

async function buildMessage(
  core: Core, cart: CartRecord, profile: ProfileRecord, effective: EffectiveStep, send: SendRecord, now: Date,
): Promise<OutgoingMessage> {
  const { shop } = core.options
  const restoreUrl = restoreUrlFor(core, send)
  const unsubscribeUrl = unsubscribeUrlFor(core, send)
  const input: RenderInput = {
    template: effective.template!,
    locale: profile.locale ?? shop.locale,
    timeZone: profile.timeZone ?? shop.timeZone,
    shop: {
      name: shop.name, url: shop.url, fromAddress: shop.fromAddress, replyTo: shop.replyTo, locale: shop.locale,
      timeZone: shop.timeZone, currency: shop.currency, logoUrl: shop.logoUrl, address: shop.address,
      phone: shop.phone, supportUrl: shop.supportUrl,
    },
    customer: { firstName: profile.firstName },
    cart: { id: cart.id, items: cart.items, currency: cart.currency },
    restoreUrl,
    unsubscribeUrl,
    incentive: send.incentive,
    step: { id: effective.step.id, index: effective.step.index, count: core.options.sequence.length },
    variant: send.variant,
    subject: effective.subject ?? undefined,
    now,
  }
  const email = await core.renderer.render(input)
  return {
    to: profile.email!,
    from: shop.from,
    replyTo: shop.replyTo,
    // Header safety does not depend on the renderer: no line breaks can reach the Subject.
    subject: email.subject.replace(/[\r\n\u2028\u2029]+/g, ' ').trim(),
    html: email.html,
    text: email.text,
    messageId: send.messageId ?? messageIdFor(core, cart.id, effective.step.id),
    headers: {
      'List-Unsubscribe': `<${unsubscribeUrl}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    meta: { cartId: cart.id, profileId: profile.id, step: effective.step.id, variant: send.variant },
  }
}
