import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { TZDate } from '@date-fns/tz'
import { ITEMS, setup } from './helpers/engine.js'

const PEOPLE = [
  { email: 'p0@example.com', timeZone: undefined },
  { email: 'p1@example.com', timeZone: 'America/New_York' },
  { email: 'p2@example.com', timeZone: 'Asia/Tokyo' },
] as const

type Event =
  | { kind: 'cart'; person: number; device: number; cart: number; empty: boolean }
  | { kind: 'identify'; person: number; device: number; consent: boolean | null }
  | { kind: 'order'; person: number; by: 'email' | 'device' | 'cart'; device: number; cart: number }
  | { kind: 'unsubscribe'; person: number; viaLink: boolean }
  | { kind: 'advance'; minutes: number }
  | { kind: 'tick' }

const person = fc.integer({ min: 0, max: PEOPLE.length - 1 })
const device = fc.integer({ min: 0, max: 1 })
const cart = fc.integer({ min: 0, max: 1 })
const action: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('cart' as const), person, device, cart, empty: fc.integer({ min: 0, max: 9 }).map((n) => n === 0) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('identify' as const), person, device, consent: fc.constantFrom(true, true, true, false, null, null) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('order' as const), person, by: fc.constantFrom('email' as const, 'device' as const, 'cart' as const), device, cart }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), person, viaLink: fc.boolean() }) },
)

/** A round: a few things happen on the shop, time passes (a clock jump), the worker ticks. */
const round = fc.record({
  actions: fc.array(action, { maxLength: 3 }),
  minutes: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 240 }) }, { weight: 1, arbitrary: fc.integer({ min: 240, max: 3 * 24 * 60 }) }),
  ticks: fc.integer({ min: 1, max: 2 }),
})
const rounds = fc.array(round, { minLength: 10, maxLength: 50 }).map((list) =>
  list.flatMap((r): Event[] => [...r.actions, { kind: 'advance', minutes: r.minutes }, ...Array.from({ length: r.ticks }, () => ({ kind: 'tick' as const }))]))

/** Everyone starts identified with consent on their first device, so that emails do go out. */
const opening: Event[] = PEOPLE.map((_, p) => ({ kind: 'identify', person: p, device: 0, consent: true }))

