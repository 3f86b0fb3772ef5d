/**
 * The storage conformance suite: the same cases for every adapter. A backend's test file is a few
 * lines: `describeStoreConformance('sqlite', async () => ({ store, raw, cleanup }))`.
 *
 * The factory returns a fresh, isolated store (its own file, schema or key prefix) and a raw
 * inspector that reads the backend with its own client, so writes are checked in the database
 * itself and not only back through the adapter that wrote them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isRelanceError } from '../../src/errors.js'
import { readSeparately } from '../../src/stores/view.js'
import type {
  AssignmentRecord, CartRecord, JobRecord, OrderRecord, ProfileRecord, SendRecord, Store, SuppressionRecord,
} from '../../src/stores/types.js'
import { ITEMS, consentingShopper, linksIn, setup, tokenOf } from '../helpers/engine.js'

/** The kinds of record a store keeps, for raw counts. */
export type RawKind = 'profiles' | 'devices' | 'carts' | 'jobs' | 'sends' | 'orders' | 'assignments' | 'suppressions'

/** A job as the backend holds it (times in epoch milliseconds). */
export interface RawJob {
  state: string
  dueAt: number
  owner: string | null
  leaseUntil: number | null
  attempts: number
  rev: number
}

/** Reads the backend with its own client, never through the adapter under test. */
export interface RawInspector {
  /** Every byte the backend holds for this test's namespace, as text (for erasure checks). */
  dump(): Promise<string>
  /** How many records of this kind the namespace holds. */
  count(kind: RawKind): Promise<number>
  job(cartId: string): Promise<RawJob | null>
  /** The identity columns of a stored profile. */
  profile(id: string): Promise<{ customerId: string | null; email: string | null; firstName: string | null } | null>
  /** The profile id a device points at. */
  device(deviceId: string): Promise<string | null>
  /** The stored send of (cart, step). */
  send(cartId: string, step: string): Promise<{ id: string; outcome: string; clickedAt: number | null } | null>
}

export interface StoreUnderTest {
  store: Store
  raw: RawInspector
  /** Closes the store and removes the namespace (file, schema, keys). */
  cleanup(): Promise<void>
}

export type StoreFactory = () => Promise<StoreUnderTest>

const T0 = new Date('2026-06-10T08:00:00.123Z')
const at = (ms: number) => new Date(T0.getTime() + ms)
const MIN = 60_000

export function profileRecord(id: string, extra: Partial<ProfileRecord> = {}): ProfileRecord {
  return {
    id,
    customerId: null,
    email: null,
    firstName: null,
    locale: null,
    timeZone: null,
    marketing: { state: 'unknown', at: null, source: null },
    hasPurchased: false,
    lastOrderAt: null,
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  }
}

export function cartRecord(id: string, profileId: string, extra: Partial<CartRecord> = {}): CartRecord {
  return {
    id,
    profileId,
    deviceId: null,
    items: [{ sku: 'CAP', name: 'Casquette', quantity: 1, unitAmount: 1990 }],
    currency: 'EUR',
    status: 'open',
    activityAt: T0,
    createdAt: T0,
    updatedAt: T0,
    ...extra,
  }
}

export function sendRecord(id: string, cartId: string, profileId: string, step: string, extra: Partial<SendRecord> = {}): SendRecord {
  return {
    id,
    cartId,
    profileId,
    step,
    stepIndex: 0,
    experimentId: null,
    variant: null,
    outcome: 'sending',
    messageId: null,
    incentive: null,
    subtotal: 1990,
    currency: 'EUR',
    reason: null,
    createdAt: T0,
    sentAt: null,
    clickedAt: null,
    ...extra,
  }
}

