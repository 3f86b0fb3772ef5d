import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createRelance, memoryStore, type RelanceOptions } from '../src/index.js'
import { parseItems } from '../src/inputs.js'
import { ITEMS, SECRET, SHOP, consentingShopper, setup } from './helpers/engine.js'

const ok = { cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' }
const item = ITEMS[0]!

describe('bad input is rejected with INVALID_INPUT naming the field, and nothing stored changes', () => {
  const cases: [string, (r: ReturnType<typeof setup>['relance']) => Promise<unknown>, string][] = [
    ['negative quantity', (r) => r.trackCart({ ...ok, items: [{ ...item, quantity: -1 }] }), 'items[0].quantity'],
    ['zero quantity', (r) => r.trackCart({ ...ok, items: [{ ...item, quantity: 0 }] }), 'items[0].quantity'],
    ['fractional quantity', (r) => r.trackCart({ ...ok, items: [{ ...item, quantity: 1.5 }] }), 'items[0].quantity'],
    ['decimal amount (49.9 instead of 4990)', (r) => r.trackCart({ ...ok, items: [item, { ...item, unitAmount: 49.9 }] }), 'items[1].unitAmount'],
    ['negative amount', (r) => r.trackCart({ ...ok, items: [{ ...item, unitAmount: -100 }] }), 'items[0].unitAmount'],
    ['NaN amount', (r) => r.trackCart({ ...ok, items: [{ ...item, unitAmount: Number.NaN }] }), 'items[0].unitAmount'],
    ['amount as a string', (r) => r.trackCart({ ...ok, items: [{ ...item, unitAmount: '4990' as unknown as number }] }), 'items[0].unitAmount'],
    ['lower-case currency', (r) => r.trackCart({ ...ok, currency: 'eur' }), 'currency'],
    ['unknown currency', (r) => r.trackCart({ ...ok, currency: 'XYZ' }), 'currency'],
    ['bad email', (r) => r.trackCart({ ...ok, email: 'camille@' }), 'email'],
    ['two emails', (r) => r.identify({ deviceId: 'd', email: 'a@example.com, b@example.com' }), 'email'],
    ['bad time zone', (r) => r.identify({ deviceId: 'd', timeZone: 'Paris' }), 'timeZone'],
    ['bad locale', (r) => r.identify({ deviceId: 'd', locale: 'not a locale!' }), 'locale'],
    ['missing cart id', (r) => r.trackCart({ ...ok, cartId: undefined as unknown as string }), 'cartId'],
    ['empty cart id', (r) => r.trackCart({ ...ok, cartId: '  ' }), 'cartId'],
    ['missing device, customer and email', (r) => r.trackCart({ cartId: 'c1', items: ITEMS, currency: 'EUR' }), 'deviceId'],
    ['items not an array', (r) => r.trackCart({ ...ok, items: { 0: item } as unknown as typeof ITEMS }), 'items'],
    ['item without name', (r) => r.trackCart({ ...ok, items: [{ ...item, name: undefined as unknown as string }] }), 'items[0].name'],
    ['oversized cart', (r) => r.trackCart({ ...ok, items: Array.from({ length: 251 }, (_, i) => ({ ...item, sku: `s${i}` })) }), 'items'],
    ['a typo in a field name', (r) => r.trackCart({ ...ok, itmes: [] } as unknown as typeof ok), 'itmes'],
    ['consent.marketing not a boolean', (r) => r.identify({ deviceId: 'd', consent: { marketing: 'yes' as unknown as boolean } }), 'consent.marketing'],
    ['invalid date', (r) => r.trackCart({ ...ok, at: 'yesterday' }), 'at'],
    ['order without total', (r) => r.orderPlaced({ orderId: 'o', cartId: 'c1', currency: 'EUR' } as never), 'total'],
    ['order total in decimals', (r) => r.orderPlaced({ orderId: 'o', cartId: 'c1', total: 12.5, currency: 'EUR' }), 'total'],
    ['order without any key', (r) => r.orderPlaced({ orderId: 'o', total: 100, currency: 'EUR' }), 'cartId'],
    ['forget with both keys', (r) => r.forget({ email: 'a@example.com', customerId: 'x' } as never), 'email'],
    ['suppress with an unknown reason', (r) => r.suppress('a@example.com', 'annoyed' as never), 'reason'],
    ['purge without olderThan', (r) => r.purge({} as never), 'olderThan'],
    ['report since after until', (r) => r.report({ since: '2026-07-01T00:00:00Z', until: '2026-06-01T00:00:00Z' }), 'since'],
  ]

  it.each(cases)('%s', async (_name, call, field) => {
    const { relance, store } = setup()
    await consentingShopper(relance, 1, { firstName: 'Camille' })
    await relance.trackCart(ok)
    const snapshot = async () => ({
      profile: await store.findProfile({ deviceId: 'device-1' }),
      cart: await store.getCart('c1'),
      job: await store.getJob('c1'),
      sends: await store.listCartSends('c1'),
    })
    const before = await snapshot()
    const error = await call(relance).then(() => null, (e: unknown) => e)
    expect(error).toMatchObject({ name: 'RelanceError', code: 'INVALID_INPUT', field })
    expect((error as Error).message).toContain(field)
    expect(await snapshot()).toEqual(before)
  })
})

describe('options are validated eagerly with INVALID_CONFIG naming the option and the rule', () => {
  const base: RelanceOptions = { secret: SECRET, shop: SHOP }
  const cases: [string, Partial<RelanceOptions> | Record<string, unknown>, string][] = [
    ['a short secret', { secret: 'short' }, 'secret'],
    ['a shop without name', { shop: { ...SHOP, name: undefined } }, 'shop.name'],
    ['an http unsubscribe URL', { shop: { ...SHOP, unsubscribeUrl: 'http://shop.example/u?token={token}' } }, 'shop.unsubscribeUrl'],
    ['a restore URL without {token}', { shop: { ...SHOP, restoreUrl: 'https://shop.example/restore' } }, 'shop.restoreUrl'],
    ['a bad from', { shop: { ...SHOP, from: 'Maison Dupont' } }, 'shop.from'],
    ['a bad shop zone', { shop: { ...SHOP, timeZone: 'CET+1' } }, 'shop.timeZone'],
    ['an empty sequence', { sequence: [] }, 'sequence'],
    ['a step with an unknown template', { sequence: [{ after: { hours: 1 }, template: 'nope' }] }, 'sequence[0].template'],
    ['a step with a negative delay', { sequence: [{ after: { hours: -1 }, template: 'reminder' }] }, 'sequence[0].after.hours'],
    ['steps out of order', { sequence: [{ after: { hours: 24 }, template: 'reminder' }, { after: { hours: 1 }, template: 'reassurance' }] }, 'sequence[1].after'],
    ['duplicate step ids', { sequence: [{ after: { hours: 1 }, template: 'reminder' }, { after: { hours: 2 }, template: 'reminder' }] }, 'sequence[1].id'],
    ['a task step without onTask', { sequence: [{ after: { hours: 1 }, channel: 'task' }] }, 'onTask'],
    ['a percent incentive over 100', { sequence: [{ after: { hours: 1 }, template: 'reminder', incentive: { kind: 'percent', value: 150 } }] }, 'sequence[0].incentive.value'],
    ['equal quiet hours', { quietHours: { start: '08:00', end: '08:00' } }, 'quietHours'],
    ['quiet hours in 12-hour format', { quietHours: { start: '9pm', end: '08:00' } }, 'quietHours.start'],
    ['a zero frequency cap', { frequencyCap: { max: 0, per: { hours: 1 } } }, 'frequencyCap.max'],
    ['an unknown consent policy', { consentPolicy: 'opt-out' }, 'consentPolicy'],
    ['an experiment on an unknown step', { experiments: [{ id: 'e', step: 'nope', variants: [{ id: 'a', weight: 1 }, { id: 'b', weight: 1 }] }] }, 'experiments[0].step'],
    ['an experiment with one variant', { experiments: [{ id: 'e', variants: [{ id: 'a', weight: 1 }] }] }, 'experiments[0].variants'],
    ['a zero weight', { experiments: [{ id: 'e', variants: [{ id: 'a', weight: 0 }, { id: 'b', weight: 1 }] }] }, 'experiments[0].variants[0].weight'],
    ['duplicate variant ids', { experiments: [{ id: 'e', variants: [{ id: 'a', weight: 1 }, { id: 'a', weight: 1 }] }] }, 'experiments[0].variants[1].id'],
    ['two holdouts', { experiments: [{ id: 'e', variants: [{ id: 'a', weight: 1, holdout: true }, { id: 'b', weight: 1, holdout: true }] }] }, 'experiments[0].variants'],
    ['an unknown option', { quietHour: false }, 'quietHour'],
    ['a hook that is not a function', { beforeSend: 'yes' }, 'beforeSend'],
    ['a store that is not a store', { store: {} }, 'store'],
    ['a store written for an older contract', { store: (() => { const { claimBatch: _c, settleMany: _s, viewCarts: _v, ...old } = memoryStore(); return old })() }, 'store'],
  ]
  it.each(cases)('%s', (_name, override, field) => {
    let error: unknown
    try {
      createRelance({ ...base, ...override } as RelanceOptions)
    } catch (e) {
      error = e
    }
    expect(error).toMatchObject({ name: 'RelanceError', code: 'INVALID_CONFIG', field })
    expect((error as Error).message).toContain(field)
  })

  it('names the methods a store written for an older contract lacks', () => {
    const { claimBatch: _c, settleMany: _s, viewCarts: _v, ...old } = memoryStore()
    expect(() => createRelance({ ...base, store: old } as RelanceOptions)).toThrow(/lacks claimBatch, settleMany, viewCarts/)
  })

  it('never mutates the options it was given', () => {
    const options = { ...base, sequence: [{ after: { hours: 1 }, template: 'reminder' }] }
    const copy = structuredClone(options)
    createRelance(options)
    expect(options).toEqual(copy)
  })
})

describe('cart lines are tidied', () => {
  it('item names and variants lose surrounding and repeated whitespace, exactly as trim and collapse would', () => {
    const text = fc.array(fc.constantFrom('a', 'é', ' ', '  ', '\u00a0', '\u2003', '\u3000', '\ufeff', 'b c'), { minLength: 1, maxLength: 12 })
      .map((parts) => parts.join(''))
      .filter((s) => s.trim().length > 0)
    fc.assert(fc.property(text, text, (name, variant) => {
      const [line] = parseItems([{ sku: 'S', name, variant, quantity: 1, unitAmount: 100 }], 10)
      expect(line!.name).toBe(name.trim().replace(/\s+/g, ' '))
      expect(line!.variant).toBe(variant.trim().replace(/\s+/g, ' '))
    }), { numRuns: 2000 })
  })
})
