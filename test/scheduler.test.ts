import { describe, expect, it, vi } from 'vitest'
import { createRelance, memoryStore, memoryTransport, RelanceError } from '../src/index.js'
import type { Store } from '../src/stores/types.js'
import { ITEMS, SECRET, SHOP, FakeClock, consentingShopper, setup } from './helpers/engine.js'

describe('the sequence', () => {
  it('activity on any device postpones the pending step and never replays sent ones', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder'])
    // 20 h later she changes the cart on another device: the 24 h step moves to 24 h from now.
    clock.advance({ hours: 20 })
    await relance.identify({ deviceId: 'laptop', email: 'shopper1@example.com' })
    await relance.trackCart({ cartId: 'c', deviceId: 'laptop', items: ITEMS.slice(0, 1), currency: 'EUR' })
    clock.advance({ hours: 23 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder', 'reassurance'])
  })

  it('after downtime, sends only the most advanced overdue step, once', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false, staleAfter: { days: 30 } })
    const skipped: string[] = []
    relance.on('skipped', (e) => skipped.push(`${e.step}:${e.reason}`))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 80 }) // the worker was down for 80 hours
    const result = await relance.tick()
    expect(result).toMatchObject({ sent: 1, skipped: 2 })
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['last-chance'])
    expect(skipped).toEqual(['reminder:overdue', 'reassurance:overdue'])
    clock.advance({ days: 3 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
  })

  it('does not recover a cart inactive for longer than staleAfter', async () => {
    const { relance, clock, transport } = setup({ staleAfter: { days: 2 } })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ days: 3 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
  })

  it('recovers only the most recent cart of a person (older carts are superseded)', async () => {
    const { relance, clock, transport } = setup({ frequencyCap: false })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'old', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ minutes: 30 })
    await relance.identify({ deviceId: 'device-2', email: 'shopper1@example.com' })
    await relance.trackCart({ cartId: 'new', deviceId: 'device-2', items: ITEMS.slice(1), currency: 'EUR' })
    clock.advance({ days: 4 })
    for (let i = 0; i < 4; i++) { await relance.tick(); clock.advance({ hours: 12 }) }
    expect(new Set(transport.messages.map((m) => m.meta.cartId))).toEqual(new Set(['new']))
  })

  it('ignores a snapshot older than the one stored (out-of-order delivery)', async () => {
    const { relance, store } = setup()
    await relance.trackCart({ cartId: 'c', deviceId: 'd', items: ITEMS, currency: 'EUR', at: '2026-06-10T08:00:00Z' })
    await relance.trackCart({ cartId: 'c', deviceId: 'd', items: [], currency: 'EUR', at: '2026-06-10T07:00:00Z' })
    expect((await store.getCart('c'))?.items).toEqual(ITEMS)
  })

  it('applies step conditions: minimum value and new vs returning buyers', async () => {
    const { relance, clock, transport } = setup({
      frequencyCap: false,
      sequence: [
        { id: 'big-carts', after: { hours: 1 }, template: 'reminder', when: { minSubtotal: 10_000 } },
        { id: 'newcomers', after: { hours: 2 }, template: 'reassurance', when: { customer: 'new' } },
        { id: 'regulars', after: { hours: 3 }, template: 'last-chance', when: { customer: 'returning' } },
      ],
    })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' }) // 79.70 €
    for (let i = 0; i < 4; i++) { clock.advance({ hours: 1 }); await relance.tick() }
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['newcomers'])
  })
})