export function orderRecord(id: string, profileId: string, extra: Partial<OrderRecord> = {}): OrderRecord {
  return { id, profileId, cartId: null, total: 1990, currency: 'EUR', at: T0, attribution: null, ...extra }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

async function storeError(promise: Promise<unknown>) {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a STORE_ERROR, nothing was thrown')
}

export function describeStoreConformance(name: string, factory: StoreFactory): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store
    let raw: RawInspector
    let cleanup: () => Promise<void>

    beforeEach(async () => {
      ;({ store, raw, cleanup } = await factory())
      await store.init()
      await store.init() // idempotent
    })
    afterEach(async () => {
      await cleanup()
    })

    // --- identity -------------------------------------------------------------------------------

    describe('identity', () => {
      it('saves a profile and returns it exactly (dates, nulls, consent), written in the backend', async () => {
        const full = profileRecord('p1', {
          customerId: 'cust-1', email: 'ana@example.com', firstName: 'Ana', locale: 'fr-CA', timeZone: 'America/Toronto',
          marketing: { state: 'granted', at: at(5), source: 'checkout-checkbox' },
          hasPurchased: true, lastOrderAt: at(-3 * MIN), updatedAt: at(7),
        })
        const bare = profileRecord('p2')
        await store.saveProfile(full)
        await store.saveProfile(bare)
        expect(await store.getProfile('p1')).toEqual(full)
        expect(await store.getProfile('p2')).toEqual(bare)
        expect(await store.getProfile('nobody')).toBeNull()
        expect(await raw.profile('p1')).toEqual({ customerId: 'cust-1', email: 'ana@example.com', firstName: 'Ana' })
        expect(await raw.count('profiles')).toBe(2)
        const read = (await store.getProfile('p1'))!
        expect(read.createdAt).toBeInstanceOf(Date)
        expect(read.marketing.at).toBeInstanceOf(Date)
        // Returned records are copies: changing one changes nothing stored.
        read.email = 'changed@example.com'
        read.marketing.state = 'refused'
        expect(await store.getProfile('p1')).toEqual(full)
      })

      it('finds a profile by customerId, email and device', async () => {
        await store.saveProfile(profileRecord('p1', { customerId: 'cust-1', email: 'ana@example.com' }))
        await store.saveProfile(profileRecord('p2', { email: 'bob@example.com' }))
        await store.linkDevice('dev-1', 'p1', T0)
        expect((await store.findProfile({ customerId: 'cust-1' }))?.id).toBe('p1')
        expect((await store.findProfile({ email: 'ana@example.com' }))?.id).toBe('p1')
        expect((await store.findProfile({ email: 'bob@example.com' }))?.id).toBe('p2')
        expect((await store.findProfile({ deviceId: 'dev-1' }))?.id).toBe('p1')
        expect(await store.findProfile({ customerId: 'cust-2' })).toBeNull()
        expect(await store.findProfile({ email: 'nobody@example.com' })).toBeNull()
        expect(await store.findProfile({ deviceId: 'dev-2' })).toBeNull()
      })

      it('lookup reads the profile of each key given and the cart, together, as findProfile and getCart read them', async () => {
        const ana = profileRecord('p1', { customerId: 'cust-1', email: 'ana@example.com', firstName: 'Ana', marketing: { state: 'granted', at: at(5), source: 'checkout' } })
        const bob = profileRecord('p2', { email: 'bob@example.com', lastOrderAt: at(9) })
        const anonymous = profileRecord('p3')
        const cart = cartRecord('cart-1', 'p2', { deviceId: 'dev-2', activityAt: at(11) })
        for (const p of [ana, bob, anonymous]) await store.saveProfile(p)
        await store.linkDevice('dev-3', 'p3', T0)
        await store.saveCart(cart)

        // Each key held by a different profile, in one call.
        const all = { customerId: 'cust-1', email: 'bob@example.com', deviceId: 'dev-3', cartId: 'cart-1' }
        expect(await store.lookup(all)).toEqual({ byCustomer: ana, byEmail: bob, byDevice: anonymous, cart })
        // Keys not given, and keys held by no one, read as null.
        const none = { customerId: null, email: null, deviceId: null, cartId: null }
        expect(await store.lookup(none)).toEqual({ byCustomer: null, byEmail: null, byDevice: null, cart: null })
        expect(await store.lookup({ customerId: 'cust-9', email: 'nobody@example.com', deviceId: 'dev-9', cartId: 'cart-9' }))
          .toEqual({ byCustomer: null, byEmail: null, byDevice: null, cart: null })
        // One key alone; the same profile behind two keys.
        expect(await store.lookup({ ...none, deviceId: 'dev-3' })).toEqual({ byCustomer: null, byEmail: null, byDevice: anonymous, cart: null })
        expect(await store.lookup({ ...none, customerId: 'cust-1', email: 'ana@example.com' })).toEqual({ byCustomer: ana, byEmail: ana, byDevice: null, cart: null })
        // The same answers as the reads one by one, and copies too.
        const found = await store.lookup(all)
        expect(found).toEqual(await readSeparately(store, all))
        found.cart!.items[0]!.quantity = 99
        found.byCustomer!.email = 'changed@example.com'
        expect(await store.lookup(all)).toEqual({ byCustomer: ana, byEmail: bob, byDevice: anonymous, cart })
      })

      it('replacing a profile re-indexes its keys', async () => {
        await store.saveProfile(profileRecord('p1', { customerId: 'cust-1', email: 'old@example.com' }))
        await store.saveProfile(profileRecord('p1', { customerId: null, email: 'new@example.com', firstName: 'Ana' }))
        expect(await store.findProfile({ email: 'old@example.com' })).toBeNull()
        expect(await store.findProfile({ customerId: 'cust-1' })).toBeNull()
        expect((await store.findProfile({ email: 'new@example.com' }))?.firstName).toBe('Ana')
        expect(await raw.count('profiles')).toBe(1)
        // The freed keys can be taken by another profile.
        await store.saveProfile(profileRecord('p2', { customerId: 'cust-1', email: 'old@example.com' }))
        expect((await store.findProfile({ customerId: 'cust-1' }))?.id).toBe('p2')
      })

      it('refuses a second profile with the same email or customerId: STORE_ERROR with details.conflict, nothing written', async () => {
        await store.saveProfile(profileRecord('p1', { customerId: 'cust-1', email: 'ana@example.com' }))
        const byEmail = await storeError(store.saveProfile(profileRecord('p2', { email: 'ana@example.com', firstName: 'Intruder' })))
        expect(isRelanceError(byEmail, 'STORE_ERROR')).toBe(true)
        expect((byEmail as { details?: Record<string, unknown> }).details).toMatchObject({ conflict: 'email' })
        const byCustomer = await storeError(store.saveProfile(profileRecord('p3', { customerId: 'cust-1', email: 'other@example.com' })))
        expect(isRelanceError(byCustomer, 'STORE_ERROR')).toBe(true)
        expect((byCustomer as { details?: Record<string, unknown> }).details).toMatchObject({ conflict: 'customerId' })
        expect(await store.getProfile('p2')).toBeNull()
        expect(await store.getProfile('p3')).toBeNull()
        expect(await store.findProfile({ email: 'other@example.com' })).toBeNull()
        expect(await raw.count('profiles')).toBe(1)
        // An update of the holder that moves to a taken key is refused too and leaves it as it was.
        await store.saveProfile(profileRecord('p4', { email: 'bob@example.com' }))
        const move = await storeError(store.saveProfile(profileRecord('p4', { email: 'ana@example.com' })))
        expect((move as { details?: Record<string, unknown> }).details).toMatchObject({ conflict: 'email' })
        expect((await store.getProfile('p4'))?.email).toBe('bob@example.com')
        expect(await raw.profile('p4')).toMatchObject({ email: 'bob@example.com' })
      })

      it('links a device and moves it to another profile', async () => {
        await store.saveProfile(profileRecord('p1'))
        await store.saveProfile(profileRecord('p2'))
        await store.linkDevice('dev-1', 'p1', T0)
        expect(await raw.device('dev-1')).toBe('p1')
        await store.linkDevice('dev-1', 'p2', at(MIN))
        expect(await raw.device('dev-1')).toBe('p2')
        expect((await store.findProfile({ deviceId: 'dev-1' }))?.id).toBe('p2')
        expect(await raw.count('devices')).toBe(1)
      })

      it('saves a profile and points a device at it in one write; a refused profile links nothing', async () => {
        await store.saveProfile(profileRecord('p1', { email: 'ana@example.com' }), { deviceId: 'phone', at: T0 })
        expect(await raw.device('phone')).toBe('p1')
        expect((await store.findProfile({ deviceId: 'phone' }))?.email).toBe('ana@example.com')
        // Moving the device with the next save of another profile.
        await store.saveProfile(profileRecord('p2'), { deviceId: 'phone', at: at(MIN) })
        expect(await raw.device('phone')).toBe('p2')
        const refused = await storeError(store.saveProfile(profileRecord('p3', { email: 'ana@example.com' }), { deviceId: 'tablet', at: T0 }))
        expect((refused as { details?: Record<string, unknown> }).details).toMatchObject({ conflict: 'email' })
        expect(await raw.device('tablet')).toBeNull()
        expect(await store.findProfile({ deviceId: 'tablet' })).toBeNull()
        expect(await raw.count('devices')).toBe(1)
      })

      it('merges everything of one profile into another; on a shared experiment the target keeps its variant', async () => {
        await store.saveProfile(profileRecord('from', { email: 'from@example.com' }))
        await store.saveProfile(profileRecord('into', { customerId: 'cust-9' }))
        await store.linkDevice('phone', 'from', T0)
        await store.linkDevice('desktop', 'into', T0)
        await store.saveCart(cartRecord('cart-a', 'from'))
        await store.schedule({ cartId: 'cart-a', profileId: 'from', dueAt: at(MIN) })
        await store.reserveSend(sendRecord('send-a', 'cart-a', 'from', 'reminder'))
        await store.saveOrder(orderRecord('order-a', 'from'))
        await store.assign({ experimentId: 'exp-both', profileId: 'from', variant: 'B', at: T0 })
        await store.assign({ experimentId: 'exp-both', profileId: 'into', variant: 'A', at: at(1) })
        await store.assign({ experimentId: 'exp-from', profileId: 'from', variant: 'control', at: at(2) })

        await store.mergeProfiles('from', 'into')

        expect(await store.getProfile('from')).toBeNull()
        expect(await raw.profile('from')).toBeNull()
        expect(await store.findProfile({ email: 'from@example.com' })).toBeNull()
        expect((await store.findProfile({ deviceId: 'phone' }))?.id).toBe('into')
        expect(await raw.device('phone')).toBe('into')
        expect((await store.getCart('cart-a'))?.profileId).toBe('into')
        expect((await store.listCarts('into')).map((c) => c.id)).toEqual(['cart-a'])
        expect(await store.listCarts('from')).toEqual([])
        expect((await store.getJob('cart-a'))?.profileId).toBe('into')
        expect((await store.getSend('send-a'))?.profileId).toBe('into')
        expect((await store.listProfileSends('into', at(-MIN))).map((s) => s.id)).toEqual(['send-a'])
        expect(await store.listProfileSends('from', at(-MIN))).toEqual([])
        expect((await collect(store.scanOrders({})))[0]?.profileId).toBe('into')
        expect((await store.getAssignment('exp-both', 'into'))?.variant).toBe('A')
        expect((await store.getAssignment('exp-from', 'into'))?.variant).toBe('control')
        expect(await store.getAssignment('exp-both', 'from')).toBeNull()
        expect(await store.getAssignment('exp-from', 'from')).toBeNull()
        expect(await raw.count('assignments')).toBe(2)
        // Merging into itself changes nothing.
        await store.mergeProfiles('into', 'into')
        expect((await store.getProfile('into'))?.customerId).toBe('cust-9')
      })
    })

    // --- carts ----------------------------------------------------------------------------------

    describe('carts', () => {
      it('stores snapshots exactly and replaces them by id', async () => {
        const cart = cartRecord('cart-1', 'p1', {
          deviceId: 'dev-1',
          items: [
            { sku: 'TSHIRT-M', name: 'T-shirt « lin » 🧵', quantity: 2, unitAmount: 2990, url: 'https://shop.example/p/t', imageUrl: 'https://cdn.example/t.jpg', variant: 'M' },
            { sku: 'CAP', name: 'Casquette', quantity: 1, unitAmount: 0 },
          ],
          activityAt: at(MIN), updatedAt: at(MIN),
        })
        await store.saveCart(cart)
        expect(await store.getCart('cart-1')).toEqual(cart)
        expect(await store.getCart('cart-2')).toBeNull()
        const next = { ...cart, items: [], status: 'empty' as const, deviceId: null, updatedAt: at(2 * MIN) }
        await store.saveCart(next)
        expect(await store.getCart('cart-1')).toEqual(next)
        expect(await raw.count('carts')).toBe(1)
      })

      it('lists the carts of a profile, following a cart that changes hands', async () => {
        await store.saveCart(cartRecord('cart-1', 'p1'))
        await store.saveCart(cartRecord('cart-2', 'p1', { status: 'ordered' }))
        await store.saveCart(cartRecord('cart-3', 'p2'))
        expect((await store.listCarts('p1')).map((c) => c.id).sort()).toEqual(['cart-1', 'cart-2'])
        await store.saveCart(cartRecord('cart-1', 'p2'))
        expect((await store.listCarts('p1')).map((c) => c.id)).toEqual(['cart-2'])
        expect((await store.listCarts('p2')).map((c) => c.id).sort()).toEqual(['cart-1', 'cart-3'])
        expect(await store.listCarts('p3')).toEqual([])
      })
    })

    // --- scheduling -----------------------------------------------------------------------------

    describe('scheduling', () => {
      it('schedule upserts a pending job with rev + 1; cancel marks it done with a note', async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(MIN) })
        const first: JobRecord = {
          cartId: 'cart-1', profileId: 'p1', state: 'pending', dueAt: at(MIN), owner: null, leaseUntil: null,
          attempts: 0, rev: 1, note: null,
        }
        expect(await store.getJob('cart-1')).toEqual(first)
        expect(await raw.job('cart-1')).toEqual({ state: 'pending', dueAt: at(MIN).getTime(), owner: null, leaseUntil: null, attempts: 0, rev: 1 })
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(5 * MIN) })
        expect(await store.getJob('cart-1')).toEqual({ ...first, dueAt: at(5 * MIN), rev: 2 })
        await store.cancel('cart-1', 'ordered')
        expect(await store.getJob('cart-1')).toEqual({ ...first, dueAt: at(5 * MIN), rev: 3, state: 'done', note: 'ordered' })
        expect(await raw.job('cart-1')).toMatchObject({ state: 'done', rev: 3 })
        // Scheduling again revives it with a clean note and attempts.
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(9 * MIN) })
        expect(await store.getJob('cart-1')).toEqual({ ...first, dueAt: at(9 * MIN), rev: 4 })
        expect(await raw.count('jobs')).toBe(1)
      })

      it('saveCart with a job change writes the snapshot and schedules or cancels its job in the same write', async () => {
        const cart = cartRecord('cart-1', 'p1', { activityAt: at(MIN), updatedAt: at(MIN) })
        await store.saveCart(cart, { dueAt: at(61 * MIN) })
        expect(await store.getCart('cart-1')).toEqual(cart)
        expect(await store.getJob('cart-1')).toEqual({
          cartId: 'cart-1', profileId: 'p1', state: 'pending', dueAt: at(61 * MIN), owner: null, leaseUntil: null,
          attempts: 0, rev: 1, note: null,
        })
        expect(await raw.job('cart-1')).toMatchObject({ state: 'pending', dueAt: at(61 * MIN).getTime(), rev: 1 })
        // The job follows the cart to another profile and its new due time.
        await store.saveCart({ ...cart, profileId: 'p2', activityAt: at(5 * MIN) }, { dueAt: at(65 * MIN) })
        expect(await store.getJob('cart-1')).toMatchObject({ profileId: 'p2', state: 'pending', dueAt: at(65 * MIN), rev: 2 })
        expect((await store.claimDue({ now: at(64 * MIN), limit: 10, owner: 'w1', leaseUntil: at(70 * MIN) }))).toEqual([])
        const emptied = { ...cart, profileId: 'p2', items: [], status: 'empty' as const, updatedAt: at(6 * MIN) }
        await store.saveCart(emptied, { cancel: 'emptied' })
        expect(await store.getCart('cart-1')).toEqual(emptied)
        expect(await store.getJob('cart-1')).toMatchObject({ state: 'done', note: 'emptied', rev: 3 })
        expect(await raw.job('cart-1')).toMatchObject({ state: 'done', rev: 3 })
        expect(await store.claimDue({ now: at(99 * MIN), limit: 10, owner: 'w1', leaseUntil: at(100 * MIN) })).toEqual([])
        // Cancelling a cart that never had a job writes the cart only.
        await store.saveCart(cartRecord('cart-2', 'p1', { status: 'ordered' }), { cancel: 'ordered' })
        expect(await store.getCart('cart-2')).toMatchObject({ status: 'ordered' })
        expect(await raw.job('cart-2')).toBeNull()
        expect(await raw.count('jobs')).toBe(1)
      })

      it('saveCart with an owner also writes the profile and its device, all at once; a taken key writes nothing', async () => {
        const ana = profileRecord('p1', { email: 'ana@example.com' })
        const cart = cartRecord('cart-1', 'p1', { deviceId: 'phone' })
        await store.saveCart(cart, { dueAt: at(61 * MIN) }, { profile: ana, device: { deviceId: 'phone', at: T0 } })
        expect(await store.getProfile('p1')).toEqual(ana)
        expect((await store.findProfile({ deviceId: 'phone' }))?.id).toBe('p1')
        expect(await raw.device('phone')).toBe('p1')
        expect(await store.getCart('cart-1')).toEqual(cart)
        expect(await store.getJob('cart-1')).toMatchObject({ profileId: 'p1', state: 'pending', dueAt: at(61 * MIN), rev: 1 })
        // Without a device, and with a cancel; and without a job.
        const bob = profileRecord('p2')
        await store.saveCart(cartRecord('cart-2', 'p2', { items: [], status: 'empty' }), { cancel: 'emptied' }, { profile: bob })
        expect(await store.getProfile('p2')).toEqual(bob)
        expect(await store.getCart('cart-2')).toMatchObject({ status: 'empty' })
        expect(await raw.job('cart-2')).toBeNull()
        await store.saveCart(cartRecord('cart-4', 'p4'), undefined, { profile: profileRecord('p4'), device: { deviceId: 'tv', at: T0 } })
        expect(await raw.device('tv')).toBe('p4')
        expect(await store.getJob('cart-4')).toBeNull()
        // The owner's email is taken: no profile, device, cart or job.
        const refused = await storeError(store.saveCart(cartRecord('cart-3', 'p3'), { dueAt: at(MIN) }, {
          profile: profileRecord('p3', { email: 'ana@example.com' }), device: { deviceId: 'tablet', at: T0 },
        }))
        expect(isRelanceError(refused, 'STORE_ERROR')).toBe(true)
        expect((refused as { details?: Record<string, unknown> }).details).toMatchObject({ conflict: 'email' })
        expect(await store.getProfile('p3')).toBeNull()
        expect(await store.getCart('cart-3')).toBeNull()
        expect(await raw.job('cart-3')).toBeNull()
        expect(await raw.device('tablet')).toBeNull()
        expect(await raw.count('profiles')).toBe(3)
        expect(await raw.count('carts')).toBe(3)
      })

      it('cancel without a job does nothing', async () => {
        await store.cancel('cart-x', 'ordered')
        expect(await store.getJob('cart-x')).toBeNull()
        expect(await raw.job('cart-x')).toBeNull()
        expect(await raw.count('jobs')).toBe(0)
      })

      it('schedule during a lease leaves the lease alone and resets attempts', async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        const [claimed] = await store.claimDue({ now: at(0), limit: 10, owner: 'w1', leaseUntil: at(2 * MIN) })
        expect(claimed).toMatchObject({ cartId: 'cart-1', owner: 'w1', leaseUntil: at(2 * MIN), rev: 1 })
        expect(await store.settle('cart-1', 'w1', 1, { state: 'pending', dueAt: at(MIN), attempts: 3, note: 'retry' })).toBe('applied')
        await store.claimDue({ now: at(MIN), limit: 10, owner: 'w1', leaseUntil: at(3 * MIN) })
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(60 * MIN) })
        expect(await store.getJob('cart-1')).toMatchObject({ owner: 'w1', leaseUntil: at(3 * MIN), attempts: 0, rev: 2, note: null, dueAt: at(60 * MIN) })
        expect(await raw.job('cart-1')).toMatchObject({ owner: 'w1', leaseUntil: at(3 * MIN).getTime(), rev: 2 })
      })
    })

    // --- claims and leases ----------------------------------------------------------------------

    describe('claims and leases', () => {
      it('claims only due jobs, earliest first, up to the limit, and writes the lease', async () => {
        await store.schedule({ cartId: 'late', profileId: 'p', dueAt: at(3 * MIN) })
        await store.schedule({ cartId: 'first', profileId: 'p', dueAt: at(-2 * MIN) })
        await store.schedule({ cartId: 'second', profileId: 'p', dueAt: at(-MIN) })
        await store.schedule({ cartId: 'exact', profileId: 'p', dueAt: at(0) })
        await store.schedule({ cartId: 'done', profileId: 'p', dueAt: at(-5 * MIN) })
        await store.cancel('done', 'emptied')

        const a = await store.claimDue({ now: at(0), limit: 2, owner: 'w1', leaseUntil: at(2 * MIN) })
        expect(a.map((j) => j.cartId)).toEqual(['first', 'second'])
        expect(a[0]).toEqual({
          cartId: 'first', profileId: 'p', state: 'pending', dueAt: at(-2 * MIN), owner: 'w1', leaseUntil: at(2 * MIN),
          attempts: 0, rev: 1, note: null,
        })
        expect(await raw.job('first')).toMatchObject({ owner: 'w1', leaseUntil: at(2 * MIN).getTime() })
        const b = await store.claimDue({ now: at(0), limit: 10, owner: 'w2', leaseUntil: at(2 * MIN) })
        expect(b.map((j) => j.cartId)).toEqual(['exact'])
        expect(await store.claimDue({ now: at(0), limit: 10, owner: 'w3', leaseUntil: at(2 * MIN) })).toEqual([])
        expect(await raw.job('late')).toMatchObject({ owner: null, leaseUntil: null })
        expect(await raw.job('done')).toMatchObject({ owner: null, state: 'done' })
      })

      it('two concurrent claimers never get the same job', async () => {
        const n = 60
        for (let i = 0; i < n; i++) await store.schedule({ cartId: `cart-${i}`, profileId: 'p', dueAt: at(-i * 1000) })
        const batches = await Promise.all(
          ['w1', 'w2', 'w3', 'w4'].flatMap((owner) => [
            store.claimDue({ now: at(0), limit: 10, owner, leaseUntil: at(MIN) }),
            store.claimDue({ now: at(0), limit: 10, owner, leaseUntil: at(MIN) }),
          ]),
        )
        const ids = batches.flat().map((j) => j.cartId)
        expect(new Set(ids).size).toBe(ids.length)
        expect(ids.length).toBe(n)
        // Each claimed job is leased to the claimer that received it, in the backend.
        for (const [index, batch] of batches.entries()) {
          const owner = ['w1', 'w2', 'w3', 'w4'][index >> 1]
          for (const job of batch) expect((await raw.job(job.cartId))?.owner).toBe(owner)
        }
      })

      it('an expired lease returns the job to the queue; the former owner can neither extend nor settle', async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        expect(await store.claimDue({ now: at(0), limit: 5, owner: 'w1', leaseUntil: at(MIN) })).toHaveLength(1)
        expect(await store.claimDue({ now: at(MIN - 1), limit: 5, owner: 'w2', leaseUntil: at(3 * MIN) })).toEqual([])
        const again = await store.claimDue({ now: at(MIN), limit: 5, owner: 'w2', leaseUntil: at(3 * MIN) })
        expect(again).toMatchObject([{ cartId: 'cart-1', owner: 'w2', leaseUntil: at(3 * MIN) }])
        expect(await store.extendLease('cart-1', 'w1', at(10 * MIN))).toBe(false)
        expect(await store.settle('cart-1', 'w1', 1, { state: 'done', note: 'completed' })).toBe('lost')
        expect(await raw.job('cart-1')).toMatchObject({ owner: 'w2', leaseUntil: at(3 * MIN).getTime(), state: 'pending' })
        expect(await store.extendLease('cart-1', 'w2', at(10 * MIN))).toBe(true)
        expect(await raw.job('cart-1')).toMatchObject({ owner: 'w2', leaseUntil: at(10 * MIN).getTime() })
        // The extended lease holds past the old end.
        expect(await store.claimDue({ now: at(5 * MIN), limit: 5, owner: 'w3', leaseUntil: at(20 * MIN) })).toEqual([])
        expect(await store.claimDue({ now: at(10 * MIN), limit: 5, owner: 'w3', leaseUntil: at(20 * MIN) })).toHaveLength(1)
      })

      it('settle by a non-owner is refused (lost) and writes nothing', async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        expect(await store.settle('cart-1', 'w1', 1, { state: 'done', note: 'completed' })).toBe('lost')
        await store.claimDue({ now: at(0), limit: 5, owner: 'w1', leaseUntil: at(MIN) })
        expect(await store.settle('cart-1', 'intruder', 1, { state: 'done', note: 'completed' })).toBe('lost')
        expect(await store.extendLease('cart-1', 'intruder', at(9 * MIN))).toBe(false)
        expect(await store.settle('missing', 'w1', 1, { state: 'done', note: 'completed' })).toBe('lost')
        expect(await store.extendLease('missing', 'w1', at(9 * MIN))).toBe(false)
        expect(await raw.job('cart-1')).toEqual({ state: 'pending', dueAt: at(0).getTime(), owner: 'w1', leaseUntil: at(MIN).getTime(), attempts: 0, rev: 1 })
      })

      it('settle by the owner writes the settlement and releases the lease', async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        await store.claimDue({ now: at(0), limit: 5, owner: 'w1', leaseUntil: at(MIN) })
        expect(await store.settle('cart-1', 'w1', 1, { state: 'pending', dueAt: at(30 * MIN), attempts: 2, note: 'quiet-hours' })).toBe('applied')
        expect(await store.getJob('cart-1')).toEqual({
          cartId: 'cart-1', profileId: 'p1', state: 'pending', dueAt: at(30 * MIN), owner: null, leaseUntil: null,
          attempts: 2, rev: 1, note: 'quiet-hours',
        })
        expect(await raw.job('cart-1')).toEqual({ state: 'pending', dueAt: at(30 * MIN).getTime(), owner: null, leaseUntil: null, attempts: 2, rev: 1 })
        expect(await store.claimDue({ now: at(29 * MIN), limit: 5, owner: 'w1', leaseUntil: at(40 * MIN) })).toEqual([])
        const [job] = await store.claimDue({ now: at(30 * MIN), limit: 5, owner: 'w2', leaseUntil: at(40 * MIN) })
        expect(job).toMatchObject({ attempts: 2, owner: 'w2' })
        expect(await store.settle('cart-1', 'w2', 1, { state: 'done', note: 'completed' })).toBe('applied')
        expect(await store.getJob('cart-1')).toMatchObject({ state: 'done', note: 'completed', owner: null, leaseUntil: null })
        // A second settlement after release is refused.
        expect(await store.settle('cart-1', 'w2', 1, { state: 'done', note: 'completed' })).toBe('lost')
        expect(await store.claimDue({ now: at(999 * MIN), limit: 5, owner: 'w3', leaseUntil: at(1000 * MIN) })).toEqual([])
      })

      it("settle yields when schedule or cancel changed the job during the lease", async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        await store.schedule({ cartId: 'cart-2', profileId: 'p1', dueAt: at(0) })
        await store.claimDue({ now: at(0), limit: 5, owner: 'w1', leaseUntil: at(MIN) })
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(45 * MIN) })
        await store.cancel('cart-2', 'ordered')
        expect(await store.settle('cart-1', 'w1', 1, { state: 'done', note: 'completed' })).toBe('yielded')
        expect(await store.settle('cart-2', 'w1', 1, { state: 'pending', dueAt: at(5 * MIN), attempts: 1, note: 'retry' })).toBe('yielded')
        expect(await store.getJob('cart-1')).toMatchObject({ state: 'pending', dueAt: at(45 * MIN), owner: null, leaseUntil: null, rev: 2, note: null })
        expect(await store.getJob('cart-2')).toMatchObject({ state: 'done', note: 'ordered', owner: null, leaseUntil: null, rev: 2 })
        expect(await raw.job('cart-1')).toMatchObject({ state: 'pending', dueAt: at(45 * MIN).getTime(), owner: null })
        // The yielded job is claimable at its new time, never before.
        expect(await store.claimDue({ now: at(44 * MIN), limit: 5, owner: 'w2', leaseUntil: at(50 * MIN) })).toEqual([])
        expect((await store.claimDue({ now: at(45 * MIN), limit: 5, owner: 'w2', leaseUntil: at(50 * MIN) })).map((j) => j.cartId)).toEqual(['cart-1'])
      })
      it('settleMany judges each job of a batch as settle would, in one call', async () => {
        for (const id of ['a', 'b', 'c', 'd']) await store.schedule({ cartId: `cart-${id}`, profileId: 'p1', dueAt: at(0) })
        await store.claimDue({ now: at(0), limit: 3, owner: 'w1', leaseUntil: at(MIN) }) // a, b, c (same due: any 3)
        const held = (await Promise.all(['a', 'b', 'c', 'd'].map(async (id) => ({ id, job: await store.getJob(`cart-${id}`) }))))
          .filter(({ job }) => job!.owner === 'w1').map(({ id }) => `cart-${id}`)
        expect(held).toHaveLength(3)
        const [applied, pendingAgain, yielded] = held as [string, string, string]
        const free = ['cart-a', 'cart-b', 'cart-c', 'cart-d'].find((id) => !held.includes(id))!
        await store.schedule({ cartId: yielded, profileId: 'p1', dueAt: at(45 * MIN) }) // a new snapshot during the lease
        expect(await store.settleMany('w1', [])).toEqual([])
        expect(await store.settleMany('w1', [
          { cartId: applied, rev: 1, settlement: { state: 'done', note: 'completed' } },
          { cartId: free, rev: 1, settlement: { state: 'done', note: 'completed' } }, // not held: lost
          { cartId: pendingAgain, rev: 1, settlement: { state: 'pending', dueAt: at(30 * MIN), attempts: 2, note: 'retry' } },
          { cartId: yielded, rev: 1, settlement: { state: 'done', note: 'completed' } },
          { cartId: 'missing', rev: 1, settlement: { state: 'done', note: 'completed' } },
        ])).toEqual(['applied', 'lost', 'applied', 'yielded', 'lost'])
        expect(await raw.job(applied)).toEqual({ state: 'done', dueAt: at(0).getTime(), owner: null, leaseUntil: null, attempts: 0, rev: 1 })
        expect(await raw.job(free)).toEqual({ state: 'pending', dueAt: at(0).getTime(), owner: null, leaseUntil: null, attempts: 0, rev: 1 })
        expect(await raw.job(pendingAgain)).toEqual({ state: 'pending', dueAt: at(30 * MIN).getTime(), owner: null, leaseUntil: null, attempts: 2, rev: 1 })
        expect(await raw.job(yielded)).toEqual({ state: 'pending', dueAt: at(45 * MIN).getTime(), owner: null, leaseUntil: null, attempts: 0, rev: 2 })
        expect(await store.getJob(pendingAgain)).toMatchObject({ note: 'retry' })
        // Released: a second settlement of the same batch is lost everywhere.
        expect(await store.settleMany('w1', [{ cartId: applied, rev: 1, settlement: { state: 'done', note: 'x' } }])).toEqual(['lost'])
        expect((await store.claimDue({ now: at(30 * MIN), limit: 9, owner: 'w2', leaseUntil: at(31 * MIN) })).map((j) => j.cartId).sort())
          .toEqual([free, pendingAgain].sort())
      })
    })

    describe('cart views', () => {
      it('viewCarts gives each cart with its profile, send log and supersession, as the single reads do', async () => {
        await store.saveProfile(profileRecord('p1', { email: 'ana@example.com', firstName: 'Ana' }))
        await store.saveProfile(profileRecord('p2'))
        // p1 has three carts: old, then two with the same latest activity (the greater id wins).
        await store.saveCart(cartRecord('old', 'p1', { activityAt: at(0) }))
        await store.saveCart(cartRecord('tie-a', 'p1', { activityAt: at(MIN) }))
        await store.saveCart(cartRecord('tie-b', 'p1', { activityAt: at(MIN), status: 'empty', items: [] }))
        await store.saveCart(cartRecord('alone', 'p2', { activityAt: at(0) }))
        await store.saveCart(cartRecord('orphan', 'gone-profile', { activityAt: at(0) }))
        await store.reserveSend(sendRecord('s2', 'old', 'p1', 'reassurance', { stepIndex: 1, createdAt: at(MIN), outcome: 'sent', sentAt: at(MIN) }))
        await store.reserveSend(sendRecord('s1', 'old', 'p1', 'reminder', { stepIndex: 0, createdAt: at(0),
          incentive: { kind: 'percent', value: 10, code: 'TEN', expiresAt: at(60 * MIN) } }))

        expect((await store.viewCarts([])).size).toBe(0)
        const ids = ['old', 'tie-a', 'tie-b', 'alone', 'orphan', 'missing']
        const views = await store.viewCarts(ids)
        expect([...views.keys()].sort()).toEqual(['alone', 'old', 'orphan', 'tie-a', 'tie-b'])
        expect(Object.fromEntries([...views].map(([id, v]) => [id, v.superseded]))).toEqual({
          old: true, 'tie-a': true, 'tie-b': false, alone: false, orphan: false,
        })
        for (const id of ids.slice(0, 5)) {
          const view = views.get(id)!
          const cart = (await store.getCart(id))!
          expect(view.cart).toEqual(cart)
          expect(view.profile).toEqual(await store.getProfile(cart.profileId))
          expect(view.sends).toEqual(await store.listCartSends(id))
        }
        expect(views.get('orphan')!.profile).toBeNull()
        expect(views.get('old')!.sends.map((s) => s.id)).toEqual(['s1', 's2'])
        expect(views.get('old')!.sends[0]!.incentive).toEqual({ kind: 'percent', value: 10, code: 'TEN', expiresAt: at(60 * MIN) })
        expect(views.get('old')!.profile).toMatchObject({ email: 'ana@example.com', firstName: 'Ana', createdAt: T0 })

        // A merge moves carts: supersession follows the person, not the old profile.
        await store.mergeProfiles('p2', 'p1')
        await store.saveCart(cartRecord('alone', 'p1', { activityAt: at(2 * MIN) }))
        const after = await store.viewCarts(['alone', 'tie-b'])
        expect(after.get('alone')).toMatchObject({ superseded: false, profile: { id: 'p1' } })
        expect(after.get('tie-b')!.superseded).toBe(true)
      })

      it('claimBatch claims like claimDue and returns the views of the claimed carts', async () => {
        await store.saveProfile(profileRecord('p1', { email: 'ana@example.com' }))
        await store.saveCart(cartRecord('cart-1', 'p1', { activityAt: at(0) }))
        await store.saveCart(cartRecord('cart-2', 'p1', { activityAt: at(MIN) }))
        await store.reserveSend(sendRecord('s1', 'cart-1', 'p1', 'reminder', { outcome: 'sent', sentAt: at(0) }))
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        await store.schedule({ cartId: 'cart-2', profileId: 'p1', dueAt: at(2 * MIN) })
        await store.schedule({ cartId: 'gone', profileId: 'p1', dueAt: at(MIN) })
        await store.schedule({ cartId: 'later', profileId: 'p1', dueAt: at(60 * MIN) })
        expect(await store.claimBatch({ now: at(-MIN), limit: 5, owner: 'w1', leaseUntil: at(MIN) })).toEqual({ jobs: [], views: new Map() })
        const batch = await store.claimBatch({ now: at(2 * MIN), limit: 5, owner: 'w1', leaseUntil: at(5 * MIN) })
        expect(batch.jobs.map((j) => j.cartId)).toEqual(['cart-1', 'gone', 'cart-2'])
        expect(batch.jobs.every((j) => j.owner === 'w1' && j.leaseUntil?.getTime() === at(5 * MIN).getTime())).toBe(true)
        expect(await raw.job('gone')).toMatchObject({ owner: 'w1', leaseUntil: at(5 * MIN).getTime() })
        expect([...batch.views.keys()].sort()).toEqual(['cart-1', 'cart-2'])
        expect(batch.views).toEqual(await store.viewCarts(['cart-1', 'cart-2']))
        expect(batch.views.get('cart-1')).toMatchObject({ superseded: true, sends: [{ id: 's1' }], profile: { email: 'ana@example.com' } })
        // Claimed: a second batch gets nothing until the lease ends.
        expect((await store.claimBatch({ now: at(3 * MIN), limit: 5, owner: 'w2', leaseUntil: at(9 * MIN) })).jobs).toEqual([])
        expect((await store.claimBatch({ now: at(5 * MIN), limit: 5, owner: 'w2', leaseUntil: at(9 * MIN) })).jobs.map((j) => j.owner)).toEqual(['w2', 'w2', 'w2'])
      })
    })

    // --- send log -------------------------------------------------------------------------------

    describe('send log', () => {
      it('reserveSend: the first writer of (cart, step) wins and the record comes back exactly', async () => {
        const first = sendRecord('send-1', 'cart-1', 'p1', 'reminder', {
          experimentId: 'exp', variant: 'B', messageId: '<abc@shop.example>',
          incentive: { kind: 'percent', value: 10, code: 'SAVE10', expiresAt: at(7 * 24 * 60 * MIN) },
        })
        expect(await store.reserveSend(first)).toEqual(first)
        const second = sendRecord('send-2', 'cart-1', 'p1', 'reminder', { outcome: 'skipped', createdAt: at(MIN) })
        expect(await store.reserveSend(second)).toEqual(first)
        expect(await store.getSend('send-2')).toBeNull()
        expect(await store.getSend('send-1')).toEqual(first)
        expect(await raw.send('cart-1', 'reminder')).toEqual({ id: 'send-1', outcome: 'sending', clickedAt: null })
        expect(await raw.count('sends')).toBe(1)
      })

      it('concurrent reservations of one step agree on one record', async () => {
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) => store.reserveSend(sendRecord(`send-${i}`, 'cart-1', 'p1', 'reminder'))),
        )
        expect(new Set(results.map((r) => r!.id)).size).toBe(1)
        expect(await raw.count('sends')).toBe(1)
        expect((await raw.send('cart-1', 'reminder'))?.id).toBe(results[0]!.id)
      })

      it('a reservation guarded by a lease is written only while the job is unchanged and still held', async () => {
        await store.schedule({ cartId: 'cart-1', profileId: 'p1', dueAt: at(0) })
        const [job] = await store.claimDue({ now: at(0), limit: 1, owner: 'w1', leaseUntil: at(2 * MIN) })
        const lease = { owner: 'w1', rev: job!.rev }
        // Another worker's guard, or a stale revision: nothing written.
        expect(await store.reserveSend(sendRecord('send-x', 'cart-1', 'p1', 'reminder'), { owner: 'w2', rev: job!.rev })).toBeNull()
        expect(await store.reserveSend(sendRecord('send-y', 'cart-1', 'p1', 'reminder'), { owner: 'w1', rev: job!.rev + 1 })).toBeNull()
        expect(await store.reserveSend(sendRecord('send-z', 'cart-9', 'p1', 'reminder'), lease)).toBeNull() // no job
        expect(await raw.count('sends')).toBe(0)
        const first = sendRecord('send-1', 'cart-1', 'p1', 'reminder')
        expect(await store.reserveSend(first, lease)).toEqual(first)
        // Held and unchanged, but the step is taken: the existing record comes back, as unguarded.
        expect(await store.reserveSend(sendRecord('send-2', 'cart-1', 'p1', 'reminder'), lease)).toEqual(first)
        // An order cancels the job under the lease: the next step can no longer be reserved.
        await store.cancel('cart-1', 'ordered')
        expect(await store.reserveSend(sendRecord('send-3', 'cart-1', 'p1', 'reassurance'), lease)).toBeNull()
        expect(await store.getSend('send-3')).toBeNull()
        expect(await raw.send('cart-1', 'reassurance')).toBeNull()
        expect(await raw.count('sends')).toBe(1)
      })

      it('updateSend patches fields and ignores unknown ids', async () => {
        const send = sendRecord('send-1', 'cart-1', 'p1', 'reminder')
        await store.reserveSend(send)
        await store.updateSend('send-1', { outcome: 'sent', sentAt: at(MIN), messageId: '<m@shop.example>', reason: null })
        expect(await store.getSend('send-1')).toEqual({ ...send, outcome: 'sent', sentAt: at(MIN), messageId: '<m@shop.example>' })
        expect(await raw.send('cart-1', 'reminder')).toMatchObject({ outcome: 'sent' })
        const incentive = { kind: 'amount' as const, value: 500, code: 'FIVE', expiresAt: null }
        await store.updateSend('send-1', { outcome: 'failed', reason: '550 no such user', incentive })
        expect(await store.getSend('send-1')).toEqual({
          ...send, outcome: 'failed', sentAt: at(MIN), messageId: '<m@shop.example>', reason: '550 no such user', incentive,
        })
        await store.updateSend('send-1', { incentive: null, sentAt: null })
        expect(await store.getSend('send-1')).toMatchObject({ incentive: null, sentAt: null, outcome: 'failed' })
        await store.updateSend('nope', { outcome: 'sent' })
        expect(await store.getSend('nope')).toBeNull()
        expect(await raw.count('sends')).toBe(1)
      })

      it('recordClick keeps the first click only', async () => {
        await store.reserveSend(sendRecord('send-1', 'cart-1', 'p1', 'reminder', { outcome: 'sent' }))
        expect((await store.recordClick('send-1', at(MIN)))?.clickedAt).toEqual(at(MIN))
        expect((await store.recordClick('send-1', at(5 * MIN)))?.clickedAt).toEqual(at(MIN))
        expect(await raw.send('cart-1', 'reminder')).toMatchObject({ clickedAt: at(MIN).getTime() })
        expect(await store.recordClick('unknown', at(MIN))).toBeNull()
      })

      it('lists a cart by step index and a profile since a time, oldest first', async () => {
        await store.reserveSend(sendRecord('s3', 'cart-1', 'p1', 'last', { stepIndex: 2, createdAt: at(2 * MIN) }))
        await store.reserveSend(sendRecord('s1', 'cart-1', 'p1', 'reminder', { stepIndex: 0, createdAt: at(0) }))
        await store.reserveSend(sendRecord('s2', 'cart-1', 'p1', 'reassurance', { stepIndex: 1, createdAt: at(MIN) }))
        await store.reserveSend(sendRecord('s4', 'cart-2', 'p1', 'reminder', { stepIndex: 0, createdAt: at(3 * MIN) }))
        await store.reserveSend(sendRecord('s5', 'cart-3', 'p2', 'reminder', { stepIndex: 0, createdAt: at(4 * MIN) }))
        expect((await store.listCartSends('cart-1')).map((s) => s.id)).toEqual(['s1', 's2', 's3'])
        expect(await store.listCartSends('cart-9')).toEqual([])
        expect((await store.listProfileSends('p1', at(MIN))).map((s) => s.id)).toEqual(['s2', 's3', 's4'])
        expect((await store.listProfileSends('p1', at(0))).map((s) => s.id)).toEqual(['s1', 's2', 's3', 's4'])
        expect(await store.listProfileSends('p1', at(3 * MIN + 1))).toEqual([])
      })
    })

    // --- orders, assignments, suppression -------------------------------------------------------

    describe('orders, assignments, suppression', () => {
      it('saves an order once; a duplicate id is refused and changes nothing', async () => {
        const order = orderRecord('order-1', 'p1', {
          cartId: 'cart-1', total: 8460, at: at(MIN),
          attribution: { sendId: 'send-1', cartId: 'cart-1', step: 'reminder', experimentId: null, variant: null, outcome: 'sent', clicked: true },
        })
        expect(await store.saveOrder(order)).toBe(true)
        expect(await store.saveOrder({ ...order, total: 1, attribution: null })).toBe(false)
        expect(await store.saveOrder(orderRecord('order-2', 'p2'))).toBe(true)
        const orders = await collect(store.scanOrders({}))
        expect(orders.sort((a, b) => a.id.localeCompare(b.id))).toEqual([order, orderRecord('order-2', 'p2')])
        expect(await raw.count('orders')).toBe(2)
      })

      it('assign: the first writer wins, also under concurrency', async () => {
        const first: AssignmentRecord = { experimentId: 'exp', profileId: 'p1', variant: 'A', at: at(0) }
        expect(await store.assign(first)).toEqual(first)
        expect(await store.assign({ ...first, variant: 'B', at: at(MIN) })).toEqual(first)
        expect(await store.getAssignment('exp', 'p1')).toEqual(first)
        expect(await store.getAssignment('exp', 'p2')).toBeNull()
        expect(await store.getAssignment('other', 'p1')).toBeNull()
        const racing = await Promise.all(['A', 'B', 'C', 'D'].map((variant) => store.assign({ experimentId: 'exp', profileId: 'p2', variant, at: at(0) })))
        expect(new Set(racing.map((r) => r.variant)).size).toBe(1)
        expect((await store.getAssignment('exp', 'p2'))?.variant).toBe(racing[0]!.variant)
        expect(await raw.count('assignments')).toBe(2)
      })

      it('suppresses, replaces and lifts a suppression', async () => {
        const entry: SuppressionRecord = { key: 'hmac-1', reason: 'bounce', at: at(0) }
        await store.suppress(entry)
        expect(await store.getSuppression('hmac-1')).toEqual(entry)
        await store.suppress({ ...entry, reason: 'complaint', at: at(MIN) })
        expect(await store.getSuppression('hmac-1')).toEqual({ key: 'hmac-1', reason: 'complaint', at: at(MIN) })
        expect(await raw.count('suppressions')).toBe(1)
        expect(await store.getSuppression('hmac-2')).toBeNull()
        await store.unsuppress('hmac-1')
        await store.unsuppress('hmac-2')
        expect(await store.getSuppression('hmac-1')).toBeNull()
        expect(await raw.count('suppressions')).toBe(0)
      })
    })

    // --- privacy --------------------------------------------------------------------------------

    describe('privacy', () => {
      async function person(p: string, email: string, name: string, customerId: string) {
        await store.saveProfile(profileRecord(p, { email, firstName: name, customerId }))
        await store.linkDevice(`device-of-${p}`, p, T0)
        await store.saveCart(cartRecord(`cart-of-${p}`, p, { deviceId: `device-of-${p}`, items: [{ sku: `sku-of-${p}`, name: `gift for ${name}`, quantity: 1, unitAmount: 100 }] }))
        await store.schedule({ cartId: `cart-of-${p}`, profileId: p, dueAt: at(MIN) })
        await store.reserveSend(sendRecord(`send-of-${p}`, `cart-of-${p}`, p, 'reminder', { messageId: `<msg-of-${p}@shop.example>` }))
        await store.saveOrder(orderRecord(`order-of-${p}`, p, { cartId: `cart-of-${p}` }))
        await store.assign({ experimentId: 'exp', profileId: p, variant: 'A', at: T0 })
      }

      it('forgetProfile leaves no trace of the email, name or ids in the backend', async () => {
        await person('prof-ZoeQuartz', 'zoe.quartz@example.com', 'Zoéquartz', 'cust-ZoeQuartz')
        await person('prof-Keep', 'keep.me@example.com', 'Keepname', 'cust-Keep')
        // A suppression is keyed by a hash and survives erasure on purpose.
        await store.suppress({ key: 'hmac-of-zoe', reason: 'unsubscribe', at: T0 })

        const before = await raw.dump()
        for (const needle of ['zoe.quartz@example.com', 'Zoéquartz', 'cust-ZoeQuartz', 'prof-ZoeQuartz', 'device-of-prof-ZoeQuartz', 'cart-of-prof-ZoeQuartz', 'msg-of-prof-ZoeQuartz', 'order-of-prof-ZoeQuartz']) {
          expect(before, `the dump shows ${needle} before forget`).toContain(needle)
        }

        await store.forgetProfile('prof-ZoeQuartz')

        expect(await store.getProfile('prof-ZoeQuartz')).toBeNull()
        expect(await store.findProfile({ email: 'zoe.quartz@example.com' })).toBeNull()
        expect(await store.findProfile({ deviceId: 'device-of-prof-ZoeQuartz' })).toBeNull()
        expect(await store.getCart('cart-of-prof-ZoeQuartz')).toBeNull()
        expect(await store.getJob('cart-of-prof-ZoeQuartz')).toBeNull()
        expect(await store.getSend('send-of-prof-ZoeQuartz')).toBeNull()
        expect(await store.getAssignment('exp', 'prof-ZoeQuartz')).toBeNull()
        for (const kind of ['profiles', 'devices', 'carts', 'jobs', 'sends', 'assignments'] as const) {
          expect(await raw.count(kind), kind).toBe(1)
        }
        expect(await raw.count('orders')).toBe(1)
        expect(await store.getSuppression('hmac-of-zoe')).not.toBeNull()

        const after = await raw.dump()
        for (const needle of ['zoe.quartz', 'Zoéquartz', 'ZoeQuartz']) expect(after.includes(needle), `${needle} left in the backend`).toBe(false)
        expect(after).toContain('keep.me@example.com')
        expect(after).toContain('Keepname')
        expect(await store.saveOrder(orderRecord('order-of-prof-ZoeQuartz', 'x'))).toBe(true) // the id is free again
      })

      it('purge deletes old carts with their jobs, sends and orders, counts them, keeps profiles and suppressions', async () => {
        await store.saveProfile(profileRecord('p1', { email: 'p1@example.com' }))
        await store.saveCart(cartRecord('old-cart', 'p1', { activityAt: at(-10 * MIN) }))
        await store.schedule({ cartId: 'old-cart', profileId: 'p1', dueAt: at(MIN) })
        await store.saveCart(cartRecord('edge-cart', 'p1', { activityAt: at(0) }))
        await store.saveCart(cartRecord('new-cart', 'p1', { activityAt: at(MIN) }))
        await store.schedule({ cartId: 'new-cart', profileId: 'p1', dueAt: at(2 * MIN) })
        await store.reserveSend(sendRecord('old-send', 'old-cart', 'p1', 'reminder', { createdAt: at(-5 * MIN) }))
        await store.reserveSend(sendRecord('old-send-2', 'old-cart', 'p1', 'reassurance', { createdAt: at(-1) }))
        await store.reserveSend(sendRecord('new-send', 'new-cart', 'p1', 'reminder', { createdAt: at(0) }))
        await store.saveOrder(orderRecord('old-order', 'p1', { at: at(-MIN) }))
        await store.saveOrder(orderRecord('new-order', 'p1', { at: at(0) }))
        await store.suppress({ key: 'k', reason: 'bounce', at: at(-60 * MIN) })

        expect(await store.purge(at(0))).toEqual({ carts: 1, sends: 2, orders: 1 })
        expect(await store.getCart('old-cart')).toBeNull()
        expect(await store.getJob('old-cart')).toBeNull()
        expect(await store.getCart('edge-cart')).not.toBeNull()
        expect(await store.getJob('new-cart')).not.toBeNull()
        expect(await store.getSend('old-send')).toBeNull()
        expect(await store.getSend('new-send')).not.toBeNull()
        expect((await collect(store.scanOrders({}))).map((o) => o.id)).toEqual(['new-order'])
        expect(await store.getProfile('p1')).not.toBeNull()
        expect(await store.getSuppression('k')).not.toBeNull()
        expect(await raw.count('carts')).toBe(2)
        expect(await raw.count('jobs')).toBe(1)
        expect(await raw.count('sends')).toBe(1)
        expect(await raw.count('orders')).toBe(1)
        expect(await store.purge(at(0))).toEqual({ carts: 0, sends: 0, orders: 0 })
      })
    })

    // --- reporting scans ------------------------------------------------------------------------

    describe('scans', () => {
      it('scan* honour since (inclusive) and until (exclusive)', async () => {
        for (let i = 0; i < 4; i++) {
          await store.reserveSend(sendRecord(`s${i}`, `c${i}`, 'p', 'reminder', { createdAt: at(i * MIN) }))
          await store.saveOrder(orderRecord(`o${i}`, 'p', { at: at(i * MIN) }))
          await store.assign({ experimentId: `e${i}`, profileId: 'p', variant: 'A', at: at(i * MIN) })
          await store.suppress({ key: `k${i}`, reason: i % 2 === 0 ? 'bounce' : 'complaint', at: at(i * MIN) })
        }
        const ids = async <T>(iterable: AsyncIterable<T>, key: (t: T) => string) => (await collect(iterable)).map(key).sort()
        const range = { since: at(MIN), until: at(3 * MIN) }
        expect(await ids(store.scanSends(range), (s) => s.id)).toEqual(['s1', 's2'])
        expect(await ids(store.scanOrders(range), (o) => o.id)).toEqual(['o1', 'o2'])
        expect(await ids(store.scanAssignments(range), (a) => a.experimentId)).toEqual(['e1', 'e2'])
        expect(await ids(store.scanSuppressions(range), (s) => s.key)).toEqual(['k1', 'k2'])
        expect(await ids(store.scanSends({}), (s) => s.id)).toEqual(['s0', 's1', 's2', 's3'])
        expect(await ids(store.scanOrders({ since: at(2 * MIN) }), (o) => o.id)).toEqual(['o2', 'o3'])
        expect(await ids(store.scanSuppressions({ until: at(MIN) }), (s) => s.key)).toEqual(['k0'])
        expect(await ids(store.scanAssignments({ since: at(9 * MIN) }), (a) => a.experimentId)).toEqual([])
        const [send] = await collect(store.scanSends({ since: at(3 * MIN) }))
        expect(send).toEqual(sendRecord('s3', 'c3', 'p', 'reminder', { createdAt: at(3 * MIN) }))
        const [suppression] = await collect(store.scanSuppressions({ since: at(3 * MIN) }))
        expect(suppression).toEqual({ key: 'k3', reason: 'complaint', at: at(3 * MIN) })
      })

      it('scans page through more records than one batch', async () => {
        const n = 1234
        await Promise.all(Array.from({ length: n }, (_, i) => store.reserveSend(sendRecord(`s${i}`, `c${i}`, 'p', 'reminder', { createdAt: at(i) }))))
        const seen = await collect(store.scanSends({ since: at(0) }))
        expect(seen.length).toBe(n)
        expect(new Set(seen.map((s) => s.id)).size).toBe(n)
      })
    })

    // --- the engine over this store -------------------------------------------------------------

    describe('engine over the store', () => {
      it('the cross-device story: one person, two reminders, restored on a third device, the order stops the rest', async () => {
        const { relance, clock, transport } = setup({ store, frequencyCap: false })
        await relance.trackCart({ cartId: 'cart-phone', deviceId: 'phone', items: ITEMS.slice(0, 1), currency: 'EUR' })
        clock.advance({ minutes: 5 })
        await relance.identify({ deviceId: 'phone', email: 'Camille@Example.com', firstName: 'Camille', consent: { marketing: true, source: 'newsletter-box' } })
        clock.advance({ hours: 2 })
        await relance.identify({ deviceId: 'desktop', customerId: 'cust-42', email: 'camille@example.com' })
        const { profileId } = await relance.trackCart({ cartId: 'cart-desktop', deviceId: 'desktop', customerId: 'cust-42', items: ITEMS, currency: 'EUR' })
        expect((await store.findProfile({ deviceId: 'phone' }))?.id).toBe(profileId)
        expect(await raw.device('phone')).toBe(profileId)
        expect(await raw.profile(profileId)).toEqual({ customerId: 'cust-42', email: 'camille@example.com', firstName: 'Camille' })

        clock.advance({ minutes: 59 })
        expect((await relance.tick()).sent).toBe(0)
        clock.advance({ minutes: 1 })
        expect((await relance.tick()).sent).toBe(1)
        expect(transport.messages[0]).toMatchObject({ to: 'camille@example.com', meta: { cartId: 'cart-desktop', profileId, step: 'reminder' } })
        expect(await raw.send('cart-desktop', 'reminder')).toMatchObject({ outcome: 'sent' })
        clock.advance({ hours: 23 })
        expect((await relance.tick()).sent).toBe(1)

        const restoreLink = linksIn(transport.messages[1]!.html).find((l) => l.includes('/panier/restaurer'))!
        const restored = await relance.restore(tokenOf(restoreLink), { deviceId: 'tablet' })
        expect(restored).toMatchObject({ cartId: 'cart-desktop', step: 'reassurance', profile: { id: profileId, firstName: 'Camille' } })
        expect(restored.items).toEqual(ITEMS)
        expect((await raw.send('cart-desktop', 'reassurance'))?.clickedAt).toBe(clock.now().getTime())

        clock.advance({ minutes: 10 })
        const order = await relance.orderPlaced({ orderId: 'order-1', deviceId: 'tablet', total: 8460, currency: 'EUR' })
        expect(order).toEqual({ known: true, attributedTo: { step: 'reassurance', variant: null, clicked: true } })
        expect(await raw.job('cart-desktop')).toMatchObject({ state: 'done', owner: null })
        clock.advance({ days: 5 })
        expect((await relance.tick()).sent).toBe(0)
        expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder', 'reassurance'])

        const report = await relance.report()
        expect(report.steps.find((s) => s.id === 'reassurance')).toMatchObject({ sent: 1, clicked: 1, recovered: 1, recoveredAfterClick: 1, revenue: 8460 })
        expect(report.steps.find((s) => s.id === 'reminder')).toMatchObject({ sent: 1, clicked: 0, recovered: 0 })
      })

      it('an order cancels the pending reminders of every cart of the person', async () => {
        const { relance, clock, transport } = setup({ store })
        await consentingShopper(relance, 1)
        await relance.trackCart({ cartId: 'cart-1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
        expect(await raw.job('cart-1')).toMatchObject({ state: 'pending', owner: null })
        clock.advance({ minutes: 30 })
        await relance.orderPlaced({ orderId: 'order-1', cartId: 'cart-1', total: 8000, currency: 'EUR' })
        expect(await raw.job('cart-1')).toMatchObject({ state: 'done' })
        expect(await raw.count('orders')).toBe(1)
        clock.advance({ days: 3 })
        expect(await relance.tick()).toMatchObject({ sent: 0 })
        expect(transport.messages).toHaveLength(0)
        // The same order id again is not counted twice.
        await relance.orderPlaced({ orderId: 'order-1', cartId: 'cart-1', total: 8000, currency: 'EUR' })
        expect(await raw.count('orders')).toBe(1)
      })

      it('forget erases the person everywhere in the backend after a full story', async () => {
        const { relance, clock, transport } = setup({ store, frequencyCap: false })
        await relance.identify({ deviceId: 'dev-Xylophage', customerId: 'cust-Xylophage', email: 'xylo.phage@example.com', firstName: 'Xylophagine', consent: { marketing: true, source: 'checkout-checkbox' } })
        await relance.trackCart({ cartId: 'cart-Xylophage', deviceId: 'dev-Xylophage', items: ITEMS, currency: 'EUR' })
        await consentingShopper(relance, 'kept')
        await relance.trackCart({ cartId: 'cart-kept', deviceId: 'device-kept', items: ITEMS, currency: 'EUR' })
        clock.advance({ hours: 1 })
        expect((await relance.tick()).sent).toBe(2)
        const link = linksIn(transport.messages.find((m) => m.to === 'xylo.phage@example.com')!.html).find((l) => l.includes('/panier/restaurer'))!
        await relance.restore(tokenOf(link), { deviceId: 'tablet-Xylophage' })
        await relance.orderPlaced({ orderId: 'order-Xylophage', deviceId: 'tablet-Xylophage', total: 8460, currency: 'EUR' })
        const messageId = transport.messages.find((m) => m.to === 'xylo.phage@example.com')!.messageId
        const profileId = (await store.findProfile({ email: 'xylo.phage@example.com' }))!.id
        const needles = ['xylo.phage', 'Xylophag', profileId, messageId.replace(/^<|>$/g, '')]
        const before = await raw.dump()
        for (const needle of needles) expect(before, needle).toContain(needle)

        expect(await relance.forget({ email: 'xylo.phage@example.com' })).toMatchObject({ erased: true })

        const after = await raw.dump()
        for (const needle of needles) expect(after.includes(needle), `${needle} left in the backend`).toBe(false)
        expect(after).toContain('shopperkept@example.com')
      })

      it('report counts sends, unsubscribes and bounces from this store', async () => {
        const { relance, clock, transport } = setup({ store, frequencyCap: false })
        for (const n of [1, 2, 3]) {
          await consentingShopper(relance, n)
          await relance.trackCart({ cartId: `cart-${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
        }
        clock.advance({ hours: 1 })
        expect((await relance.tick()).sent).toBe(3)
        expect(await raw.count('sends')).toBe(3)
        await relance.suppress('shopper2@example.com', 'bounce')
        const unsubscribe = transport.messages.find((m) => m.to === 'shopper3@example.com')!.headers['List-Unsubscribe']!.slice(1, -1)
        expect(await relance.unsubscribe(tokenOf(unsubscribe))).toEqual({ found: true })
        expect(await raw.count('suppressions')).toBe(2)
        clock.advance({ hours: 23 })
        expect((await relance.tick()).sent).toBe(1) // only shopper 1 still reachable
        const report = await relance.report()
        expect(report.steps.find((s) => s.id === 'reminder')).toMatchObject({ sent: 3 })
        expect(report.steps.find((s) => s.id === 'reassurance')).toMatchObject({ sent: 1 })
        expect(report.totals).toMatchObject({ sent: 4, hardBounces: 1 })
      })
    })
  })
}
