/** Experiments through the engine: validation, sticky assignment, variants, holdout, attribution. */
import { describe, expect, it } from 'vitest'
import { createRelance, memoryStore, memoryTransport, type RelanceOptions } from '../../src/index.js'
import { hashVariant } from '../../src/experiments.js'
import { FakeClock, ITEMS, SECRET, SHOP, consentingShopper, linksIn, setup, tokenOf } from '../helpers/engine.js'

const AB = { id: 'subject-test', variants: [{ id: 'A', weight: 1, subject: 'Variant A for {{customer.firstName}}' }, { id: 'B', weight: 1, subject: 'Variant B for {{customer.firstName}}' }] }

async function abandon(relance: ReturnType<typeof createRelance>, n: number) {
  await consentingShopper(relance, n, { firstName: `P${n}` })
  await relance.trackCart({ cartId: `cart-${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
}

describe('experiment options', () => {
  it.each<[string, unknown, string]>([
    ['a zero weight', [{ id: 'x', variants: [{ id: 'A', weight: 0 }, { id: 'B', weight: 1 }] }], 'experiments[0].variants[0].weight'],
    ['duplicate variant ids', [{ id: 'x', variants: [{ id: 'A', weight: 1 }, { id: 'A', weight: 1 }] }], 'experiments[0].variants[1].id'],
    ['duplicate experiment ids', [{ ...AB }, { ...AB, step: 'reminder' }], 'experiments[1].id'],
    ['a step that does not exist', [{ ...AB, step: 'nope' }], 'experiments[0].step'],
    ['two holdouts', [{ id: 'x', variants: [{ id: 'A', weight: 1, holdout: true }, { id: 'B', weight: 1, holdout: true }] }], 'experiments[0].variants'],
    ['a single variant', [{ id: 'x', variants: [{ id: 'A', weight: 1 }] }], 'experiments[0].variants'],
    ['a delay on a whole-sequence experiment', [{ id: 'x', variants: [{ id: 'A', weight: 1, after: { hours: 2 } }, { id: 'B', weight: 1 }] }], 'experiments[0].variants[0].after'],
  ])('rejects %s', (_label, experiments, field) => {
    expect(() => setup({ experiments: experiments as RelanceOptions['experiments'] })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG', message: expect.stringContaining(field) }))
  })
})

describe('assignment', () => {
  it('is a reproducible hash of experiment and person, sticky over every step and device', async () => {
    const { relance, clock, transport, store } = setup({ experiments: [AB] })
    for (let n = 0; n < 20; n++) await abandon(relance, n)
    clock.advance({ hours: 1 })
    await relance.tick()
    // The same person, on a second device, keeps their variant on the next step.
    await relance.identify({ deviceId: 'laptop-3', email: 'shopper3@example.com' })
    await relance.trackCart({ cartId: 'cart-3', deviceId: 'laptop-3', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 24 })
    await relance.tick()
    const byPerson = new Map<string, Set<string>>()
    for (const message of transport.messages) {
      const set = byPerson.get(message.to) ?? new Set()
      set.add(message.meta.variant!)
      byPerson.set(message.to, set)
      expect(message.subject).toBe(`Variant ${message.meta.variant} for P${message.to.match(/\d+/)![0]}`)
    }
    expect([...byPerson.values()].every((variants) => variants.size === 1)).toBe(true)
    expect(transport.messages.filter((m) => m.to === 'shopper3@example.com').map((m) => m.meta.step)).toEqual(['reminder', 'reassurance'])
    // Reproducible: the hash alone gives each person's variant; both variants are used.
    const resolved = { ...AB, step: null, variants: AB.variants.map((v) => ({ ...v, holdout: false, template: null, after: null, incentive: undefined })) }
    for (const message of transport.messages) {
      expect(message.meta.variant).toBe(hashVariant(resolved as never, message.meta.profileId).id)
      expect((await store.getAssignment('subject-test', message.meta.profileId))?.variant).toBe(message.meta.variant)
    }
    expect(new Set(transport.messages.map((m) => m.meta.variant))).toEqual(new Set(['A', 'B']))
  })

  it('is recorded when the person first reaches the experiment: new weights never reshuffle people already assigned', async () => {
    const store = memoryStore()
    const clock = new FakeClock('2026-06-10T08:00:00Z')
    const options = (weights: [number, number]): RelanceOptions => ({
      secret: SECRET, shop: SHOP, store, clock, quietHours: false, transport: memoryTransport(),
      experiments: [{ id: 'w', variants: [{ id: 'A', weight: weights[0] }, { id: 'B', weight: weights[1] }] }],
    })
    const first = createRelance(options([1, 1]))
    for (let n = 0; n < 30; n++) await abandon(first, n)
    clock.advance({ hours: 1 })
    await first.tick()
    const sentFirst = (await Promise.all(Array.from({ length: 30 }, (_, n) => store.listCartSends(`cart-${n}`)))).map((sends) => sends[0]!.variant)
    expect(new Set(sentFirst)).toEqual(new Set(['A', 'B']))

    // The shop moves almost everyone to B; people already in A stay in A for the next step.
    const second = createRelance(options([0.0001, 1000]))
    clock.advance({ hours: 24 })
    await second.tick()
    const sentSecond = (await Promise.all(Array.from({ length: 30 }, (_, n) => store.listCartSends(`cart-${n}`)))).map((sends) => sends[1]!.variant)
    expect(sentSecond).toEqual(sentFirst)
    // A newcomer is assigned with the new weights.
    await abandon(second, 99)
    clock.advance({ hours: 1 })
    await second.tick()
    expect((await store.listCartSends('cart-99'))[0]!.variant).toBe('B')
  })
})

describe('variants', () => {
  it('change the template, the delay and the incentive of one step', async () => {
    const { relance, clock, transport } = setup({
      experiments: [{
        id: 'step-test', step: 'reminder', variants: [
          { id: 'fast', weight: 1, after: { minutes: 30 }, template: 'last-chance', incentive: { kind: 'percent', value: 10 } },
          { id: 'slow', weight: 1 },
        ],
      }],
    })
    for (let n = 0; n < 16; n++) await abandon(relance, n)
    clock.advance({ minutes: 30 })
    await relance.tick()
    const fast = [...transport.messages]
    expect(fast.length).toBeGreaterThan(0)
    expect(fast.every((m) => m.meta.variant === 'fast' && m.meta.step === 'reminder')).toBe(true)
    expect(fast.every((m) => /Dernière chance : 10\s?% sur votre panier/.test(m.subject))).toBe(true)
    clock.advance({ minutes: 30 })
    await relance.tick()
    const slow = transport.messages.slice(fast.length)
    expect(slow.length).toBe(16 - fast.length)
    expect(slow.every((m) => m.meta.variant === 'slow' && m.subject.includes('votre panier vous attend'))).toBe(true)
  })
})

describe('holdout', () => {
  it('sends nothing but records a "would have sent" at the moment the email would have gone', async () => {
    const { relance, clock, transport, store } = setup({
      experiments: [{ id: 'h', variants: [{ id: 'holdout', weight: 1, holdout: true }, { id: 'email', weight: 1 }] }],
    })
    for (let n = 0; n < 20; n++) await abandon(relance, n)
    const due = clock.advance({ hours: 1 })
    const counts = await relance.tick()
    const sends = (await Promise.all(Array.from({ length: 20 }, (_, n) => store.listCartSends(`cart-${n}`)))).map((s) => s[0]!)
    const held = sends.filter((s) => s.variant === 'holdout')
    expect(held.length).toBeGreaterThan(0)
    expect(held.every((s) => s.outcome === 'held-out' && s.sentAt?.getTime() === due.getTime())).toBe(true)
    expect(counts.heldOut).toBe(held.length)
    expect(transport.messages).toHaveLength(20 - held.length)
    expect(transport.messages.every((m) => m.meta.variant === 'email')).toBe(true)
    // Nothing later either: the holdout is held out of the whole sequence.
    clock.advance({ days: 4 })
    await relance.tick()
    expect(transport.messages.every((m) => m.meta.variant === 'email')).toBe(true)
  })
})

describe('attribution', () => {
  it('credits orders in the window to the variant and step, clicked or not, with the real total; outside the window, nothing', async () => {
    const { relance, clock, transport, store } = setup({
      experiments: [{ id: 'h', variants: [{ id: 'holdout', weight: 1, holdout: true }, { id: 'email', weight: 1 }] }],
    })
    // Profile ids are random, so the split is too: with 40 people, fewer than 3 on a side has a
    // chance below one in a billion.
    for (let n = 0; n < 40; n++) await abandon(relance, n)
    clock.advance({ hours: 1 })
    await relance.tick()
    const variantOf = async (n: number) => (await store.listCartSends(`cart-${n}`))[0]!.variant
    const emailed: number[] = []
    const held: number[] = []
    for (let n = 0; n < 40; n++) ((await variantOf(n)) === 'email' ? emailed : held).push(n)
    expect(emailed.length).toBeGreaterThanOrEqual(3)
    expect(held.length).toBeGreaterThanOrEqual(2)

    // An emailed person clicks, then orders; another orders without clicking; a held-out person orders anyway.
    const [clicker, quiet, late] = emailed
    const message = transport.messages.find((m) => m.to === `shopper${clicker}@example.com`)!
    await relance.restore(tokenOf(linksIn(message.html).find((l) => l.includes('restaurer'))!), { deviceId: 'tablet' })
    clock.advance({ hours: 2 })
    await relance.orderPlaced({ orderId: 'o1', cartId: `cart-${clicker}`, total: 12345, currency: 'EUR' })
    await relance.orderPlaced({ orderId: 'o2', email: `shopper${quiet}@example.com`, total: 5000, currency: 'EUR' })
    await relance.orderPlaced({ orderId: 'o3', deviceId: `device-${held[0]}`, total: 7000, currency: 'EUR' })
    // Eight days after the email: outside the 7-day window.
    clock.advance({ days: 8 })
    await relance.orderPlaced({ orderId: 'o4', email: `shopper${late}@example.com`, total: 999, currency: 'EUR' })

    const report = await relance.report()
    const reminder = report.steps.find((s) => s.id === 'reminder')!
    expect(reminder).toMatchObject({ recovered: 2, recoveredAfterClick: 1, recoveredWithoutClick: 1, revenue: 17345, clicked: 1 })
    const [experiment] = report.experiments
    const variant = (id: string) => experiment!.variants.find((v) => v.id === id)!
    expect(variant('email')).toMatchObject({ recovered: 2, converted: 2, revenue: 17345, assigned: emailed.length, sent: emailed.length, clicked: 1 })
    expect(variant('holdout')).toMatchObject({ recovered: 1, converted: 1, revenue: 7000, assigned: held.length, heldOut: held.length, sent: 0 })
    expect(experiment!.control).toBe('holdout')
    expect(experiment!.winner).toBeNull()
    expect(experiment!.verdict).toMatch(/^too few people/)
  })
})
