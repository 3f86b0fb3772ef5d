import { describe, expect, it } from 'vitest'
import { createRelance, memoryStore, memoryTransport } from '../src/index.js'
import { deriveKeys, orderedId, randomId, signToken } from '../src/tokens.js'
import { ITEMS, SECRET, SHOP, FakeClock, consentingShopper, linksIn, setup, tokenOf } from './helpers/engine.js'

async function oneEmail() {
  const ctx = setup({ frequencyCap: false })
  await consentingShopper(ctx.relance, 1, { firstName: 'Camille', customerId: 'cust-1' })
  await ctx.relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
  ctx.clock.advance({ hours: 1 })
  await ctx.relance.tick()
  const links = linksIn(ctx.transport.messages[0]!.html)
  return {
    ...ctx,
    restoreToken: tokenOf(links.find((l) => l.includes('restaurer'))!),
    unsubscribeToken: tokenOf(links.find((l) => l.includes('unsubscribe'))!),
  }
}

describe('restore links', () => {
  it('are opaque: ≥ 128 bits, no personal data or ids in the URL', async () => {
    const { restoreToken, transport } = await oneEmail()
    const link = linksIn(transport.messages[0]!.html).find((l) => l.includes('restaurer'))!
    // The token is 50 random base64url characters, so it may contain a 2-letter id like "c1" by
    // chance (about 1 % of runs): the rest of the URL must not, and the token must not hold the
    // longer identifiers.
    const rest = link.replace(restoreToken, '')
    for (const secret of ['shopper1', 'example.com', 'Camille', 'cust-1', 'c1', 'device-1']) expect(rest).not.toContain(secret)
    for (const secret of ['shopper1', 'example.com', 'Camille', 'cust-1', 'device-1']) expect(restoreToken).not.toContain(secret)
    expect(Buffer.from(restoreToken, 'base64url').length).toBeGreaterThanOrEqual(16 + 16)
    expect(restoreToken).toMatch(/^[A-Za-z0-9_-]{50}$/)
  })

  it('refuse tampered tokens, tokens of another secret, other kinds and garbage', async () => {
    const { relance, restoreToken, unsubscribeToken } = await oneEmail()
    const flipped = restoreToken.slice(0, 10) + (restoreToken[10] === 'A' ? 'B' : 'A') + restoreToken.slice(11)
    const foreign = signToken(deriveKeys('another-secret-that-is-long-enough-xyz'), 'restore', randomId(), null)
    for (const token of [flipped, foreign, unsubscribeToken, '', 'x'.repeat(50), `${restoreToken}=`, 42 as unknown as string]) {
      await expect(relance.restore(token)).rejects.toMatchObject({ name: 'RelanceError', code: 'TOKEN_INVALID' })
    }
  })

  it('expire after restoreLinkTtl (TOKEN_EXPIRED), default 30 days', async () => {
    const { relance, clock, restoreToken } = await oneEmail()
    clock.advance({ days: 29 })
    await expect(relance.restore(restoreToken)).resolves.toMatchObject({ cartId: 'c1' })
    clock.advance({ days: 1, seconds: 1 })
    await expect(relance.restore(restoreToken)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' })
  })

  it('return the current content, link the device, record the click, and do not end the sequence', async () => {
    const { relance, clock, transport, store, restoreToken } = await oneEmail()
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS.slice(1), currency: 'EUR' })
    const prefetch = await relance.restore(restoreToken) // a mail scanner following the link
    expect(prefetch.items).toEqual(ITEMS.slice(1))
    const result = await relance.restore(restoreToken, { deviceId: 'tablet' })
    expect(result.step).toBe('reminder')
    expect((await store.findProfile({ deviceId: 'tablet' }))?.id).toBe(result.profile.id)
    clock.advance({ hours: 24 })
    await relance.tick()
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder', 'reassurance'])
    expect((await relance.report()).steps[0]).toMatchObject({ id: 'reminder', sent: 1, clicked: 1 })
  })

  it('an anonymous tablet that restores the link joins the person; an identified one does not', async () => {
    const { relance, store, restoreToken } = await oneEmail()
    await relance.trackCart({ cartId: 'tab-cart', deviceId: 'tablet', items: ITEMS, currency: 'EUR' })
    const { profile } = await relance.restore(restoreToken, { deviceId: 'tablet' })
    expect((await store.getCart('tab-cart'))?.profileId).toBe(profile.id)
    await relance.identify({ deviceId: 'family-pc', email: 'someone-else@example.com' })
    const other = await store.findProfile({ deviceId: 'family-pc' })
    await relance.restore(restoreToken, { deviceId: 'family-pc' })
    expect(await store.getProfile(other!.id)).not.toBeNull() // not merged
    expect((await store.findProfile({ deviceId: 'family-pc' }))?.id).toBe(profile.id) // the device follows the click
  })

  it('handle() serves the restore URL through onRestore, with the device from the request', async () => {
    const clock = new FakeClock('2026-06-10T08:00:00Z')
    const transport = memoryTransport()
    const relance = createRelance({
      secret: SECRET, shop: SHOP, clock, transport, store: memoryStore(), quietHours: false,
      deviceIdFrom: (request) => /device=([\w-]+)/.exec(request.headers.get('cookie') ?? '')?.[1],
      onRestore: (result) => Response.redirect(`https://shop.example/panier?restored=${result.cartId}`, 303),
    })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    const link = linksIn(transport.messages[0]!.html).find((l) => l.includes('restaurer'))!
    const response = await relance.handle(new Request(link, { headers: { cookie: 'device=tablet-9' } }))
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('https://shop.example/panier?restored=c1')
    const bad = await relance.handle(new Request('https://shop.example/panier/restaurer?token=forged'))
    expect(bad.status).toBe(404)
    clock.advance({ days: 31 })
    expect((await relance.handle(new Request(link))).status).toBe(410)
    expect((await relance.handle(new Request('https://shop.example/elsewhere'))).status).toBe(404)
  })
})

