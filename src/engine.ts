/**
 * `createRelance`: the public object. Methods validate their input completely before touching
 * the store, run the identity rules, and leave every decision about sending to the scheduler.
 */
import { hostname } from 'node:os'
import type { Duration } from 'date-fns'
import { KeyedLock, type Core } from './core.js'
import { RelanceError } from './errors.js'
import { handleRequest } from './http.js'
import { identityLocks, isAnonymous, joinOverCart, resolveHeld, resolveProfile } from './identity.js'
import { parseIdentify, parseOrder, parseTrackCart, parseWho } from './inputs.js'
import { resolveOptions, type RelanceOptions } from './options.js'
import { createTemplateRenderer } from './render/renderer.js'
import { buildReport, type Report, type ReportOptions } from './report.js'
import { RateLimiter, newTickState, processJob, settleJob } from './scheduler.js'
import { memoryStore } from './stores/memory.js'
import type { CartRecord, OrderAttribution, ProfileRecord, PurgeResult, SuppressionReason } from './stores/types.js'
import { addDuration, approximateMs, subtractDuration } from './time.js'
import { deriveKeys, randomId, verifyToken } from './tokens.js'
import { memoryTransport } from './transports/memory.js'
import type {
  ForgetResult, IdentifyInput, OrderInput, OrderResult, RelanceEvents, RestoreResult, TickResult,
  TimeInput, TrackCartInput, UnsubscribeResult,
} from './types.js'
import { dateOf, durationOf, failInput, idOf, isPlainObject } from './validate.js'

export interface Relance {
  /** Resolves once the store is migrated and every template compiled; rejects with the first problem. */
  ready(): Promise<void>
  /** Records the whole current content of a cart (snapshot). `items: []` ends its recovery. */
  trackCart(input: TrackCartInput): Promise<{ profileId: string }>
  /** Tells who is on a device: account, email, name, locale, zone, consent. Merges profiles of one person. */
  identify(input: IdentifyInput): Promise<{ profileId: string }>
  /** Stops recovery for the person on every device and attributes the order to the last email. */
  orderPlaced(input: OrderInput): Promise<OrderResult>
  /** Processes everything due now (or at `now`) and returns what happened. */
  tick(options?: { now?: TimeInput }): Promise<TickResult>
  /** Runs `tick` in the background every `worker.interval`. Problems become `'error'` events. */
  start(): void
  /** Stops the background loop and waits for the tick in progress. */
  stop(): Promise<void>
  /** Reads a restore link: the cart's current content plus attribution. Never logs anyone in. */
  restore(token: string, options?: { deviceId?: string }): Promise<RestoreResult>
  /** One-click unsubscribe from a link's token: refuses marketing consent and suppresses the address. */
  unsubscribe(token: string): Promise<UnsubscribeResult>
  /** Puts an address on the suppression list (bounce/complaint webhooks, manual). */
  suppress(email: string, reason?: SuppressionReason): Promise<void>
  /** Erases everything about a person (GDPR art. 17). */
  forget(who: { email: string } | { customerId: string }): Promise<ForgetResult>
  /** Deletes carts, sends and orders older than `olderThan` (a Duration before now, or a date). */
  purge(options: { olderThan: Duration | Date }): Promise<PurgeResult>
  report(options?: ReportOptions): Promise<Report>
  /** Serves `shop.unsubscribeUrl` (and `shop.restoreUrl` when `onRestore` is set); 404 otherwise. */
  handle(request: Request): Promise<Response>
  on<K extends keyof RelanceEvents>(event: K, listener: (event: RelanceEvents[K]) => void): () => void
  off<K extends keyof RelanceEvents>(event: K, listener: (event: RelanceEvents[K]) => void): void
  /** `stop()`, then closes the transport and the store. */
  close(): Promise<void>
}

const SUPPRESSION_REASONS: readonly SuppressionReason[] = ['unsubscribe', 'bounce', 'complaint', 'manual']

