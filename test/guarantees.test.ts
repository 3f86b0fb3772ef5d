import { describe, expect, it } from 'vitest'
import { RelanceError } from '../src/index.js'
import { ITEMS, consentingShopper, linksIn, setup, tokenOf } from './helpers/engine.js'

const unsubscribeLinkOf = (html: string) => linksIn(html).find((l) => l.includes('/relance/unsubscribe'))!

describe('guarantee 1: never an email after an order, an empty cart, an unsubscribe or a suppression', () => {
  const stops: [string, (ctx: ReturnType<typeof setup>) => Promise<unknown>][] = [
    ['an order by cart id', ({ relance }) => relance.orderPlaced({ orderId: 'o1', cartId: 'c1', total: 100, currency: 'EUR' })],
    ['an order by customer id on another device', async ({ relance }) => {
      await relance.identify({ deviceId: 'desktop', customerId: 'cust-1', email: 'shopper1@example.com' })
      await relance.orderPlaced({ orderId: 'o1', customerId: 'cust-1', total: 100, currency: 'EUR' })
    }],
    ['an order by email only', ({ relance }) => relance.orderPlaced({ orderId: 'o1', email: 'SHOPPER1@example.com ', total: 100, currency: 'EUR' })],
    ['an order from another device of the person', async ({ relance }) => {
      await relance.identify({ deviceId: 'tablet', email: 'shopper1@example.com' })
      await relance.orderPlaced({ orderId: 'o1', deviceId: 'tablet', total: 100, currency: 'EUR' })
    }],
    ['an order of another cart of the person', async ({ relance, clock }) => {
      // A new cart elsewhere supersedes c1, then that cart is bought.
      await relance.trackCart({ cartId: 'c2', deviceId: 'device-1', items: ITEMS, currency: 'EUR', at: clock.now() })
      await relance.orderPlaced({ orderId: 'o1', cartId: 'c2', total: 100, currency: 'EUR' })
    }],
    ['the cart emptied', ({ relance }) => relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: [], currency: 'EUR' })],
    ['a suppression (bounce webhook)', ({ relance }) => relance.suppress('shopper1@example.com', 'bounce')],
    ['a complaint', ({ relance }) => relance.suppress('Shopper1@Example.com', 'complaint')],
    ['consent withdrawn', ({ relance }) => relance.identify({ email: 'shopper1@example.com', consent: { marketing: false } })],
  ]

  for (const [name, stop] of stops) {
    it(`stops on ${name}`, async () => {
      const ctx = setup({ frequencyCap: false })
      const { relance, clock, transport } = ctx
      await consentingShopper(relance, 1)
      await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
      clock.advance({ hours: 1 })
      await relance.tick()
      expect(transport.messages).toHaveLength(1)
      clock.advance({ minutes: 30 })
      await stop(ctx)
      for (let i = 0; i < 10; i++) {
        clock.advance({ hours: 12 })
        await relance.tick()
      }
      expect(transport.messages).toHaveLength(1)
    })
  }

  it('stops on one-click unsubscribe (RFC 8058 POST) and the GET page changes nothing', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    const link = unsubscribeLinkOf(transport.messages[0]!.html)
    expect(transport.messages[0]!.headers['List-Unsubscribe']).toBe(`<${link}>`)

    const page = await relance.handle(new Request(link))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toContain('text/html')
    const html = await page.text()
    expect(html).toContain('lang="fr"')
    expect(html).toContain('Me désinscrire')
    // The page (or a mail scanner following the link) did not unsubscribe anybody.
    clock.advance({ hours: 23 })
    await relance.tick()
    expect(transport.messages).toHaveLength(2)

    const post = await relance.handle(new Request(link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    }))
    expect(post.status).toBe(200)
    expect(await post.text()).toBe('')
    clock.advance({ hours: 48 })
    await relance.tick()
    expect(transport.messages).toHaveLength(2)
  })

  it('stops for a new cart too once the address is suppressed', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false })
    await consentingShopper(relance, 1)
    await relance.suppress('shopper1@example.com', 'bounce')
    await relance.trackCart({ cartId: 'c9', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ days: 4 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
  })

  it('a new cart after an order is a new abandonment, but the same bought cart reported again is not', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ minutes: 10 })
    await relance.orderPlaced({ orderId: 'o1', cartId: 'c1', total: 7970, currency: 'EUR' })
    clock.advance({ minutes: 1 })
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 2 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
    await relance.trackCart({ cartId: 'c2', deviceId: 'device-1', items: ITEMS.slice(1), currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages.map((m) => m.meta.cartId)).toEqual(['c2'])
  })
})