describe('unsubscribe', () => {
  it('GET shows a localised page (and escapes the shop name); a bad token gets a 400 page', async () => {
    const { relance, unsubscribeToken } = await oneEmail()
    const url = `https://shop.example/relance/unsubscribe?token=${unsubscribeToken}`
    const page = await relance.handle(new Request(url))
    expect(page.headers.get('referrer-policy')).toBe('no-referrer')
    expect(page.headers.get('cache-control')).toBe('no-store')
    const html = await page.text()
    expect(html).toContain('Maison Dupont')
    expect(html).toContain('method="post"')
    const bad = await relance.handle(new Request('https://shop.example/relance/unsubscribe?token=nope'))
    expect(bad.status).toBe(400)
    expect(await bad.text()).toContain("n'est pas valide")
  })

  it('the page form unsubscribes and answers with a page; a POST without the RFC 8058 body changes nothing', async () => {
    const { relance, store, unsubscribeToken } = await oneEmail()
    const url = `https://shop.example/relance/unsubscribe?token=${unsubscribeToken}`
    const wrong = await relance.handle(new Request(url, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } }))
    expect(wrong.status).toBe(400)
    expect((await store.findProfile({ email: 'shopper1@example.com' }))?.marketing.state).toBe('granted')
    const form = new FormData()
    form.set('List-Unsubscribe', 'One-Click')
    form.set('confirm', 'page')
    const done = await relance.handle(new Request(url, { method: 'POST', body: form }))
    expect(done.status).toBe(200)
    expect(await done.text()).toContain('vous ne recevrez plus')
    const profile = await store.findProfile({ email: 'shopper1@example.com' })
    expect(profile?.marketing).toMatchObject({ state: 'refused', source: 'unsubscribe' })
  })

  it('works in English for an English-speaking person, and with the token in the path', async () => {
    const clock = new FakeClock('2026-06-10T08:00:00Z')
    const transport = memoryTransport()
    const relance = createRelance({
      secret: SECRET, clock, transport, quietHours: false,
      shop: { ...SHOP, unsubscribeUrl: 'https://shop.example/u/{token}/stop' },
    })
    await consentingShopper(relance, 1, { locale: 'en-GB' })
    await relance.trackCart({ cartId: 'c1', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    const link = /<([^>]+)>/.exec(transport.messages[0]!.headers['List-Unsubscribe']!)![1]!
    expect(link).toMatch(/^https:\/\/shop\.example\/u\/[\w-]{50}\/stop$/)
    expect(await (await relance.handle(new Request(link))).text()).toContain('Stop receiving cart reminders from Maison Dupont?')
    const post = await relance.handle(new Request(link, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
    expect(post.status).toBe(200)
    expect(await relance.unsubscribe(tokenOf(`https://x.example/?token=${link.split('/')[4]}`))).toEqual({ found: true })
  })
})

describe('identity', () => {
  it('the same email on two devices is one person; an account claiming an email takes it', async () => {
    const { relance, store } = setup()
    const a = await relance.identify({ deviceId: 'phone', email: 'camille@example.com' })
    const b = await relance.identify({ deviceId: 'laptop', email: 'CAMILLE@example.com' })
    expect(b.profileId).toBe(a.profileId)
    await relance.identify({ customerId: 'acc-1', email: 'camille@example.com' })
    expect((await store.findProfile({ customerId: 'acc-1' }))?.id).toBe(a.profileId)
    // Another account now claims the address: it moves, the first account keeps its history.
    const c = await relance.identify({ customerId: 'acc-2', email: 'camille@example.com' })
    expect(c.profileId).not.toBe(a.profileId)
    expect((await store.getProfile(a.profileId))?.email).toBeNull()
    expect((await store.findProfile({ email: 'camille@example.com' }))?.id).toBe(c.profileId)
  })

  it('an anonymous device merges into the person on login, bringing its cart; two accounts never merge', async () => {
    const { relance, store } = setup()
    const anon = await relance.trackCart({ cartId: 'anon-cart', deviceId: 'desktop', items: ITEMS, currency: 'EUR' })
    const person = await relance.identify({ deviceId: 'phone', customerId: 'acc-1', email: 'camille@example.com', firstName: 'Camille', timeZone: 'Europe/Paris' })
    await relance.identify({ deviceId: 'desktop', customerId: 'acc-1' })
    expect(await store.getProfile(anon.profileId)).toBeNull()
    expect((await store.getCart('anon-cart'))?.profileId).toBe(person.profileId)
    // acc-2 logs in on the same desktop: the device moves, nothing merges.
    const other = await relance.identify({ deviceId: 'desktop', customerId: 'acc-2' })
    expect(other.profileId).not.toBe(person.profileId)
    expect((await store.getProfile(person.profileId))?.firstName).toBe('Camille')
    expect((await store.findProfile({ deviceId: 'desktop' }))?.id).toBe(other.profileId)
  })

  it('concurrent calls about the same new person create one profile', async () => {
    const { relance } = setup()
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? relance.trackCart({ cartId: `c${i}`, deviceId: 'same-device', email: 'same@example.com', items: ITEMS, currency: 'EUR' })
        : relance.identify({ deviceId: 'same-device', email: 'same@example.com' })))
    expect(new Set(results.map((r) => r.profileId)).size).toBe(1)
  })
})

