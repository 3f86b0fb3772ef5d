import { describe, expect, it } from 'vitest'
import { linksIn, setup, ITEMS, tokenOf } from './helpers/engine.js'

describe('the cross-device story', () => {
  it('phone → desktop → tablet is one person; the reminders stop when she buys', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false })
    const events: string[] = []
    relance.on('sent', (e) => events.push(`sent:${e.step}`))
    relance.on('recovered', (e) => events.push(`recovered:${e.step}:${e.total}`))

    // 08:00 UTC: Camille adds to cart on her phone, anonymous.
    await relance.trackCart({ cartId: 'cart-phone', deviceId: 'phone', items: ITEMS.slice(0, 1), currency: 'EUR' })
    // She gives her email and consent at the newsletter box.
    clock.advance({ minutes: 5 })
    await relance.identify({ deviceId: 'phone', email: 'Camille@Example.com', firstName: 'Camille', consent: { marketing: true, source: 'newsletter-box' } })
    // 10:00: logs in on the desktop, the shop merges carts into a new one.
    clock.advance({ hours: 2 })
    await relance.identify({ deviceId: 'desktop', customerId: 'cust-42', email: 'camille@example.com' })
    const { profileId } = await relance.trackCart({ cartId: 'cart-desktop', deviceId: 'desktop', customerId: 'cust-42', items: ITEMS, currency: 'EUR' })

    // One hour later: the first reminder, for the desktop cart only.
    clock.advance({ minutes: 59 })
    expect((await relance.tick()).sent).toBe(0)
    clock.advance({ minutes: 1 })
    const first = await relance.tick()
    expect(first.sent).toBe(1)
    expect(transport.messages).toHaveLength(1)
    const reminder = transport.messages[0]!
    expect(reminder.to).toBe('camille@example.com')
    expect(reminder.meta).toEqual({ cartId: 'cart-desktop', profileId, step: 'reminder', variant: null })
    expect(reminder.headers['List-Unsubscribe']).toMatch(/^<https:\/\/shop\.example\/relance\/unsubscribe\?token=[\w-]+>$/)
    expect(reminder.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click')

    // 24 h after the last activity: the reassurance email.
    clock.advance({ hours: 23 })
    expect((await relance.tick()).sent).toBe(1)
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder', 'reassurance'])

    // She opens the second email on her tablet and restores the cart there.
    const restoreLink = linksIn(transport.messages[1]!.html).find((l) => l.includes('/panier/restaurer'))!
    const restored = await relance.restore(tokenOf(restoreLink), { deviceId: 'tablet' })
    expect(restored).toMatchObject({ cartId: 'cart-desktop', currency: 'EUR', step: 'reassurance', status: 'open', profile: { id: profileId, firstName: 'Camille' } })
    expect(restored.items).toEqual(ITEMS)

    // And buys from the tablet (the shop only knows the device there).
    clock.advance({ minutes: 10 })
    const order = await relance.orderPlaced({ orderId: 'order-1', deviceId: 'tablet', total: 8460, currency: 'EUR' })
    expect(order).toEqual({ known: true, attributedTo: { step: 'reassurance', variant: null, clicked: true } })

    // Nothing more, ever, for that cart.
    clock.advance({ days: 5 })
    expect((await relance.tick()).sent).toBe(0)
    expect(transport.messages).toHaveLength(2)
    expect(events).toEqual(['sent:reminder', 'sent:reassurance', 'recovered:reassurance:8460'])

    const report = await relance.report()
    expect(report.steps.find((s) => s.id === 'reassurance')).toMatchObject({ sent: 1, clicked: 1, recovered: 1, recoveredAfterClick: 1, revenue: 8460 })
    expect(report.steps.find((s) => s.id === 'reminder')).toMatchObject({ sent: 1, clicked: 0, recovered: 0 })
  })
})
