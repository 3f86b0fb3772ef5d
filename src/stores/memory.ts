import { profileConflict } from './errors.js'
import { claimThenView, isSuperseded, readSeparately } from './view.js'
import type {
  AssignmentRecord, CartItemRecord, CartRecord, CartView, ClaimOptions, DeviceLink, JobRecord, OrderRecord, ProfileKey, ProfileRecord,
  PurgeResult, SendRecord, Settlement, SettleResult, Store, SuppressionRecord, TimeRange,
} from './types.js'

/**
 * A min-heap of wake-up times with lazy deletion: each job remembers the sequence number of its
 * newest entry, and older entries are dropped when they surface. Claiming costs O(k log n) for
 * k due jobs, whatever the number of stored carts.
 */
class WakeHeap {
  private readonly items: { at: number; cartId: string; seq: number }[] = []

  push(entry: { at: number; cartId: string; seq: number }): void {
    const items = this.items
    items.push(entry)
    let i = items.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (items[parent]!.at <= entry.at) break
      items[i] = items[parent]!
      i = parent
    }
    items[i] = entry
  }

  peek(): { at: number; cartId: string; seq: number } | undefined {
    return this.items[0]
  }

  pop(): { at: number; cartId: string; seq: number } | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length === 0 || last === undefined) return top
    // Sift the former last entry down from the root.
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let smallest = i
      let smallestAt = last.at
      if (left < items.length && items[left]!.at < smallestAt) { smallest = left; smallestAt = items[left]!.at }
      if (right < items.length && items[right]!.at < smallestAt) smallest = right
      if (smallest === i) break
      items[i] = items[smallest]!
      i = smallest
    }
    items[i] = last
    return top
  }
}

/*
 * Records as the store keeps them: times as epoch milliseconds, consent flattened. A Date costs
 * about 100 bytes more than a number, and a new visitor brings seven of them (profile, device,
 * cart, job): as Dates they were a third of the store's memory, and of the garbage collector's
 * work while carts come in. Methods convert at the edge, and return fresh objects every time.
 */
type StoredProfile = Omit<ProfileRecord, 'marketing' | 'lastOrderAt' | 'createdAt' | 'updatedAt'> & {
  consent: ProfileRecord['marketing']['state']
  consentAt: number | null
  consentSource: string | null
  lastOrderAt: number | null
  createdAt: number
  updatedAt: number
}

type StoredCart = Omit<CartRecord, 'activityAt' | 'createdAt' | 'updatedAt'> & {
  activityAt: number
  createdAt: number
  updatedAt: number
}

type StoredJob = Omit<JobRecord, 'dueAt' | 'leaseUntil'> & {
  dueAt: number
  leaseUntil: number | null
  /** Sequence number of the job's newest heap entry. */
  seq: number
}

const msOrNull = (at: Date | null): number | null => (at === null ? null : at.getTime())
const dateOrNull = (ms: number | null): Date | null => (ms === null ? null : new Date(ms))

function copyItems(items: readonly CartItemRecord[]): CartItemRecord[] {
  const out: CartItemRecord[] = new Array(items.length)
  for (let i = 0; i < items.length; i++) out[i] = { ...items[i]! }
  return out
}

function toStoredProfile(p: ProfileRecord): StoredProfile {
  return {
    id: p.id, customerId: p.customerId, email: p.email, firstName: p.firstName, locale: p.locale, timeZone: p.timeZone,
    consent: p.marketing.state, consentAt: msOrNull(p.marketing.at), consentSource: p.marketing.source,
    hasPurchased: p.hasPurchased, lastOrderAt: msOrNull(p.lastOrderAt), createdAt: p.createdAt.getTime(), updatedAt: p.updatedAt.getTime(),
  }
}

function fromStoredProfile(p: StoredProfile): ProfileRecord {
  return {
    id: p.id, customerId: p.customerId, email: p.email, firstName: p.firstName, locale: p.locale, timeZone: p.timeZone,
    marketing: { state: p.consent, at: dateOrNull(p.consentAt), source: p.consentSource },
    hasPurchased: p.hasPurchased, lastOrderAt: dateOrNull(p.lastOrderAt), createdAt: new Date(p.createdAt), updatedAt: new Date(p.updatedAt),
  }
}

function toStoredCart(c: CartRecord): StoredCart {
  return {
    id: c.id, profileId: c.profileId, deviceId: c.deviceId, items: copyItems(c.items), currency: c.currency, status: c.status,
    activityAt: c.activityAt.getTime(), createdAt: c.createdAt.getTime(), updatedAt: c.updatedAt.getTime(),
  }
}