describe('profile ids', () => {
  it('sort by creation (also within one millisecond and when the clock steps back), never repeat, and end in 128 random bits', () => {
    const at = new Date('2026-06-10T08:00:00Z')
    const times = [0, 0, 0, 5, 5, 1000, 999, 2000, 2000, 3_600_000].map((ms) => new Date(at.getTime() + ms))
    const ids = times.map((t) => orderedId(t))
    expect([...ids].sort()).toEqual(ids)
    expect(new Set(ids).size).toBe(ids.length)
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{18}[A-Za-z0-9_-]{22}$/)
    // The random tails are independent: no two share even a prefix of 8 characters here.
    expect(new Set(ids.map((id) => id.slice(18, 26))).size).toBe(ids.length)
  })

  it('carry the time and the counter in hex, and 16 random bytes in canonical base64url', () => {
    // Later than any time this file's other tests used: ids never go back in time.
    const at = new Date('2030-01-01T00:00:00Z')
    const ids = Array.from({ length: 2000 }, (_, i) => orderedId(new Date(at.getTime() + Math.floor(i / 3))))
    for (const [i, id] of ids.entries()) {
      expect(id.slice(0, 12)).toBe((at.getTime() + Math.floor(i / 3)).toString(16).padStart(12, '0'))
      expect(id.slice(12, 18)).toBe((i % 3).toString(16).padStart(6, '0'))
      const bytes = Buffer.from(id.slice(18), 'base64url')
      expect(bytes.length).toBe(16)
      expect(bytes.toString('base64url')).toBe(id.slice(18))
    }
    // Every 6-bit value shows up as the first character, and the last one (2 bits) takes its
    // four values: the bytes are spread over the whole alphabet.
    expect(new Set(ids.map((id) => id[18])).size).toBe(64)
    expect(new Set(ids.map((id) => id[39]))).toEqual(new Set(['A', 'Q', 'g', 'w']))
  })
})

