/** Public input and output types of the `Relance` object. */
import type { RelanceError } from './errors.js'
import type { CartItemRecord, CartStatus, ConsentState, SuppressionReason } from './stores/types.js'

/** A point in time: a `Date`, an ISO 8601 string or epoch milliseconds. */
export type TimeInput = Date | string | number

export interface CartItem {
  /** The shop's product/variant reference. */
  sku: string
  /** Product name as the customer saw it. */
  name: string
  /** Positive integer. */
  quantity: number
  /** Price of one unit in **integer minor units** (4990 for 49.90 €). */
  unitAmount: number
  /** Absolute http(s) URL of a product image. */
  imageUrl?: string
  /** Absolute http(s) URL of the product page. */
  url?: string
  /** Variant label shown under the name ("Size M, blue"). */
  variant?: string
}

export interface TrackCartInput {
  /** The shop's cart id. */
  cartId: string
  /** The anonymous browser/app id the shop keeps in a cookie. Required unless customerId or email is given. */
  deviceId?: string
  /** The shop account id, when the shopper is logged in. */
  customerId?: string
  /** An email the shopper gave (newsletter box, checkout step 1…). */
  email?: string
  /** The **whole** current content of the cart; `[]` when it was emptied. */
  items: CartItem[]
  /** ISO 4217 code of the amounts. */
  currency: string
  /** When the cart changed. @default the engine clock's now */
  at?: TimeInput
}

export interface ConsentInput {
  /** `true`: granted; `false`: refused. */
  marketing: boolean
  /** When it was given. @default the engine clock's now */
  at?: TimeInput
  /** Where: `checkout-checkbox`, `account-settings`… @default 'identify' */
  source?: string
}

export interface IdentifyInput {
  deviceId?: string
  customerId?: string
  email?: string
  firstName?: string
  /** BCP 47 tag used to pick the template locale. */
  locale?: string
  /** IANA zone for quiet hours. */
  timeZone?: string
  consent?: ConsentInput
  hasPurchased?: boolean
  at?: TimeInput
}

export interface OrderInput {
  /** The shop's order id; calling twice with the same id is harmless. */
  orderId: string
  cartId?: string
  customerId?: string
  email?: string
  deviceId?: string
  /** The real order total in integer minor units (revenue in reports). */
  total: number
  currency: string
  at?: TimeInput
}

export interface OrderResult {
  /** Whether relance knew who placed the order (a profile was found). */
  known: boolean
  /** The recovery email credited with the order, if any. */
  attributedTo: { step: string; variant: string | null; clicked: boolean } | null
}

export interface RestoreResult {
  cartId: string
  /** The cart's current content (not the content when the email was sent). */
  items: CartItem[]
  currency: string
  status: CartStatus
  /** Who the cart belongs to. Restoring never logs anyone in: use this to greet, not to authenticate. */
  profile: { id: string; firstName: string | null; locale: string | null }
  /** Attribution: which email's link was used. */
  step: string
  variant: string | null
}

export interface TickResult {
  /** Jobs leased and examined. */
  claimed: number
  sent: number
  /**
   * Steps or carts given up, and carts put off (quiet hours, frequency cap, rate limit, retry):
   * as the 'skipped' and 'deferred' events report them, so a decision that yielded to a newer
   * snapshot of the cart is not counted.
   */
  skipped: number
  deferred: number
  failed: number
  /** Holdout "would have sent" records. */
  heldOut: number
  /** Human follow-ups handed to `onTask`. */
  tasks: number
}

export interface ForgetResult {
  /** A profile was found and erased. */
  erased: boolean
  /** The keyed hash of the email stays on the suppression list because the person objected. */
  suppressionKept: boolean
}

export interface UnsubscribeResult {
  /** False when the token was genuine but its person has since been erased. */
  found: boolean
}

// --- events -------------------------------------------------------------------------------------

export interface SentEvent {
  cartId: string
  profileId: string
  step: string
  variant: string | null
  messageId: string
  at: Date
}

export type SkipReason =
  | 'overdue' | 'condition' | 'vetoed' | 'ordered' | 'emptied' | 'superseded' | 'stale' | 'completed'
  | 'suppressed' | 'no-consent' | 'no-email' | 'gone'

export interface SkippedEvent {
  cartId: string
  profileId: string
  /** The step concerned, or null when the whole recovery ended. */
  step: string | null
  reason: SkipReason
  at: Date
}

export interface DeferredEvent {
  cartId: string
  profileId: string
  step: string
  reason: 'quiet-hours' | 'frequency-cap' | 'rate-limit' | 'retry'
  until: Date
}

export interface FailedEvent {
  cartId: string
  profileId: string
  step: string
  error: RelanceError
  attempts: number
  /** True when the send will be retried after a backoff. */
  willRetry: boolean
}

export interface RecoveredEvent {
  orderId: string
  profileId: string
  cartId: string
  step: string
  variant: string | null
  clicked: boolean
  total: number
  currency: string
  at: Date
}

export interface ErrorEvent {
  error: RelanceError
  /** What the loop was doing: `tick`, `process`, `hook:beforeSend`… */
  during: string
  cartId?: string
}

export interface RelanceEvents {
  sent: SentEvent
  skipped: SkippedEvent
  deferred: DeferredEvent
  failed: FailedEvent
  recovered: RecoveredEvent
  error: ErrorEvent
}

export type { CartStatus, ConsentState, SuppressionReason, CartItemRecord }