export function createRelance(options: RelanceOptions): Relance {
  const raw = options as unknown as Record<string, unknown>
  const renderer = isPlainObject(raw) && raw.renderer !== undefined
    ? (raw.renderer as RelanceOptions['renderer'])!
    : createTemplateRenderer({ templates: typeof raw?.templates === 'string' ? raw.templates : undefined })
  const resolved = resolveOptions(options, renderer)

  const listeners = new Map<keyof RelanceEvents, Set<(event: never) => void>>()
  const emit = <K extends keyof RelanceEvents>(name: K, event: RelanceEvents[K]) => {
    const set = listeners.get(name)
    if (set === undefined || set.size === 0) {
      // Nobody listens to errors: say it once on stderr rather than fail silently or crash.
      if (name === 'error') console.error('[relance]', (event as RelanceEvents['error']).during, (event as RelanceEvents['error']).error)
      return
    }
    for (const listener of set) {
      try {
        ;(listener as (e: RelanceEvents[K]) => void)(event)
      } catch (error) {
        if (name !== 'error') emit('error', { error: new RelanceError('HOOK_ERROR', `a '${name}' listener threw`, { cause: error }), during: `listener:${name}` })
        else console.error('[relance] an error listener threw', error)
      }
    }
  }

  let readyPromise: Promise<void> | undefined
  const core: Core = {
    options: resolved,
    store: options.store ?? memoryStore(),
    transport: options.transport ?? memoryTransport(),
    renderer,
    keys: deriveKeys(resolved.secret),
    clock: options.clock ?? { now: () => new Date() },
    hooks: {
      createCode: options.createCode, beforeSend: options.beforeSend, onTask: options.onTask,
      onRestore: options.onRestore, deviceIdFrom: options.deviceIdFrom,
    },
    emit,
    locks: new KeyedLock(),
    workerId: resolved.worker.id ?? `${hostname()}:${process.pid}:${randomId().slice(0, 8)}`,
    ready: () => (readyPromise ??= Promise.all([core.store.init(), renderer.init()]).then(() => undefined)),
  }
  const { store } = core
  const limiter = core.transport.maxPerSecond === undefined ? null : new RateLimiter(core.transport.maxPerSecond)

  // The earliest any first step can be due: a new snapshot schedules its wake-up there.
  const firstDelay: Duration = [
    resolved.sequence[0]!.after,
    ...resolved.experiments.flatMap((e) => e.variants.map((v) => v.after)).filter((d): d is Duration => d !== null),
  ].reduce((a, b) => (approximateMs(b) < approximateMs(a) ? b : a))

  const now = () => core.clock.now()
  const zoneOf = (profile: ProfileRecord) => profile.timeZone ?? resolved.shop.timeZone

  /** Wake the person's live cart again when something that blocked it (consent, email) changed. */
  async function reviveRecovery(profile: ProfileRecord): Promise<void> {
    const carts = await store.listCarts(profile.id)
    const latest = carts.reduce<CartRecord | null>((a, c) => (a === null || c.activityAt > a.activityAt ? c : a), null)
    if (latest === null || latest.status !== 'open') return
    const job = await store.getJob(latest.id)
    if (job !== null && job.state === 'done' && job.note !== 'no-consent' && job.note !== 'no-email') return
    if (job !== null && job.state === 'pending') return
    await store.schedule({ cartId: latest.id, profileId: profile.id, dueAt: addDuration(latest.activityAt, firstDelay, zoneOf(profile)) })
  }

  async function cancelRecoveries(profileId: string, note: string, before?: Date): Promise<void> {
    for (const cart of await store.listCarts(profileId)) {
      if (before === undefined || cart.activityAt.getTime() <= before.getTime()) await store.cancel(cart.id, note)
    }
  }

  const sameItems = (a: CartRecord['items'], b: CartRecord['items']) => JSON.stringify(a) === JSON.stringify(b)

  async function trackCart(input: TrackCartInput): Promise<{ profileId: string }> {
    const command = parseTrackCart(input, now(), resolved.limits.maxItems)
    await core.ready()
    // The cart's lock and the identity's, taken together: the cart's owner may be joined to this
    // person below, under the same locks.
    return core.locks.run([`cart:${command.cartId}`, ...identityLocks(command)], async () => {
      // The cart is read together with the identity lookups (under these locks all along).
      let existing: CartRecord | null = null
      let status: CartRecord['status'] = command.items.length === 0 ? 'empty' : 'open'
      const readCart = (cart: CartRecord | null) => {
        existing = cart
        // Snapshots can arrive out of order (retries, queues): the newest one wins, and an older
        // one changes nothing, identity included.
        if (existing !== null && existing.activityAt.getTime() > command.at.getTime()) return false
        // A bought cart that the shop reports again unchanged is not a new abandonment.
        status = command.items.length === 0 ? 'empty' : 'open'
        if (existing?.status === 'ordered' && status === 'open' && sameItems(existing.items, command.items)) status = 'ordered'
        return true
      }
      const snapshot = (profile: ProfileRecord): CartRecord => ({
        id: command.cartId,
        profileId: profile.id,
        deviceId: command.deviceId ?? existing?.deviceId ?? null,
        items: command.items,
        currency: command.currency,
        status,
        activityAt: command.at,
        createdAt: existing?.createdAt ?? command.at,
        updatedAt: now(),
      })
      // The snapshot and its wake-up (or the end of its recovery).
      const job = (profile: ProfileRecord) => status === 'open'
        ? { dueAt: addDuration(command.at, firstDelay, zoneOf(profile)) }
        : { cancel: status === 'empty' ? 'emptied' : 'ordered' }
      let saved = false
      const found = await resolveHeld(core, command, command.at, {
        create: true,
        cart: { id: command.cartId, alongside: readCart },
        // The person's own cart (or a new one) is saved with the profile's write, in one store
        // write: a new visitor's first cart is one round trip. A cart another profile holds
        // waits for the join below.
        commit: async (p, write) => {
          if (existing !== null && existing.profileId !== p.id) return false
          await store.saveCart(snapshot(p), job(p), write ?? undefined)
          return (saved = true)
        },
      })
      if (found === null) return { profileId: existing!.profileId } // an older snapshot
      let profile = found
      if (saved) return { profileId: profile.id }
      const owner = await store.getProfile(existing!.profileId)
      if (owner !== null) profile = (await joinOverCart(core, owner, profile, command.at)) ?? profile
      await store.saveCart(snapshot(profile), job(profile))
      return { profileId: profile.id }
    })
  }

  async function identify(input: IdentifyInput): Promise<{ profileId: string }> {
    const command = parseIdentify(input, now())
    await core.ready()
    let unblocked = false
    const profile = (await resolveProfile(core, command, command.at, {
      create: true,
      edit: (p) => {
        const next = { ...p }
        if (command.firstName !== null) next.firstName = command.firstName
        if (command.locale !== null) next.locale = command.locale
        if (command.timeZone !== null) next.timeZone = command.timeZone
        if (command.hasPurchased !== null) next.hasPurchased = command.hasPurchased
        if (command.consent !== null) {
          const given = { state: command.consent.marketing ? 'granted' : 'refused', at: command.consent.at, source: command.consent.source } as const
          // The most recent decision wins whatever order the calls arrive in; a tie goes to this call.
          if (p.marketing.state === 'unknown' || given.at.getTime() >= (p.marketing.at?.getTime() ?? -Infinity)) next.marketing = given
        }
        unblocked = next.marketing.state !== 'refused' && (next.marketing.state !== p.marketing.state || next.email !== p.email || next.hasPurchased !== p.hasPurchased)
        return next
      },
    }))!
    if (unblocked) await reviveRecovery(profile)
    return { profileId: profile.id }
  }

  async function orderPlaced(input: OrderInput): Promise<OrderResult> {
    const command = parseOrder(input, now())
    await core.ready()
    const lockKeys = command.cartId === null ? [] : [`cart:${command.cartId}`]
    return core.locks.run(lockKeys, async () => {
      const cart = command.cartId === null ? null : await store.getCart(command.cartId)
      const markOrdered = (p: ProfileRecord): ProfileRecord => ({
        ...p,
        hasPurchased: true,
        lastOrderAt: p.lastOrderAt === null || p.lastOrderAt < command.at ? command.at : p.lastOrderAt,
      })
      const hasKeys = command.deviceId !== null || command.customerId !== null || command.email !== null
      let profile = hasKeys ? await resolveProfile(core, command, command.at, { create: false, edit: markOrdered }) : null
      // The cart may belong to another profile (an anonymous one not merged yet): stop it too.
      if (cart !== null && cart.profileId !== profile?.id) {
        const owner = await store.getProfile(cart.profileId)
        if (owner !== null) {
          const marked = markOrdered(owner)
          await store.saveProfile(marked)
          await cancelRecoveries(marked.id, 'ordered', command.at)
          profile ??= marked
        }
      }
      if (profile === null) return { known: false, attributedTo: null }
      if (cart !== null) {
        await store.saveCart({ ...cart, status: 'ordered', updatedAt: now() }, { cancel: 'ordered' })
      }
      await cancelRecoveries(profile.id, 'ordered', command.at)

      // Attribution: the last email (or holdout "would-have-sent") within the window before the order.
      const windowStart = subtractDuration(command.at, resolved.attributionWindow, zoneOf(profile))
      const candidates = (await store.listProfileSends(profile.id, windowStart))
        .filter((s) => (s.outcome === 'sent' || s.outcome === 'held-out') && s.sentAt !== null)
        .filter((s) => s.sentAt!.getTime() >= windowStart.getTime() && s.sentAt!.getTime() <= command.at.getTime())
        .sort((a, b) => a.sentAt!.getTime() - b.sentAt!.getTime())
      const last = candidates[candidates.length - 1]
      const attribution: OrderAttribution | null = last === undefined ? null : {
        sendId: last.id, cartId: last.cartId, step: last.step, experimentId: last.experimentId, variant: last.variant,
        outcome: last.outcome as 'sent' | 'held-out',
        clicked: candidates.some((s) => s.clickedAt !== null && s.clickedAt.getTime() <= command.at.getTime()),
      }
      const fresh = await store.saveOrder({
        id: command.orderId, profileId: profile.id, cartId: command.cartId, total: command.total,
        currency: command.currency, at: command.at, attribution,
      })
      if (fresh && attribution !== null && attribution.outcome === 'sent') {
        emit('recovered', {
          orderId: command.orderId, profileId: profile.id, cartId: attribution.cartId, step: attribution.step,
          variant: attribution.variant, clicked: attribution.clicked, total: command.total, currency: command.currency, at: command.at,
        })
      }
      return {
        known: true,
        attributedTo: attribution === null ? null : { step: attribution.step, variant: attribution.variant, clicked: attribution.clicked },
      }
    })
  }

  /** Delay before the background loop's next tick when work is left over (null: the usual interval). */
  let nextTickIn: number | null = null
  async function tick(tickOptions: { now?: TimeInput } = {}): Promise<TickResult> {
    const at = tickOptions.now === undefined ? now() : dateOf(tickOptions.now, 'now', failInput)
    await core.ready()
    // A template saved since the last tick is used from this one on; a broken save is reported
    // and the previous templates keep sending.
    if (renderer.refresh !== undefined) {
      try {
        await renderer.refresh()
      } catch (error) {
        emit('error', { error: error instanceof RelanceError ? error : new RelanceError('TEMPLATE_ERROR', String(error), { cause: error }), during: 'templates' })
      }
    }
    const state = newTickState(at)
    const { batchSize, concurrency } = resolved.worker
    const seen = new Set<string>()
    nextTickIn = null
    // A batch is claimed and its carts read in one call (one statement on PostgreSQL) while the
    // previous batch's settlements are written: a job stays leased until its settlement is
    // written, so it cannot be claimed twice in between.
    let writing: Promise<{ error: unknown } | null> | null = null
    const written = async () => {
      const failure = await writing
      writing = null
      if (failure !== null) throw failure.error
    }
    for (;;) {
      const { jobs, views } = await store.claimBatch({ now: at, limit: batchSize, owner: core.workerId, leaseUntil: addDuration(at, resolved.worker.lease, 'UTC') })
      state.counts.claimed += jobs.length
      const fresh = jobs.filter((job) => !seen.has(job.cartId))
      // A job settled due again within this tick waits for the next one (no loops, no bursts).
      for (const job of jobs) {
        if (seen.has(job.cartId)) settleJob(state, job, { state: 'pending', dueAt: new Date(at.getTime() + 1), attempts: job.attempts, note: 'next-tick' })
        seen.add(job.cartId)
      }
      const more = jobs.length === batchSize && fresh.length > 0
      let next = 0
      const run = async () => {
        while (next < fresh.length) {
          const job = fresh[next++]!
          try {
            await processJob(core, job, views.get(job.cartId), state, limiter)
          } catch (error) {
            // A store failure mid-job: the lease expires and the job is retried later.
            const wrapped = error instanceof RelanceError ? error : new RelanceError('STORE_ERROR', `processing failed: ${String(error)}`, { cause: error })
            emit('error', { error: wrapped, during: 'process', cartId: job.cartId })
          }
        }
      }
      await Promise.all(Array.from({ length: Math.min(concurrency, fresh.length) }, run))
      // The batch's settlements in one write. If it fails, the leases expire and the jobs are
      // looked at again: every decision is recomputed, and a sent step is never sent twice.
      await written()
      const settlements = state.settlements.splice(0)
      const announcements = state.announcements.splice(0)
      if (settlements.length > 0) {
        writing = store.settleMany(core.workerId, settlements).then((results) => {
          results.forEach((result, i) => { if (result === 'applied') announcements[i]?.() })
          return null
        }, (error: unknown) => ({ error }))
      }
      if (!more) {
        if (jobs.length === batchSize) nextTickIn = 0 // only jobs seen in this tick: more work soon
        break
      }
    }
    await written()
    // Rate-limited sends wait for the bucket to refill: about a second, not a whole interval.
    if (state.rateLimited) nextTickIn = 1000
    return state.counts
  }

  let running: { stopped: boolean; timer: ReturnType<typeof setTimeout> | null; current: Promise<void> | null } | null = null
  function start(): void {
    if (running !== null) return
    const loop = { stopped: false, timer: null as ReturnType<typeof setTimeout> | null, current: null as Promise<void> | null }
    running = loop
    const interval = approximateMs(resolved.worker.interval)
    const schedule = (delay: number) => {
      if (loop.stopped) return
      loop.timer = setTimeout(() => {
        loop.timer = null
        loop.current = tick().then(
          () => schedule(nextTickIn ?? interval),
          (error: unknown) => {
            emit('error', { error: error instanceof RelanceError ? error : new RelanceError('STORE_ERROR', `tick failed: ${String(error)}`, { cause: error }), during: 'tick' })
            schedule(interval)
          },
        )
      }, delay)
      loop.timer.unref?.()
    }
    schedule(0)
  }

  async function stop(): Promise<void> {
    const loop = running
    if (loop === null) return
    loop.stopped = true
    if (loop.timer !== null) clearTimeout(loop.timer)
    await loop.current
    running = null
  }

  /** Points a device at the person who restored a link; an anonymous profile on it joins them. */
  async function attachDevice(profile: ProfileRecord, deviceId: string, at: Date): Promise<void> {
    await core.locks.run([`device:${deviceId}`], async () => {
      const current = await store.findProfile({ deviceId })
      if (current?.id === profile.id) return
      if (current !== null && isAnonymous(current)) {
        await store.mergeProfiles(current.id, profile.id)
        const merged = (await store.getProfile(profile.id)) ?? profile
        await store.saveProfile({ ...merged, updatedAt: at })
      }
      await store.linkDevice(deviceId, profile.id, at)
    })
  }

  async function restore(token: string, restoreOptions: { deviceId?: string } = {}): Promise<RestoreResult> {
    const at = now()
    const { id } = verifyToken(core.keys, 'restore', token, at)
    const deviceId = restoreOptions.deviceId === undefined ? null : idOf(restoreOptions.deviceId, 'deviceId', failInput)
    await core.ready()
    const send = await store.recordClick(id, at)
    const cart = send === null ? null : await store.getCart(send.cartId)
    const profile = cart === null ? null : await store.getProfile(cart.profileId)
    if (send === null || cart === null || profile === null) {
      throw new RelanceError('TOKEN_INVALID', 'the restore link points to a cart that no longer exists', { field: 'token' })
    }
    if (deviceId !== null) await attachDevice(profile, deviceId, at)
    return {
      cartId: cart.id,
      items: structuredClone(cart.items),
      currency: cart.currency,
      status: cart.status,
      profile: { id: profile.id, firstName: profile.firstName, locale: profile.locale },
      step: send.step,
      variant: send.variant,
    }
  }

  async function objectionFor(profile: ProfileRecord, reason: SuppressionReason, at: Date): Promise<void> {
    if (reason === 'unsubscribe' || reason === 'complaint') {
      await store.saveProfile({ ...profile, marketing: { state: 'refused', at, source: reason }, updatedAt: at })
    }
    await cancelRecoveries(profile.id, 'suppressed')
  }

  async function unsubscribe(token: string): Promise<UnsubscribeResult> {
    const at = now()
    const { id } = verifyToken(core.keys, 'unsubscribe', token, at)
    await core.ready()
    const send = await store.getSend(id)
    const profile = send === null ? null : await store.getProfile(send.profileId)
    if (profile === null) return { found: false }
    if (profile.email !== null) await store.suppress({ key: core.keys.emailKey(profile.email), reason: 'unsubscribe', at })
    await objectionFor(profile, 'unsubscribe', at)
    return { found: true }
  }

  async function suppress(email: string, reason: SuppressionReason = 'manual'): Promise<void> {
    const address = parseWho({ email }, 'suppress') as { email: string }
    if (!SUPPRESSION_REASONS.includes(reason)) throw failInput('reason', `must be one of ${SUPPRESSION_REASONS.join(', ')} (got ${JSON.stringify(reason)})`)
    await core.ready()
    const at = now()
    await store.suppress({ key: core.keys.emailKey(address.email), reason, at })
    const profile = await store.findProfile({ email: address.email })
    if (profile !== null) await objectionFor(profile, reason, at)
  }

  async function forget(who: { email: string } | { customerId: string }): Promise<ForgetResult> {
    const key = parseWho(who, 'forget')
    await core.ready()
    const profile = await store.findProfile(key)
    const email = 'email' in key ? key.email : profile?.email ?? null
    let suppressionKept = false
    if (email !== null) {
      const emailKey = core.keys.emailKey(email)
      const suppression = await store.getSuppression(emailKey)
      const objected = profile?.marketing.state === 'refused' || suppression?.reason === 'unsubscribe' || suppression?.reason === 'complaint'
      if (objected) {
        // The one thing kept: a keyed hash, so that the objection survives the erasure.
        await store.suppress({ key: emailKey, reason: suppression?.reason === 'complaint' ? 'complaint' : 'unsubscribe', at: suppression?.at ?? now() })
        suppressionKept = true
      } else if (suppression !== null) {
        await store.unsuppress(emailKey)
      }
    }
    if (profile !== null) await store.forgetProfile(profile.id)
    return { erased: profile !== null, suppressionKept }
  }

  async function purge(purgeOptions: { olderThan: Duration | Date }): Promise<PurgeResult> {
    const olderThan = isPlainObject(purgeOptions) ? purgeOptions.olderThan : undefined
    const before = olderThan instanceof Date
      ? dateOf(olderThan, 'olderThan', failInput)
      : subtractDuration(now(), durationOf(olderThan, 'olderThan', failInput), resolved.shop.timeZone)
    await core.ready()
    return store.purge(before)
  }

  const relance: Relance = {
    ready: () => core.ready(),
    trackCart,
    identify,
    orderPlaced,
    tick,
    start,
    stop,
    restore,
    unsubscribe,
    suppress,
    forget,
    purge,
    report: async (reportOptions = {}) => {
      await core.ready()
      return buildReport(core, reportOptions)
    },
    handle: (request) => handleRequest(core, relance, request),
    on(event, listener) {
      let set = listeners.get(event)
      if (set === undefined) listeners.set(event, (set = new Set()))
      set.add(listener as (event: never) => void)
      return () => relance.off(event, listener)
    },
    off(event, listener) {
      listeners.get(event)?.delete(listener as (event: never) => void)
    },
    async close() {
      await stop()
      await core.transport.close?.()
      await store.close()
    },
  }
  return relance
}