describe('properties under random interleavings of events on several devices', () => {
  let totalSent = 0
  it('never sends after an order, unsubscribe or empty cart, nor without consent, in quiet hours, over the cap, twice per step, or twice per tick', async () => {
    await fc.assert(
      fc.asyncProperty(rounds, fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2026-12-31T00:00:00Z'), noInvalidDate: true }), async (events, start) => {
        const { relance, clock, transport } = setup({ quietHours: { start: '21:00', end: '08:00' }, frequencyCap: { max: 1, per: { hours: 12 } } }, start)
        // The model: what the shop told relance, and when.
        const consent = new Map<number, boolean>()
        const identifiedDevices = new Set<string>()
        const objected = new Set<number>()
        const orderAt = new Map<number, number>()
        const cartActivity = new Map<string, number>()
        const cartEmpty = new Map<string, boolean>()
        const cartBought = new Map<string, number>()
        const sentPerPerson = new Map<number, number[]>()
        const sentKeys = new Set<string>()
        const violations: string[] = []
        let tickContacts = new Set<number>()
        const cartId = (p: number, c: number) => `cart-${p}-${c}`
        const deviceId = (p: number, d: number) => `device-${p}-${d}`

        relance.on('sent', (e) => {
          const now = clock.now().getTime()
          const p = Number(e.cartId.split('-')[1])
          const message = transport.messages.find((m) => m.meta.cartId === e.cartId && m.meta.step === e.step)
          if (message?.to !== PEOPLE[p]!.email) violations.push(`${e.cartId} went to ${message?.to}`)
          if (consent.get(p) !== true) violations.push(`no consent for ${p}`)
          if (objected.has(p)) violations.push(`${p} objected`)
          if (cartEmpty.get(e.cartId)) violations.push(`${e.cartId} is empty`)
          const activity = cartActivity.get(e.cartId)!
          if ((orderAt.get(p) ?? -Infinity) >= activity) violations.push(`${p} ordered after the cart's last activity`)
          if ((cartBought.get(e.cartId) ?? -Infinity) >= activity) violations.push(`${e.cartId} was bought`)
          const local = new TZDate(now, PEOPLE[p]!.timeZone ?? 'Europe/Paris')
          const minutes = local.getHours() * 60 + local.getMinutes()
          if (minutes >= 21 * 60 || minutes < 8 * 60) violations.push(`quiet hours for ${p} at ${local.toString()}`)
          const times = sentPerPerson.get(p) ?? []
          if (times.some((t) => now - t < 12 * 3600_000)) violations.push(`cap exceeded for ${p}`)
          sentPerPerson.set(p, [...times, now])
          const key = `${e.cartId}:${e.step}`
          if (sentKeys.has(key)) violations.push(`${key} sent twice`)
          sentKeys.add(key)
          if (tickContacts.has(p)) violations.push(`${p} got two emails in one tick`)
          tickContacts.add(p)
        })

        for (const ev of [...opening, ...events]) {
          const now = clock.now().getTime()
          switch (ev.kind) {
            case 'cart': {
              const id = cartId(ev.person, ev.cart)
              await relance.trackCart({ cartId: id, deviceId: deviceId(ev.person, ev.device), items: ev.empty ? [] : ITEMS, currency: 'EUR' })
              cartActivity.set(id, now)
              cartEmpty.set(id, ev.empty)
              break
            }
            case 'identify': {
              const p = PEOPLE[ev.person]!
              await relance.identify({
                deviceId: deviceId(ev.person, ev.device), email: p.email,
                ...(p.timeZone === undefined ? {} : { timeZone: p.timeZone }),
                ...(ev.consent === null ? {} : { consent: { marketing: ev.consent } }),
              })
              if (ev.consent !== null) consent.set(ev.person, ev.consent)
              identifiedDevices.add(deviceId(ev.person, ev.device))
              break
            }
            case 'order': {
              const keys = ev.by === 'email' ? { email: PEOPLE[ev.person]!.email }
                : ev.by === 'device' ? { deviceId: deviceId(ev.person, ev.device) }
                  : { cartId: cartId(ev.person, ev.cart) }
              const result = await relance.orderPlaced({ orderId: `o-${now}-${ev.person}`, ...keys, total: 1000, currency: 'EUR' })
              if (ev.by === 'cart') { if (cartActivity.has(cartId(ev.person, ev.cart))) cartBought.set(cartId(ev.person, ev.cart), now) }
              // An order by email, or from a device the person identified on, stops everything of theirs.
              // (From a device relance could only link through a shared cart, the model expects nothing.)
              else if (ev.by === 'email' || identifiedDevices.has(deviceId(ev.person, ev.device))) {
                expect(result.known).toBe(true)
                orderAt.set(ev.person, now)
              }
              break
            }
            case 'unsubscribe': {
              const last = [...transport.messages].reverse().find((m) => m.to === PEOPLE[ev.person]!.email)
              if (ev.viaLink && last !== undefined) {
                const link = /<([^>]+)>/.exec(last.headers['List-Unsubscribe']!)![1]!
                const response = await relance.handle(new Request(link, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
                expect(response.status).toBe(200)
              } else {
                await relance.suppress(PEOPLE[ev.person]!.email, 'unsubscribe')
              }
              objected.add(ev.person)
              break
            }
            case 'advance':
              clock.advance({ minutes: ev.minutes })
              break
            case 'tick':
              tickContacts = new Set()
              await relance.tick()
              break
          }
        }
        expect(violations).toEqual([])
        totalSent += sentKeys.size
      }),
      { numRuns: 300 },
    )
    // The property only means something if emails did go out.
    expect(totalSent).toBeGreaterThan(300)
  })
})
