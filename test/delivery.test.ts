/**
 * The delivery policy of the engine (guarantee 3) against a real SMTP server: what the server
 * answers decides between sent, retried, failed and suppressed, and nothing is recorded as sent
 * unless the server accepted it.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { memoryStore, type FailedEvent, type Store } from '../src/index.js'
import { nodemailerTransport } from '../src/nodemailer.js'
import type { Transport } from '../src/transports/types.js'
import { ITEMS, consentingShopper, setup } from './helpers/engine.js'
import { startSmtpServer, type SmtpTestServer } from './helpers/smtp-server.js'

let server: SmtpTestServer
const opened: Transport[] = []

beforeAll(async () => {
  server = await startSmtpServer()
})
afterAll(async () => {
  await server.stop()
})
beforeEach(() => server.reset())
afterEach(async () => {
  await Promise.all(opened.splice(0).map((transport) => transport.close?.()))
})

function smtp(options: { maxPerSecond?: number } = {}): Transport {
  const transport = nodemailerTransport({ smtp: server.url, ...options })
  opened.push(transport)
  return transport
}

/** An engine over SMTP with `count` consenting shoppers whose first reminder is due now. */
async function abandoned(count = 1, options: Parameters<typeof setup>[0] = {}) {
  const env = setup({ transport: smtp(), ...options })
  for (let n = 0; n < count; n++) {
    await consentingShopper(env.relance, n)
    await env.relance.trackCart({ cartId: `cart-${n}`, deviceId: `device-${n}`, items: ITEMS, currency: 'EUR' })
  }
  env.clock.advance({ hours: 1 })
  const failed: FailedEvent[] = []
  env.relance.on('failed', (event) => failed.push(event))
  return { ...env, failed }
}

async function sendsOf(store: Store, cartId: string) {
  return (await store.listCartSends(cartId)).map((send) => ({ step: send.step, outcome: send.outcome }))
}

