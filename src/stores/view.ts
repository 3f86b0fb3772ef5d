/** Pieces of `viewCarts` shared by the adapters that compute the view in JavaScript. */
import type { CartRecord } from './types.js'

/** Code-point order (what PostgreSQL's `COLLATE "C"` and SQLite's BINARY give on UTF-8). */
function codePointGreater(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) > 0
}

/** Whether another of the person's carts is more recent than `cart` (see `CartView.superseded`). */
export function isSuperseded(cart: CartRecord, carts: readonly Pick<CartRecord, 'id' | 'activityAt'>[]): boolean {
  const t = cart.activityAt.getTime()
  return carts.some((other) => other.id !== cart.id
    && (other.activityAt.getTime() > t || (other.activityAt.getTime() === t && codePointGreater(other.id, cart.id))))
}
