import type { Duration } from 'date-fns'
import { createRelance, memoryStore, memoryTransport, type RelanceOptions } from '../../src/index.js'
import { addDuration } from '../../src/time.js'

/** A clock the test moves by hand; the engine reads nothing else. */
export class FakeClock {
  private t: number
  constructor(start: string | Date) {
    this.t = new Date(start).getTime()
  }
  now = (): Date => new Date(this.t)
  set(at: string | Date): void {
    this.t = new Date(at).getTime()
  }
  advance(duration: Duration): Date {
    this.t = addDuration(new Date(this.t), duration, 'UTC').getTime()
    return this.now()
  }
}

export const SECRET = 'test-secret-that-is-long-enough-0123456789'

export const SHOP = {
  name: 'Maison Dupont',
  url: 'https://shop.example',
  from: 'Maison Dupont <bonjour@shop.example>',
  replyTo: 'service@shop.example',
  locale: 'fr',
  timeZone: 'Europe/Paris',
  currency: 'EUR',
  restoreUrl: 'https://shop.example/panier/restaurer?token={token}',
  unsubscribeUrl: 'https://shop.example/relance/unsubscribe?token={token}',
}

export function setup(overrides: Partial<RelanceOptions> = {}, start: string | Date = '2026-06-10T08:00:00Z') {
  const clock = new FakeClock(start)
  const transport = memoryTransport()
  const store = memoryStore()
  const relance = createRelance({
    secret: SECRET,
    shop: SHOP,
    store,
    transport,
    clock,
    quietHours: false,
    ...overrides,
  })
  return { relance, clock, transport: (overrides.transport as typeof transport | undefined) ?? transport, store: overrides.store ?? store }
}

export const ITEMS = [
  { sku: 'TSHIRT-M', name: 'T-shirt en lin', quantity: 2, unitAmount: 2990, url: 'https://shop.example/p/tshirt', imageUrl: 'https://cdn.shop.example/tshirt.jpg' },
  { sku: 'CAP', name: 'Casquette', quantity: 1, unitAmount: 1990 },
]

/** A person on a device with granted consent and an email. */
export async function consentingShopper(relance: ReturnType<typeof createRelance>, n: number | string, extra: Record<string, unknown> = {}) {
  await relance.identify({ deviceId: `device-${n}`, email: `shopper${n}@example.com`, consent: { marketing: true, source: 'checkout-checkbox' }, ...extra })
}

export function tokenOf(url: string): string {
  return new URL(url).searchParams.get('token')!
}

/** Decodes the character references an HTML attribute may hold (`&amp;`, `&#x3D;`, `&#39;`…). */
export function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (whole, ref: string) =>
    ref[0] === '#'
      ? String.fromCodePoint(ref[1]!.toLowerCase() === 'x' ? parseInt(ref.slice(2), 16) : Number(ref.slice(1)))
      : named[ref.toLowerCase()] ?? whole,
  )
}

/** The href of every link, decoded, in document order. */
export function linksIn(html: string): string[] {
  return [...html.matchAll(/href="([^"]+)"/g)].map((m) => decodeEntities(m[1]!))
}