describe('guarantee 2: never an email without a lawful basis', () => {
  const cases: [string, 'explicit' | 'soft-opt-in', Record<string, unknown>, boolean][] = [
    ['unknown consent (explicit)', 'explicit', {}, false],
    ['granted consent (explicit)', 'explicit', { consent: { marketing: true } }, true],
    ['refused consent (explicit)', 'explicit', { consent: { marketing: false } }, false],
    ['a past buyer with unknown consent (explicit)', 'explicit', { hasPurchased: true }, false],
    ['a past buyer with unknown consent (soft opt-in)', 'soft-opt-in', { hasPurchased: true }, true],
    ['a past buyer who refused (soft opt-in)', 'soft-opt-in', { hasPurchased: true, consent: { marketing: false } }, false],
    ['a first-time visitor with unknown consent (soft opt-in)', 'soft-opt-in', {}, false],
  ]
  for (const [name, consentPolicy, identity, sends] of cases) {
    it(`${sends ? 'sends' : 'does not send'} to ${name}`, async () => {
      const { relance, clock, transport } = setup({ consentPolicy })
      await relance.identify({ deviceId: 'd', email: 'p@example.com', ...identity })
      await relance.trackCart({ cartId: 'c', deviceId: 'd', items: ITEMS, currency: 'EUR' })
      clock.advance({ hours: 1 })
      const result = await relance.tick()
      expect(transport.messages).toHaveLength(sends ? 1 : 0)
      expect(result.sent).toBe(sends ? 1 : 0)
    })
  }

  it('the latest consent decision wins even when calls arrive out of order', async () => {
    const { relance, clock, transport } = setup()
    await relance.identify({ deviceId: 'd', email: 'p@example.com', consent: { marketing: false, at: '2026-06-10T07:59:00Z' } })
    await relance.identify({ deviceId: 'd', consent: { marketing: true, at: '2026-06-10T07:00:00Z' } }) // older, arrives late
    await relance.trackCart({ cartId: 'c', deviceId: 'd', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
  })

  it('recovery resumes when consent arrives after the cart', async () => {
    const { relance, clock, transport } = setup()
    await relance.trackCart({ cartId: 'c', deviceId: 'd', email: 'p@example.com', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
    await relance.identify({ deviceId: 'd', consent: { marketing: true, source: 'account-settings' } })
    await relance.tick()
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder'])
  })
})

describe('guarantee 4: quiet hours in the recipient zone, and a frequency cap across carts', () => {
  it('defers a send due at 23:00 Paris to 08:00 Paris, it does not drop it', async () => {
    // 20:30 UTC = 22:30 Paris (CEST): the 1 h reminder falls at 23:30 local.
    const { relance, clock, transport } = setup({ quietHours: { start: '21:00', end: '08:00' } }, '2026-06-10T20:30:00Z')
    const deferred: Date[] = []
    relance.on('deferred', (e) => deferred.push(e.until))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
    expect(deferred.map((d) => d.toISOString())).toEqual(['2026-06-11T06:00:00.000Z'])
    clock.set('2026-06-11T05:59:00Z')
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
    clock.set('2026-06-11T06:00:00Z')
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
  })

  it('uses the shopper zone, not the shop zone', async () => {
    // 02:00 UTC: 04:00 in Paris (quiet) but 22:00 the day before in New York (quiet too);
    // 13:00 UTC: 15:00 Paris, 09:00 New York: both awake.
    const { relance, clock, transport } = setup({ quietHours: { start: '21:00', end: '08:00' } }, '2026-06-10T11:30:00Z')
    await consentingShopper(relance, 1, { timeZone: 'America/New_York' })
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    // 12:30 UTC = 08:30 New York: allowed although Paris would be fine too.
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
    // Step 2 at 11:30 UTC next day: 07:30 New York, still quiet there (09:30 in Paris is not).
    clock.set('2026-06-11T11:30:00Z')
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
    clock.set('2026-06-11T12:00:00Z')
    await relance.tick()
    expect(transport.messages).toHaveLength(2)
  })

  it('caps emails per person across carts, deferring the excess', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: { max: 1, per: { hours: 12 } } })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
    // A second cart two hours later: its first reminder would come 3 h after the first email.
    clock.advance({ hours: 1 })
    await relance.trackCart({ cartId: 'c2', deviceId: 'device-1', items: ITEMS.slice(1), currency: 'EUR' })
    clock.advance({ hours: 1 })
    const deferred = await relance.tick()
    expect(deferred.deferred).toBe(1)
    expect(transport.messages).toHaveLength(1)
    clock.set(new Date(Date.parse('2026-06-10T09:00:00Z') + 12 * 3600_000))
    await relance.tick()
    expect(transport.messages.map((m) => m.meta.cartId)).toEqual(['c1', 'c2'])
  })
})

describe('guarantee 6: customer data is escaped, cannot inject headers, and unsafe URLs never reach a link', () => {
  it('escapes HTML in product and first names and keeps only http(s) product links', async () => {
    const { relance, clock, transport } = setup()
    await relance.identify({ deviceId: 'd', email: 'p@example.com', firstName: '<script>alert(1)</script>Zoé', consent: { marketing: true } })
    await relance.trackCart({
      cartId: 'c', deviceId: 'd', currency: 'EUR', items: [
        { sku: 'x', name: '<img src=x onerror=alert(1)>', quantity: 1, unitAmount: 100, url: 'javascript:alert(document.cookie)', imageUrl: 'javascript:alert(2)' },
        { sku: 'y', name: 'Sac "cabas" & co', quantity: 1, unitAmount: 100, url: 'JaVaScRiPt:alert(3)' },
        { sku: 'z', name: 'Data', quantity: 1, unitAmount: 100, url: 'data:text/html,<b>x</b>' },
      ],
    })
    clock.advance({ hours: 1 })
    await relance.tick()
    const { html, text, subject } = transport.messages[0]!
    expect(html).not.toContain('<script>')
    expect(html).not.toContain('<img src=x')
    expect(html).toMatch(/&(?:lt|#60|#x3c);script/i)
    // Only library-built or validated https links, plus the shop's own contact (mailto/tel).
    for (const link of linksIn(html)) expect(link).toMatch(/^(https:\/\/|mailto:service@shop\.example$)/)
    expect(html.toLowerCase()).not.toContain('javascript:')
    expect(html).not.toContain('data:text/html')
    expect(text).toContain('<img src=x onerror=alert(1)>') // plain text is not HTML: literal is right
    expect(subject).not.toMatch(/[\r\n]/)
  })

  it('rejects CR/LF in names, ids and subjects, so no header can be added', async () => {
    const { relance } = setup()
    await expect(relance.identify({ deviceId: 'd', firstName: 'Eve\r\nBcc: all@example.com' })).rejects.toMatchObject({ code: 'INVALID_INPUT', field: 'firstName' })
    await expect(relance.trackCart({ cartId: 'c\nX-Evil: 1', deviceId: 'd', items: [], currency: 'EUR' })).rejects.toMatchObject({ code: 'INVALID_INPUT', field: 'cartId' })
    expect(() => setup({ sequence: [{ after: { hours: 1 }, template: 'reminder', subject: 'Hi\r\nBcc: x@example.com' }] })).toThrow(/sequence\[0\]\.subject/)
  })
})

describe('guarantee 7: forget erases the person, keeping only a keyed hash if they objected', () => {
  it('erases profile, carts, tokens and sends; the restore link dies', async () => {
    const { relance, clock, transport, store } = setup()
    await consentingShopper(relance, 1, { customerId: 'cust-1', firstName: 'Camille' })
    const { profileId } = await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    await relance.orderPlaced({ orderId: 'o1', customerId: 'cust-1', total: 10, currency: 'EUR' })
    const token = tokenOf(linksIn(transport.messages[0]!.html).find((l) => l.includes('restaurer'))!)
    expect(await relance.forget({ customerId: 'cust-1' })).toEqual({ erased: true, suppressionKept: false })
    expect(await store.getProfile(profileId)).toBeNull()
    expect(await store.findProfile({ email: 'shopper1@example.com' })).toBeNull()
    expect(await store.findProfile({ deviceId: 'device-1' })).toBeNull()
    expect(await store.getCart('c1')).toBeNull()
    expect(await store.listCartSends('c1')).toEqual([])
    await expect(relance.restore(token)).rejects.toMatchObject({ code: 'TOKEN_INVALID' })
    const report = await relance.report()
    expect(report.totals.sent).toBe(0)
  })

  it('keeps the objection: after forget, the same address is still never emailed', async () => {
    const { relance, clock, transport } = setup()
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    await relance.unsubscribe(tokenOf(unsubscribeLinkOf(transport.messages[0]!.html)))
    expect(await relance.forget({ email: 'shopper1@example.com' })).toEqual({ erased: true, suppressionKept: true })
    // She comes back later and (by mistake) a checkbox says yes: the objection still holds.
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c2', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 2 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
  })

  it('purge drops old carts and sends but keeps recent ones', async () => {
    const { relance, clock } = setup()
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'old', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    clock.advance({ days: 100 })
    await consentingShopper(relance, 2)
    await relance.trackCart({ cartId: 'new', deviceId: 'device-2', items: ITEMS, currency: 'EUR' })
    expect(await relance.purge({ olderThan: { days: 90 } })).toEqual({ carts: 1, sends: 1, orders: 0 })
  })
})

describe('guarantee 8: no open-tracking pixel', () => {
  it('sends no image but the cart’s own product images', async () => {
    const { relance, clock, transport } = setup()
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    const images = [...transport.messages[0]!.html.matchAll(/<img[^>]*src="([^"]+)"/g)].map((m) => m[1])
    for (const src of images) expect(['https://cdn.shop.example/tshirt.jpg']).toContain(src)
  })
})

describe('RelanceError basics', () => {
  it('is thrown for unknown tokens', async () => {
    const { relance } = setup()
    await expect(relance.restore('nope')).rejects.toBeInstanceOf(RelanceError)
  })
})
