/**
 * Reads composed in JavaScript, for stores without a combined statement: supersession (memory
 * store), `claimBatch` as two calls, `lookup` as separate reads.
 */
import type { ClaimOptions, ClaimedBatch, LookupQuery, LookupResult, Store } from './types.js'

/** Code-point order (what PostgreSQL's `COLLATE "C"` and SQLite's BINARY give on UTF-8). */
function codePointGreater(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0
}

/**
 * Whether another of the person's carts is more recent than `cart` (see `CartView.superseded`);
 * times in epoch milliseconds, as the memory store keeps them.
 */
export function isSuperseded(cart: TimedCart, carts: readonly TimedCart[]): boolean {
  const t = cart.activityAt
  return carts.some((other) => other.id !== cart.id
    && (other.activityAt > t || (other.activityAt === t && codePointGreater(other.id, cart.id))))
}

interface TimedCart {
  id: string
  activityAt: number
}

/** `claimBatch` for a backend without a combined statement: the claim, then the read. */
export async function claimThenView(store: Store, options: ClaimOptions): Promise<ClaimedBatch> {
  const jobs = await store.claimDue(options)
  return { jobs, views: jobs.length === 0 ? new Map() : await store.viewCarts(jobs.map((job) => job.cartId)) }
}

/** `lookup` for a backend without a combined read: each read on its own, side by side. */
export async function readSeparately(store: Store, query: LookupQuery): Promise<LookupResult> {
  const [byCustomer, byEmail, byDevice, cart] = await Promise.all([
    query.customerId === null ? null : store.findProfile({ customerId: query.customerId }),
    query.email === null ? null : store.findProfile({ email: query.email }),
    query.deviceId === null ? null : store.findProfile({ deviceId: query.deviceId }),
    query.cartId === null ? null : store.getCart(query.cartId),
  ])
  return { byCustomer, byEmail, byDevice, cart }
}