function fromStoredCart(c: StoredCart): CartRecord {
  return {
    id: c.id, profileId: c.profileId, deviceId: c.deviceId, items: copyItems(c.items), currency: c.currency, status: c.status,
    activityAt: new Date(c.activityAt), createdAt: new Date(c.createdAt), updatedAt: new Date(c.updatedAt),
  }
}

function fromStoredJob(job: StoredJob): JobRecord {
  return {
    cartId: job.cartId, profileId: job.profileId, state: job.state, dueAt: new Date(job.dueAt), owner: job.owner,
    leaseUntil: dateOrNull(job.leaseUntil), attempts: job.attempts, rev: job.rev, note: job.note,
  }
}

/**
 * A secondary index (profile → its carts, devices, sends…). Nearly every key holds one id, kept
 * as the bare string; a second id makes it an array. (A one-element array per person and index
 * was a tenth of what the store keeps per visitor, and of the garbage collector's work.)
 */
class IdIndex {
  private readonly map = new Map<string, string | string[]>()

  add(key: string, id: string): void {
    const held = this.map.get(key)
    if (held === undefined) this.map.set(key, id)
    else if (typeof held === 'string') {
      if (held !== id) this.map.set(key, [held, id])
    } else if (!held.includes(id)) held.push(id)
  }

  remove(key: string, id: string): void {
    const held = this.map.get(key)
    if (held === undefined) return
    if (typeof held === 'string') {
      if (held === id) this.map.delete(key)
      return
    }
    const at = held.indexOf(id)
    if (at !== -1) held.splice(at, 1)
    if (held.length === 1) this.map.set(key, held[0]!)
  }

  /** The ids under `key`, in the order they were added: a copy, safe to iterate while removing. */
  get(key: string): string[] {
    const held = this.map.get(key)
    return held === undefined ? [] : typeof held === 'string' ? [held] : [...held]
  }

  delete(key: string): void {
    this.map.delete(key)
  }
}

function inRange(at: Date, range: TimeRange): boolean {
  const t = at.getTime()
  return (range.since === undefined || t >= range.since.getTime()) && (range.until === undefined || t < range.until.getTime())
}

/**
 * Deep copy of plain records (objects, arrays, Dates): callers never hold live references into
 * the store. Hand-written because structuredClone cost 40 % of `trackCart` on this store.
 */
function copy<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value
  if (value instanceof Date) return new Date(value.getTime()) as T
  if (Array.isArray(value)) return value.map(copy) as T
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) out[key] = copy((value as Record<string, unknown>)[key])
  return out as T
}

/** The maps behind each memory store, for the conformance suite's raw inspector only. */
const internals = new WeakMap<Store, Record<string, Map<string, unknown>>>()

/** @internal The live maps of a memory store (tests read them as the "raw client"). */
export function memoryStoreInternals(store: Store): Record<string, Map<string, unknown>> | undefined {
  return internals.get(store)
}

/**
 * The embedded default: everything in memory, nothing survives a restart. Safe for one process
 * (operations are atomic with respect to each other because each runs to completion without
 * awaiting), not for several.
 */