describe('incentives and hooks', () => {
  const lastChance = [{ after: { hours: 1 }, template: 'last-chance', incentive: { kind: 'percent' as const, value: 10, validFor: { days: 2 } } }]

  it('gives a unique single-use code, and none to a person who got one recently (abuse guard)', async () => {
    const { relance, clock, transport, store } = setup({ frequencyCap: false, sequence: lastChance, incentiveCooldown: { days: 30 } })
    for (const n of [1, 2]) {
      await consentingShopper(relance, n)
      await relance.trackCart({ cartId: `c${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    clock.advance({ hours: 1 })
    await relance.tick()
    const codeOf = async (cartId: string) => (await store.listCartSends(cartId))[0]?.incentive?.code ?? null
    const [code1, code2] = [await codeOf('c1'), await codeOf('c2')]
    expect(code1).toMatch(/^[2-9A-HJ-NP-Z]{10}$/)
    expect(code2).toMatch(/^[2-9A-HJ-NP-Z]{10}$/)
    expect(code1).not.toBe(code2)
    expect(transport.messages[0]!.html).toContain(code1)
    // Person 1 abandons again a week later: still within the cooldown, the email has no code.
    clock.advance({ days: 7 })
    await relance.trackCart({ cartId: 'c3', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(3)
    expect(await codeOf('c3')).toBeNull()
    // After the cooldown, a code again.
    clock.advance({ days: 30 })
    await relance.trackCart({ cartId: 'c4', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(await codeOf('c4')).toMatch(/^[2-9A-HJ-NP-Z]{10}$/)
  })

  it('lets the shop make the code (createCode) and keeps it on a retry', async () => {
    let calls = 0
    let failNext = true
    const transport = memoryTransport({ fail: () => (failNext ? ((failNext = false), Object.assign(new Error('try later'), { responseCode: 451 })) : undefined) })
    const { relance, clock, store } = setup({ transport, frequencyCap: false, sequence: lastChance, createCode: () => `SHOP-${++calls}`, retry: { backoff: { minutes: 1 } } })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages).toHaveLength(0)
    clock.advance({ minutes: 5 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
    expect(transport.messages[0]!.html).toContain('SHOP-1')
    expect((await store.listCartSends('c'))[0]?.incentive?.code).toBe('SHOP-1')
    expect(calls).toBe(1)
  })

  it('beforeSend can revalidate the cart (prices, stock) or veto the step', async () => {
    const seen: number[] = []
    const { relance, clock, transport, store } = setup({
      frequencyCap: false,
      beforeSend: (ctx) => {
        seen.push(ctx.subtotal)
        if (ctx.step === 'reassurance') return false
        return { items: ctx.items.map((i) => ({ ...i, unitAmount: i.unitAmount - 100 })) }
      },
    })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    for (const hours of [1, 23, 48]) { clock.advance({ hours }); await relance.tick() }
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder', 'last-chance'])
    expect(seen).toEqual([7970, 7670, 7670])
    expect((await store.getCart('c'))!.items[0]!.unitAmount).toBe(2790)
  })

  it('an order, a new snapshot or an objection arriving while the job is processed stops that email', async () => {
    // The hook runs after the job's checks and before the send is reserved: the latest moment
    // another request can change the cart before relance commits to sending.
    const racing = new Map<string, () => Promise<unknown>>()
    const { relance, clock, transport } = setup({ frequencyCap: false, beforeSend: async (ctx) => { await racing.get(ctx.cartId)?.() } })
    for (const n of [1, 2, 3]) {
      await consentingShopper(relance, n)
      await relance.trackCart({ cartId: `cart-${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    racing.set('cart-1', () => relance.orderPlaced({ orderId: 'o-1', email: 'shopper1@example.com', total: 7970, currency: 'EUR' }))
    racing.set('cart-2', () => relance.trackCart({ cartId: 'cart-2', deviceId: 'device-2', items: ITEMS.slice(1), currency: 'EUR' }))
    racing.set('cart-3', () => relance.suppress('shopper3@example.com', 'complaint'))
    clock.advance({ hours: 1 })
    const first = await relance.tick()
    expect(first.sent).toBe(0)
    expect(transport.messages).toHaveLength(0)
    racing.clear()
    // The new snapshot restarted cart-2's timer; the bought cart-1 never gets an email.
    clock.advance({ hours: 1 })
    await relance.tick()
    expect(transport.messages.map((m) => [m.meta.cartId, m.meta.step])).toEqual([['cart-2', 'reminder']])
    for (const hours of [23, 48]) { clock.advance({ hours }); await relance.tick() }
    expect(transport.messages.filter((m) => m.meta.cartId !== 'cart-2')).toEqual([])
  })

  it('a task step calls onTask for carts above a value instead of emailing', async () => {
    const tasks: { cartId: string; subtotal: number; restoreUrl: string }[] = []
    const { relance, clock, transport } = setup({
      frequencyCap: false,
      sequence: [
        { after: { hours: 1 }, template: 'reminder' },
        { id: 'call', after: { hours: 48 }, channel: 'task', when: { minSubtotal: 5000 } },
      ],
      onTask: (t) => { tasks.push({ cartId: t.cartId, subtotal: t.subtotal, restoreUrl: t.restoreUrl }) },
    })
    await consentingShopper(relance, 1, { customerId: 'vip' })
    await relance.trackCart({ cartId: 'big', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    await consentingShopper(relance, 2)
    await relance.trackCart({ cartId: 'small', deviceId: 'device-2', items: ITEMS.slice(1), currency: 'EUR' })
    for (const hours of [1, 47]) { clock.advance({ hours }); await relance.tick() }
    expect(transport.messages).toHaveLength(2)
    expect(tasks).toHaveLength(1)
    expect(tasks[0]).toMatchObject({ cartId: 'big', subtotal: 7970 })
    expect(tasks[0]!.restoreUrl).toMatch(/^https:\/\/shop\.example\/panier\/restaurer\?token=/)
  })

  it('a throwing hook becomes an error event and a retry, never a crash', async () => {
    let throwing = true
    const { relance, clock, transport } = setup({ beforeSend: () => { if (throwing) throw new Error('stock service down') } })
    const errors: string[] = []
    relance.on('error', (e) => errors.push(`${e.during}:${e.error.code}`))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    expect(await relance.tick()).toMatchObject({ sent: 0, deferred: 1 })
    expect(errors).toEqual(['hook:beforeSend:HOOK_ERROR'])
    throwing = false
    clock.advance({ minutes: 5 })
    await relance.tick()
    expect(transport.messages).toHaveLength(1)
  })
})

describe('delivery failures', () => {
  it('a permanent refusal (5xx) suppresses the address and never retries', async () => {
    const transport = memoryTransport({ fail: () => Object.assign(new Error('550 mailbox unavailable'), { responseCode: 550 }) })
    const { relance, clock } = setup({ transport })
    const failed: boolean[] = []
    relance.on('failed', (e) => failed.push(e.willRetry))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    expect(await relance.tick()).toMatchObject({ failed: 1, sent: 0 })
    expect(failed).toEqual([false])
    for (let i = 0; i < 5; i++) { clock.advance({ hours: 24 }); await relance.tick() }
    expect(failed).toEqual([false])
    const report = await relance.report()
    expect(report.totals).toMatchObject({ sent: 0, failed: 1, hardBounces: 1 })
  })

  it('transient failures retry with backoff and are never recorded as sent; the limit marks failed', async () => {
    const transport = memoryTransport({ fail: () => Object.assign(new Error('451 try again'), { responseCode: 451 }) })
    const { relance, clock } = setup({ transport, retry: { attempts: 3, backoff: { minutes: 1 } } })
    const retries: boolean[] = []
    relance.on('failed', (e) => retries.push(e.willRetry))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    for (let i = 0; i < 6; i++) { await relance.tick(); clock.advance({ minutes: 10 }) }
    expect(retries).toEqual([true, true, false])
    const report = await relance.report()
    expect(report.steps.find((s) => s.id === 'reminder')).toMatchObject({ sent: 0, failed: 1 })
  })

  it('an unreachable server only delays: the email goes out once it is back', async () => {
    let down = true
    const transport = memoryTransport({ fail: () => (down ? Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) : undefined) })
    const { relance, clock } = setup({ transport, retry: { attempts: 2, backoff: { minutes: 1 }, maxBackoff: { minutes: 10 } } })
    for (const n of [1, 2, 3]) {
      await consentingShopper(relance, n)
      await relance.trackCart({ cartId: `c${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    clock.advance({ hours: 1 })
    for (let i = 0; i < 10; i++) { await relance.tick(); clock.advance({ minutes: 10 }) }
    expect(transport.messages).toHaveLength(0)
    down = false
    // Each job waits out its own backoff (at most maxBackoff), then goes.
    for (let i = 0; i < 2; i++) { clock.advance({ minutes: 10 }); await relance.tick() }
    expect(transport.messages.map((m) => m.meta.cartId).sort()).toEqual(['c1', 'c2', 'c3'])
  })

  it('respects the transport rate limit by deferring the excess', async () => {
    const transport = memoryTransport({ maxPerSecond: 2 })
    const { relance, clock } = setup({ transport })
    for (let n = 0; n < 5; n++) {
      await consentingShopper(relance, n)
      await relance.trackCart({ cartId: `c${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    clock.advance({ hours: 1 })
    expect(await relance.tick()).toMatchObject({ sent: 2, deferred: 3 })
    clock.advance({ seconds: 1 })
    expect(await relance.tick()).toMatchObject({ sent: 2 })
    clock.advance({ seconds: 1 })
    expect(await relance.tick()).toMatchObject({ sent: 1 })
    expect(transport.messages).toHaveLength(5)
  })
})

describe('workers', () => {
  it('two engines on one store send each step once', async () => {
    const { relance: a, clock, transport, store } = setup({ frequencyCap: false })
    const b = createRelance({ secret: SECRET, shop: SHOP, store, transport, clock, quietHours: false, frequencyCap: false, worker: { id: 'b', batchSize: 7 } })
    for (let n = 0; n < 60; n++) {
      await consentingShopper(a, n)
      await a.trackCart({ cartId: `c${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    for (const hours of [1, 23, 48]) {
      clock.advance({ hours })
      await Promise.all([a.tick(), b.tick(), a.tick()])
    }
    const keys = transport.messages.map((m) => `${m.meta.cartId}:${m.meta.step}`)
    expect(keys).toHaveLength(180)
    expect(new Set(keys).size).toBe(180)
  })

  it('a tick reads each batch once and writes its settlements together while the next batch is claimed', async () => {
    const { relance, clock, transport, store } = setup({ frequencyCap: false, worker: { batchSize: 5 } })
    for (let n = 0; n < 23; n++) {
      await consentingShopper(relance, n)
      await relance.trackCart({ cartId: `c${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    const calls: string[] = []
    for (const name of ['claimDue', 'viewCarts', 'settleMany', 'settle', 'getCart', 'listCarts', 'listCartSends'] as const) {
      const original = (store[name] as (...args: unknown[]) => Promise<unknown>).bind(store)
      ;(store as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
        const result = await original(...args)
        calls.push(`${name}:${Array.isArray(result) ? result.length : result instanceof Map ? result.size : ''}`)
        return result
      }
    }
    clock.advance({ hours: 1 })
    expect(await relance.tick()).toMatchObject({ claimed: 23, sent: 23 })
    expect(new Set(transport.messages.map((m) => m.meta.cartId)).size).toBe(23)
    // Five batches (5+5+5+5+3), each viewed once and settled in one write; no per-job reads.
    expect(calls.filter((c) => c.startsWith('claimDue'))).toEqual(['claimDue:5', 'claimDue:5', 'claimDue:5', 'claimDue:5', 'claimDue:3'])
    expect(calls.filter((c) => c.startsWith('viewCarts'))).toEqual(['viewCarts:5', 'viewCarts:5', 'viewCarts:5', 'viewCarts:5', 'viewCarts:3'])
    expect(calls.filter((c) => c.startsWith('settleMany'))).toEqual(['settleMany:5', 'settleMany:5', 'settleMany:5', 'settleMany:5', 'settleMany:3'])
    expect(calls.filter((c) => /^(settle|getCart|listCarts|listCartSends):/.test(c))).toEqual([])
    // Per batch: the claim, the read, then the settlements (written while the next claim runs).
    expect(calls.map((c) => c.split(':')[0])).toEqual(Array.from({ length: 5 }, () => ['claimDue', 'viewCarts', 'settleMany']).flat())
    for (let n = 0; n < 23; n++) expect(await store.getJob(`c${n}`)).toMatchObject({ state: 'pending', owner: null, note: 'waiting' })
  })

  it('a failed settlement write fails the tick; the leases expire and nothing is sent twice', async () => {
    const { relance, clock, transport, store } = setup({ frequencyCap: false, worker: { batchSize: 4, lease: { minutes: 5 } } })
    for (let n = 0; n < 6; n++) {
      await consentingShopper(relance, n)
      await relance.trackCart({ cartId: `c${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
    }
    const settleMany = store.settleMany.bind(store)
    store.settleMany = async () => { throw new RelanceError('STORE_ERROR', 'connection lost') }
    clock.advance({ hours: 1 })
    // The first batch's write fails while the second batch (claimed meanwhile) is processed; the
    // failure surfaces before anything else is claimed.
    await expect(relance.tick()).rejects.toThrow('connection lost')
    expect(transport.messages).toHaveLength(6)
    store.settleMany = settleMany
    expect(await relance.tick()).toMatchObject({ claimed: 0 }) // still leased: nobody else takes them
    clock.advance({ minutes: 6 })
    const retried = await relance.tick()
    expect(retried.sent).toBe(0)
    expect(transport.messages).toHaveLength(6)
    expect(new Set(transport.messages.map((m) => m.meta.cartId)).size).toBe(6)
    for (let n = 0; n < 6; n++) expect(await store.getJob(`c${n}`)).toMatchObject({ state: 'pending', owner: null, note: 'waiting' })
  })

  it('the background loop reports failures as events and never crashes the host', async () => {
    vi.useFakeTimers()
    try {
      const clock = new FakeClock('2026-06-10T08:00:00Z')
      const relance = createRelance({
        secret: SECRET, shop: SHOP, clock, quietHours: false, worker: { interval: { seconds: 5 } },
        store: { ...(await import('../src/index.js')).memoryStore(), claimDue: async () => { throw new RelanceError('STORE_ERROR', 'database unreachable') } },
      })
      const errors: string[] = []
      relance.on('error', (e) => errors.push(`${e.during}:${e.error.message}`))
      relance.start()
      await vi.advanceTimersByTimeAsync(11_000)
      await relance.stop()
      expect(errors.length).toBeGreaterThanOrEqual(2)
      expect(errors[0]).toBe('tick:database unreachable')
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('the background loop', () => {
  it('start() sends what becomes due on its own, stop() waits for the tick in progress', async () => {
    vi.useFakeTimers()
    try {
      const { relance, clock, transport } = setup({ worker: { interval: { seconds: 5 } } })
      await consentingShopper(relance, 1)
      await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
      relance.start()
      relance.start() // idempotent
      await vi.advanceTimersByTimeAsync(6_000)
      expect(transport.messages).toHaveLength(0)
      clock.advance({ hours: 1 })
      await vi.advanceTimersByTimeAsync(5_000)
      expect(transport.messages).toHaveLength(1)
      await relance.stop()
      clock.advance({ hours: 24 })
      await vi.advanceTimersByTimeAsync(60_000)
      expect(transport.messages).toHaveLength(1)
      await relance.close()
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('leases', () => {
  it('a worker whose lease was taken over while it was slow does not send', async () => {
    const { relance, clock, transport, store } = setup({
      worker: { lease: { minutes: 2 } },
      // The shop's hook is slow: four minutes pass on the clock while it runs.
      beforeSend: async () => { clock.advance({ minutes: 4 }) },
    })
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    const claimedBy = store.claimDue.bind(store)
    let stolen = false
    const originalExtend = store.extendLease.bind(store)
    store.extendLease = async (cartId, owner, until) => {
      // Another worker claimed the expired lease in the meantime.
      const theirs = await claimedBy({ now: clock.now(), limit: 10, owner: 'other-worker', leaseUntil: new Date(clock.now().getTime() + 120_000) })
      stolen = theirs.length === 1
      return originalExtend(cartId, owner, until)
    }
    await relance.tick()
    expect(stolen).toBe(true)
    expect(transport.messages).toHaveLength(0)
  })
})

describe("'skipped' and 'deferred' events", () => {
  it('are emitted once the store holds what they say', async () => {
    // 20:30 in Paris: the first step falls due at 21:30, inside the quiet hours (21:00–08:00).
    const { relance, clock, store } = setup({ quietHours: { start: '21:00', end: '08:00' }, staleAfter: { days: 2 } }, '2026-06-10T18:30:00Z')
    const seen: Promise<unknown>[] = []
    relance.on('deferred', (e) => seen.push(store.getJob(e.cartId).then((job) => ({ event: 'deferred', until: e.until.toISOString(), job }))))
    relance.on('skipped', (e) => seen.push(store.getJob(e.cartId).then((job) => ({ event: 'skipped', reason: e.reason, job }))))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ hours: 1 })
    expect(await relance.tick()).toMatchObject({ deferred: 1 })
    expect(await Promise.all(seen.splice(0))).toEqual([{
      event: 'deferred',
      until: '2026-06-11T06:00:00.000Z', // 08:00 in Paris
      job: expect.objectContaining({ state: 'pending', dueAt: new Date('2026-06-11T06:00:00Z'), owner: null, leaseUntil: null, note: 'quiet-hours' }),
    }])
    clock.advance({ days: 3 })
    expect(await relance.tick()).toMatchObject({ skipped: 1 })
    expect(await Promise.all(seen)).toEqual([{
      event: 'skipped',
      reason: 'stale',
      job: expect.objectContaining({ state: 'done', owner: null, leaseUntil: null, note: 'stale' }),
    }])
  })

  it('are not emitted for a decision that yielded to a newer snapshot of the cart', async () => {
    // The shopper comes back on another device while the worker is deciding about her stale
    // cart: the claimed job's revision moves on, the "stale" settlement yields, and the cart is
    // recovered from its new snapshot instead.
    const base = memoryStore()
    let comeBack: (() => Promise<unknown>) | null = null
    const store: Store = {
      ...base,
      async claimBatch(options) {
        const batch = await base.claimBatch(options)
        if (comeBack !== null && batch.jobs.length > 0) await comeBack()
        return batch
      },
    }
    const { relance, clock, transport } = setup({ store, staleAfter: { days: 2 }, frequencyCap: false })
    const skipped: string[] = []
    relance.on('skipped', (e) => skipped.push(`${e.cartId}:${e.reason}`))
    await consentingShopper(relance, 1)
    await relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS, currency: 'EUR' })
    clock.advance({ days: 3 })
    comeBack = () => relance.trackCart({ cartId: 'c', deviceId: 'device-1', items: ITEMS.slice(0, 1), currency: 'EUR' })
    expect(await relance.tick()).toMatchObject({ claimed: 1, sent: 0, skipped: 0 })
    comeBack = null
    expect(skipped).toEqual([])
    expect(await base.getJob('c')).toMatchObject({ state: 'pending', owner: null })
    clock.advance({ hours: 1 })
    expect(await relance.tick()).toMatchObject({ sent: 1 })
    expect(transport.messages.map((m) => m.meta.step)).toEqual(['reminder'])
    expect(skipped).toEqual([])
  })
})