describe('delivery over SMTP', () => {
  it('records a send only once the server accepted it, with its Message-ID', async () => {
    const { relance, store } = await abandoned()
    const result = await relance.tick()
    expect(result.sent).toBe(1)
    const [received] = await server.waitForMessages(1)
    const [send] = await store.listCartSends('cart-0')
    expect(send).toMatchObject({ outcome: 'sent', step: 'reminder' })
    expect(received!.parsed.messageId).toBe(send!.messageId)
    expect(received!.envelope.to).toEqual(['shopper0@example.com'])
  })

  it('550 at RCPT TO: the step fails without a retry, the address is suppressed, and the report counts a hard bounce', async () => {
    server.rejectRecipient('shopper0@example.com', 550)
    const { relance, store, clock, failed } = await abandoned()
    const result = await relance.tick()
    expect(result).toMatchObject({ sent: 0, failed: 1 })
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ step: 'reminder', willRetry: false, error: { code: 'TRANSPORT_ERROR', permanent: true } })
    expect(await sendsOf(store, 'cart-0')).toEqual([{ step: 'reminder', outcome: 'failed' }])

    // Never retried: not for this cart's later steps, not for a new cart of the same person.
    await relance.trackCart({ cartId: 'cart-0b', deviceId: 'device-0', items: ITEMS, currency: 'EUR' })
    for (const hours of [1, 24, 72]) {
      clock.advance({ hours })
      await relance.tick()
    }
    expect(server.refused.filter((attempt) => attempt.stage === 'rcpt')).toHaveLength(1)
    expect(server.acceptedCount).toBe(0)
    const report = await relance.report()
    expect(report.totals).toMatchObject({ sent: 0, failed: 1, hardBounces: 1 })
  })

  it('554 5.7.1 after DATA: the message is refused, not the person; no retry and no suppression', async () => {
    server.failNext(1, { code: 554, message: '5.7.1 Message rejected as spam' })
    const { relance, store, clock, failed } = await abandoned()
    expect(await relance.tick()).toMatchObject({ sent: 0, failed: 1 })
    expect(failed[0]).toMatchObject({ willRetry: false, error: { permanent: true, details: { aboutRecipient: false } } })

    // The next step still goes out: the address was never the problem.
    clock.advance({ hours: 23 })
    expect(await relance.tick()).toMatchObject({ sent: 1 })
    expect(await sendsOf(store, 'cart-0')).toEqual([
      { step: 'reminder', outcome: 'failed' },
      { step: 'reassurance', outcome: 'sent' },
    ])
    expect((await relance.report()).totals.hardBounces).toBe(0)
  })

  it('451 then success: retried after a backoff and delivered exactly once', async () => {
    server.failNext(1, 451)
    const { relance, store, clock, failed } = await abandoned()
    expect(await relance.tick()).toMatchObject({ sent: 0, deferred: 1, failed: 0 })
    expect(failed).toMatchObject([{ willRetry: true, attempts: 1, error: { permanent: false } }])
    const send = (await store.listCartSends('cart-0'))[0]!
    expect(send.outcome).toBe('sending')

    // Nothing happens before the backoff has passed (1 minute ± 20 %).
    clock.advance({ seconds: 30 })
    expect(await relance.tick()).toMatchObject({ sent: 0, claimed: 0 })
    clock.advance({ minutes: 2 })
    expect(await relance.tick()).toMatchObject({ sent: 1 })

    expect(server.acceptedCount).toBe(1)
    expect(server.refused.map((attempt) => attempt.reply)).toEqual([{ code: 451 }])
    expect(await store.getSend(send.id)).toMatchObject({ outcome: 'sent', reason: null })
    expect(server.messages[0]!.parsed.messageId).toBe(send.messageId)
  })

  it('4xx on every attempt: gives up after retry.attempts with the reason, without suppressing', async () => {
    server.failNext(3, { code: 452, message: '4.2.2 Mailbox full' })
    const { relance, store, clock, failed } = await abandoned(1, { retry: { attempts: 3 } })
    for (let attempt = 0; attempt < 3; attempt++) {
      await relance.tick()
      clock.advance({ hours: 1 })
    }
    expect(failed.map((event) => [event.attempts, event.willRetry])).toEqual([[1, true], [2, true], [3, false]])
    const [send] = await store.listCartSends('cart-0')
    expect(send).toMatchObject({ outcome: 'failed' })
    expect(send!.reason).toMatch(/452/)
    expect((await relance.report()).totals).toMatchObject({ failed: 1, hardBounces: 0 })

    // Still reachable: the next step is delivered.
    clock.advance({ hours: 24 })
    expect(await relance.tick()).toMatchObject({ sent: 1 })
  })

  it('server down, then up: the work waits and is delivered once, nothing lost', async () => {
    const { relance, store, clock, failed } = await abandoned(3)
    await server.stop()
    try {
      const down = await relance.tick()
      expect(down.sent).toBe(0)
      expect(down.failed).toBe(0)
      expect(failed.every((event) => event.willRetry)).toBe(true)
      // Still down an hour later: deferred again, never given up.
      clock.advance({ minutes: 30 })
      await relance.tick()
      expect(failed.every((event) => event.willRetry)).toBe(true)
    } finally {
      await server.start()
    }
    clock.advance({ hours: 1 })
    let sent = 0
    for (let round = 0; round < 3 && sent < 3; round++) {
      sent += (await relance.tick()).sent
      clock.advance({ minutes: 10 })
    }
    expect(sent).toBe(3)
    const received = await server.waitForMessages(3)
    expect(received.map((message) => message.envelope.to[0]).sort()).toEqual(['shopper0@example.com', 'shopper1@example.com', 'shopper2@example.com'])
    for (const n of [0, 1, 2]) expect(await sendsOf(store, `cart-${n}`)).toEqual([{ step: 'reminder', outcome: 'sent' }])
  })

  it('acceptance lost (the connection drops after the server kept the message): resent with the same Message-ID', async () => {
    server.failNext(1, 'keep-and-disconnect')
    const { relance, store, clock } = await abandoned()
    expect(await relance.tick()).toMatchObject({ sent: 0, deferred: 1 })
    clock.advance({ minutes: 5 })
    expect(await relance.tick()).toMatchObject({ sent: 1 })
    const received = await server.waitForMessages(2)
    const [send] = await store.listCartSends('cart-0')
    expect(received.map((message) => message.parsed.messageId)).toEqual([send!.messageId, send!.messageId])
  })

  it('a worker that dies between the SMTP acceptance and the store update: another worker resends with the same Message-ID, once', async () => {
    const shared = memoryStore()
    // Worker A's store hangs forever on the write that records the acceptance: the process is as
    // good as dead from that moment, holding its lease.
    let hung = false
    const dying: Store = Object.create(shared, {
      updateSend: {
        value: (id: string, patch: Parameters<Store['updateSend']>[1]) => {
          if (patch.outcome === 'sent') {
            hung = true
            return new Promise<void>(() => {})
          }
          return shared.updateSend(id, patch)
        },
      },
    })
    const a = await abandoned(1, { store: dying, worker: { id: 'worker-a', lease: { minutes: 2 } } })
    void a.relance.tick()
    await server.waitForMessages(1)
    await vi.waitFor(() => expect(hung).toBe(true))

    const b = setup({ store: shared, transport: smtp(), worker: { id: 'worker-b', lease: { minutes: 2 } } }, a.clock.now())
    // Inside A's lease, B leaves the cart alone.
    expect(await b.relance.tick()).toMatchObject({ claimed: 0 })
    b.clock.advance({ minutes: 3 })
    expect(await b.relance.tick()).toMatchObject({ sent: 1 })

    const received = await server.waitForMessages(2)
    const [send] = await shared.listCartSends('cart-0')
    expect(send).toMatchObject({ outcome: 'sent' })
    expect(received.map((message) => message.parsed.messageId)).toEqual([send!.messageId, send!.messageId])
    // And never a third time.
    b.clock.advance({ minutes: 10 })
    await b.relance.tick()
    expect(server.acceptedCount).toBe(2)
  })

  it("bounces and complaints reported by the provider's webhook stop the mail and show in the report", async () => {
    const { relance, clock } = await abandoned(4)
    expect(await relance.tick()).toMatchObject({ sent: 4 })
    await relance.suppress('shopper1@example.com', 'complaint')
    await relance.suppress('SHOPPER2@example.com', 'bounce')
    clock.advance({ hours: 23 })
    expect(await relance.tick()).toMatchObject({ sent: 2 })
    const received = await server.waitForMessages(6)
    expect(received.slice(4).map((message) => message.envelope.to[0]).sort()).toEqual(['shopper0@example.com', 'shopper3@example.com'])
    const { totals } = await relance.report()
    expect(totals).toMatchObject({ sent: 6, complaints: 1, hardBounces: 1 })
    expect(totals.complaintRate).toBeCloseTo(1 / 6)
  })

  it('a rate limit spreads a backlog over seconds instead of hammering the server', async () => {
    const { relance, clock, store } = await abandoned(12, { transport: smtp({ maxPerSecond: 5 }) })
    const perSecond: number[] = []
    for (let second = 0; second < 4; second++) {
      perSecond.push((await relance.tick()).sent)
      clock.advance({ seconds: 1 })
    }
    expect(perSecond).toEqual([5, 5, 2, 0])
    await server.waitForMessages(12)
    expect(new Set(server.messages.map((message) => message.envelope.to[0])).size).toBe(12)
    for (let n = 0; n < 12; n++) expect(await sendsOf(store, `cart-${n}`)).toEqual([{ step: 'reminder', outcome: 'sent' }])
  })
})