export function memoryStore(): Store {
  const profiles = new Map<string, StoredProfile>()
  const byCustomer = new Map<string, string>()
  const byEmail = new Map<string, string>()
  /** Device → its profile. (The link's time is not kept: nothing reads it.) */
  const devices = new Map<string, string>()
  const devicesOf = new IdIndex()

  const carts = new Map<string, StoredCart>()
  const cartsOf = new IdIndex()
  const jobs = new Map<string, StoredJob>()
  const heap = new WakeHeap()
  let seq = 0

  const sends = new Map<string, SendRecord>()
  const sendByCartStep = new Map<string, string>()
  const sendsOfCart = new IdIndex()
  const sendsOf = new IdIndex()

  const orders = new Map<string, OrderRecord>()
  const ordersOf = new IdIndex()
  const assignments = new Map<string, AssignmentRecord>()
  const assignmentsOf = new IdIndex()
  const suppressions = new Map<string, SuppressionRecord>()

  const cartStepKey = (cartId: string, step: string) => `${cartId}\u0000${step}`
  const assignmentKey = (experimentId: string, profileId: string) => `${experimentId}\u0000${profileId}`

  function wake(job: StoredJob): void {
    if (job.state !== 'pending') return
    job.seq = ++seq
    const lease = job.owner !== null && job.leaseUntil !== null ? job.leaseUntil : 0
    heap.push({ at: Math.max(job.dueAt, lease), cartId: job.cartId, seq: job.seq })
  }

  /** Checks both unique keys before writing anything: a conflict leaves every map as it was. */
  function saveProfile(profile: ProfileRecord, device: DeviceLink | undefined): void {
    const checks: [string, Map<string, string>, string | null][] = [
      ['customerId', byCustomer, profile.customerId],
      ['email', byEmail, profile.email],
    ]
    for (const [field, index, value] of checks) {
      const holder = value === null ? undefined : index.get(value)
      if (holder !== undefined && holder !== profile.id) {
        throw profileConflict(field)
      }
    }
    const previous = profiles.get(profile.id)
    if (previous !== undefined) unindexProfile(previous)
    profiles.set(profile.id, toStoredProfile(profile))
    if (profile.customerId !== null) byCustomer.set(profile.customerId, profile.id)
    if (profile.email !== null) byEmail.set(profile.email, profile.id)
    if (device !== undefined) linkDevice(device.deviceId, profile.id)
  }

  function linkDevice(deviceId: string, profileId: string): void {
    const previous = devices.get(deviceId)
    if (previous !== undefined) devicesOf.remove(previous, deviceId)
    devices.set(deviceId, profileId)
    devicesOf.add(profileId, deviceId)
  }

  function schedule(cartId: string, profileId: string, dueAt: Date): void {
    const existing = jobs.get(cartId)
    const job: StoredJob = existing ?? {
      cartId, profileId, state: 'pending', dueAt: 0, owner: null, leaseUntil: null,
      attempts: 0, rev: 0, note: null, seq: 0,
    }
    job.profileId = profileId
    job.state = 'pending'
    job.dueAt = dueAt.getTime()
    job.attempts = 0
    job.rev += 1
    job.note = null
    jobs.set(cartId, job)
    wake(job)
  }

  function cancel(cartId: string, note: string): void {
    const job = jobs.get(cartId)
    if (job === undefined) return
    job.state = 'done'
    job.note = note
    job.rev += 1
  }

  function deleteCart(cartId: string): void {
    const cart = carts.get(cartId)
    if (cart === undefined) return
    carts.delete(cartId)
    cartsOf.remove(cart.profileId, cartId)
    jobs.delete(cartId)
  }

  function deleteSend(id: string): void {
    const send = sends.get(id)
    if (send === undefined) return
    sends.delete(id)
    sendByCartStep.delete(cartStepKey(send.cartId, send.step))
    sendsOfCart.remove(send.cartId, id)
    sendsOf.remove(send.profileId, id)
  }

  function deleteOrder(id: string): void {
    const order = orders.get(id)
    if (order === undefined) return
    orders.delete(id)
    ordersOf.remove(order.profileId, id)
  }

  function unindexProfile(profile: StoredProfile): void {
    if (profile.customerId !== null) byCustomer.delete(profile.customerId)
    if (profile.email !== null) byEmail.delete(profile.email)
  }

  function deleteProfile(id: string): void {
    const profile = profiles.get(id)
    if (profile === undefined) return
    unindexProfile(profile)
    profiles.delete(id)
  }

  function cartSends(cartId: string): SendRecord[] {
    return sendsOfCart.get(cartId)
      .map((id) => copy(sends.get(id)!))
      .sort((a, b) => a.stepIndex - b.stepIndex)
  }

  function settle(cartId: string, owner: string, rev: number, settlement: Settlement): SettleResult {
    const job = jobs.get(cartId)
    if (job === undefined || job.owner !== owner) return 'lost'
    job.owner = null
    job.leaseUntil = null
    if (job.rev !== rev) {
      wake(job)
      return 'yielded'
    }
    if (settlement.state === 'pending') {
      job.state = 'pending'
      job.dueAt = settlement.dueAt.getTime()
      job.attempts = settlement.attempts
      job.note = settlement.note
    } else {
      job.state = 'done'
      job.note = settlement.note
    }
    wake(job)
    return 'applied'
  }

  const store: Store = {
    name: 'memory',
    capabilities: { durable: false, multiProcess: false },
    async init() {},
    async close() {},

    async getProfile(id) {
      const profile = profiles.get(id)
      return profile === undefined ? null : fromStoredProfile(profile)
    },

    async findProfile(key: ProfileKey) {
      let id: string | undefined
      if ('customerId' in key) id = byCustomer.get(key.customerId)
      else if ('email' in key) id = byEmail.get(key.email)
      else id = devices.get(key.deviceId)
      const profile = id === undefined ? undefined : profiles.get(id)
      return profile === undefined ? null : fromStoredProfile(profile)
    },

    lookup(query) {
      return readSeparately(this, query)
    },

    async saveProfile(profile, device) {
      saveProfile(profile, device)
    },

    async linkDevice(deviceId, profileId) {
      linkDevice(deviceId, profileId)
    },

    async mergeProfiles(fromId, intoId) {
      if (fromId === intoId) return
      for (const deviceId of devicesOf.get(fromId)) {
        devices.set(deviceId, intoId)
        devicesOf.add(intoId, deviceId)
      }
      devicesOf.delete(fromId)
      for (const cartId of cartsOf.get(fromId)) {
        carts.get(cartId)!.profileId = intoId
        const job = jobs.get(cartId)
        if (job !== undefined) job.profileId = intoId
        cartsOf.add(intoId, cartId)
      }
      cartsOf.delete(fromId)
      for (const sendId of sendsOf.get(fromId)) {
        sends.get(sendId)!.profileId = intoId
        sendsOf.add(intoId, sendId)
      }
      sendsOf.delete(fromId)
      for (const orderId of ordersOf.get(fromId)) {
        orders.get(orderId)!.profileId = intoId
        ordersOf.add(intoId, orderId)
      }
      ordersOf.delete(fromId)
      for (const key of assignmentsOf.get(fromId)) {
        const assignment = assignments.get(key)!
        assignments.delete(key)
        const target = assignmentKey(assignment.experimentId, intoId)
        if (!assignments.has(target)) {
          assignments.set(target, { ...assignment, profileId: intoId })
          assignmentsOf.add(intoId, target)
        }
      }
      assignmentsOf.delete(fromId)
      deleteProfile(fromId)
    },

    async getCart(cartId) {
      const cart = carts.get(cartId)
      return cart === undefined ? null : fromStoredCart(cart)
    },

    async saveCart(cart, job, owner) {
      if (owner !== undefined) saveProfile(owner.profile, owner.device)
      const previous = carts.get(cart.id)
      if (previous !== undefined && previous.profileId !== cart.profileId) {
        cartsOf.remove(previous.profileId, cart.id)
      }
      carts.set(cart.id, toStoredCart(cart))
      cartsOf.add(cart.profileId, cart.id)
      if (job === undefined) return
      if ('dueAt' in job) schedule(cart.id, cart.profileId, job.dueAt)
      else cancel(cart.id, job.cancel)
    },

    async listCarts(profileId) {
      return cartsOf.get(profileId).map((id) => fromStoredCart(carts.get(id)!))
    },

    async schedule({ cartId, profileId, dueAt }) {
      schedule(cartId, profileId, dueAt)
    },

    async cancel(cartId, note) {
      cancel(cartId, note)
    },

    async getJob(cartId) {
      const job = jobs.get(cartId)
      return job === undefined ? null : fromStoredJob(job)
    },

    async claimDue({ now, limit, owner, leaseUntil }: ClaimOptions) {
      const claimed: JobRecord[] = []
      const t = now.getTime()
      while (claimed.length < limit) {
        const top = heap.peek()
        if (top === undefined || top.at > t) break
        heap.pop()
        const job = jobs.get(top.cartId)
        if (job === undefined || job.seq !== top.seq || job.state !== 'pending') continue
        if (job.dueAt > t) continue
        if (job.owner !== null && job.leaseUntil !== null && job.leaseUntil > t) continue
        job.owner = owner
        job.leaseUntil = leaseUntil.getTime()
        wake(job) // so that an expired lease surfaces again without a sweeper
        claimed.push(fromStoredJob(job))
      }
      return claimed
    },

    async extendLease(cartId, owner, leaseUntil) {
      const job = jobs.get(cartId)
      if (job === undefined || job.owner !== owner) return false
      job.leaseUntil = leaseUntil.getTime()
      wake(job)
      return true
    },

    async settle(cartId, owner, rev, settlement: Settlement) {
      return settle(cartId, owner, rev, settlement)
    },

    async claimBatch(options) {
      return claimThenView(this, options)
    },

    async settleMany(owner, items) {
      return items.map((item) => settle(item.cartId, owner, item.rev, item.settlement))
    },

    async viewCarts(cartIds) {
      const views = new Map<string, CartView>()
      for (const id of cartIds) {
        const cart = carts.get(id)
        if (cart === undefined) continue
        const profile = profiles.get(cart.profileId)
        const others = cartsOf.get(cart.profileId).map((other) => carts.get(other)!)
        views.set(id, {
          cart: fromStoredCart(cart),
          profile: profile === undefined ? null : fromStoredProfile(profile),
          superseded: isSuperseded(cart, others),
          sends: cartSends(id),
        })
      }
      return views
    },

    async reserveSend(send, lease) {
      if (lease !== undefined) {
        const job = jobs.get(send.cartId)
        if (job === undefined || job.owner !== lease.owner || job.rev !== lease.rev) return null
      }
      const key = cartStepKey(send.cartId, send.step)
      const existing = sendByCartStep.get(key)
      if (existing !== undefined) return copy(sends.get(existing)!)
      sends.set(send.id, copy(send))
      sendByCartStep.set(key, send.id)
      sendsOfCart.add(send.cartId, send.id)
      sendsOf.add(send.profileId, send.id)
      return copy(send)
    },

    async updateSend(id, patch) {
      const send = sends.get(id)
      if (send === undefined) return
      Object.assign(send, copy(patch))
    },

    async getSend(id) {
      const send = sends.get(id)
      return send === undefined ? null : copy(send)
    },

    async listCartSends(cartId) {
      return cartSends(cartId)
    },

    async listProfileSends(profileId, since) {
      return sendsOf.get(profileId)
        .map((id) => sends.get(id)!)
        .filter((send) => send.createdAt.getTime() >= since.getTime())
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .map(copy)
    },

    async recordClick(sendId, at) {
      const send = sends.get(sendId)
      if (send === undefined) return null
      if (send.clickedAt === null) send.clickedAt = new Date(at)
      return copy(send)
    },

    async saveOrder(order) {
      if (orders.has(order.id)) return false
      orders.set(order.id, copy(order))
      ordersOf.add(order.profileId, order.id)
      return true
    },

    async assign(assignment) {
      const key = assignmentKey(assignment.experimentId, assignment.profileId)
      const existing = assignments.get(key)
      if (existing !== undefined) return copy(existing)
      assignments.set(key, copy(assignment))
      assignmentsOf.add(assignment.profileId, key)
      return copy(assignment)
    },

    async getAssignment(experimentId, profileId) {
      const assignment = assignments.get(assignmentKey(experimentId, profileId))
      return assignment === undefined ? null : copy(assignment)
    },

    async suppress(entry) {
      suppressions.set(entry.key, copy(entry))
    },

    async getSuppression(key) {
      const entry = suppressions.get(key)
      return entry === undefined ? null : copy(entry)
    },

    async unsuppress(key) {
      suppressions.delete(key)
    },

    async forgetProfile(profileId) {
      for (const deviceId of devicesOf.get(profileId)) devices.delete(deviceId)
      devicesOf.delete(profileId)
      for (const cartId of cartsOf.get(profileId)) deleteCart(cartId)
      for (const sendId of sendsOf.get(profileId)) deleteSend(sendId)
      for (const orderId of ordersOf.get(profileId)) deleteOrder(orderId)
      for (const key of assignmentsOf.get(profileId)) assignments.delete(key)
      assignmentsOf.delete(profileId)
      deleteProfile(profileId)
    },

    async purge(before) {
      const t = before.getTime()
      const result: PurgeResult = { carts: 0, sends: 0, orders: 0 }
      for (const cart of [...carts.values()]) {
        if (cart.activityAt < t) { deleteCart(cart.id); result.carts++ }
      }
      for (const send of [...sends.values()]) {
        if (send.createdAt.getTime() < t) { deleteSend(send.id); result.sends++ }
      }
      for (const order of [...orders.values()]) {
        if (order.at.getTime() < t) { deleteOrder(order.id); result.orders++ }
      }
      return result
    },

    async *scanSends(range) {
      for (const send of [...sends.values()]) if (inRange(send.createdAt, range)) yield copy(send)
    },

    async *scanOrders(range) {
      for (const order of [...orders.values()]) if (inRange(order.at, range)) yield copy(order)
    },

    async *scanSuppressions(range) {
      for (const entry of [...suppressions.values()]) if (inRange(entry.at, range)) yield copy(entry)
    },

    async *scanAssignments(range) {
      for (const assignment of [...assignments.values()]) {
        if (inRange(assignment.at, range)) yield copy(assignment)
      }
    },
  }
  internals.set(store, { profiles, devices, carts, jobs, sends, orders, assignments, suppressions } as Record<string, Map<string, unknown>>)
  return store
}
