/**
 * The storage contract. A store keeps the identity graph, carts, due work, the send log,
 * orders, experiment assignments and the suppression list, and offers the few atomic operations
 * the engine cannot do safely itself (claims, owner-guarded settlement, first-writer-wins inserts).
 *
 * Rules every adapter follows (the conformance suite in `test/conformance/` checks them):
 * - **Time comes from the caller.** Every time decision uses a `now` or a `Date` passed in; a
 *   store never reads the system clock (`Date.now()`, SQL `now()`), so a fake clock drives a
 *   real database in tests.
 * - **Records are plain data.** Methods return fresh objects (never live references into the
 *   store) with `Date` instances for times and `null` for absent values.
 * - **Cost follows due work.** `claimDue` uses an index on due time; nothing scans all carts.
 * - **Errors** are `RelanceError('STORE_ERROR')` with the driver error as `cause`, except the
 *   unique-key conflict of `saveProfile`, which is `STORE_ERROR` with `details.conflict` set.
 */

import type { IncentiveKind } from '../render/types.js'
import type { CartItem } from '../types.js'

// ---------------------------------------------------------------------------------------------
// Records

export type ConsentState = 'granted' | 'refused' | 'unknown'

/** A consent decision with its proof: when and where it was given (or refused). */
export interface ConsentRecord {
  state: ConsentState
  at: Date | null
  /** Where the decision was collected: `checkout-checkbox`, `unsubscribe`, `account-settings`… */
  source: string | null
}

/** One person, across all their devices. */
export interface ProfileRecord {
  /** Opaque id made by the engine. */
  id: string
  /** The shop's account id. Unique across profiles. */
  customerId: string | null
  /** Normalised (trimmed, lower-cased) address. Unique across profiles. */
  email: string | null
  firstName: string | null
  /** BCP 47 tag (`fr`, `fr-CA`, `en`). */
  locale: string | null
  /** IANA zone (`Europe/Paris`). */
  timeZone: string | null
  /** Marketing-email consent. */
  marketing: ConsentRecord
  /** Whether this person has bought from the shop before (soft opt-in, step conditions). */
  hasPurchased: boolean
  /** The time of the latest order seen by relance; recovery of older activity stops there. */
  lastOrderAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export type CartStatus = 'open' | 'empty' | 'ordered'

/** A cart line as stored: the public `CartItem` (amounts in integer minor units). */
export type CartItemRecord = CartItem

export interface CartRecord {
  /** The shop's cart id. */
  id: string
  profileId: string
  /** The device the last snapshot came from, when known. */
  deviceId: string | null
  items: CartItemRecord[]
  /** ISO 4217 code. */
  currency: string
  status: CartStatus
  /** Time of the last `trackCart` snapshot: the clock of the recovery sequence. */
  activityAt: Date
  createdAt: Date
  updatedAt: Date
}

/**
 * Due work: one row per cart, saying "look at this cart again at `dueAt`". The truth about what
 * to send is recomputed from carts, profiles and the send log at processing time, so a job
 * carries no decision, only a wake-up time and a lease.
 */
export interface JobRecord {
  cartId: string
  profileId: string
  /** `pending`: wake up at `dueAt`; `done`: nothing more to do for this cart. */
  state: 'pending' | 'done'
  dueAt: Date
  /** Worker that holds the lease, or `null`. */
  owner: string | null
  /** The lease ends here; after it, another worker may claim the job. */
  leaseUntil: Date | null
  /** Consecutive failed attempts of the current send (for backoff). */
  attempts: number
  /** Incremented by every `schedule`/`cancel`; a settlement made with an older `rev` yields. */
  rev: number
  /** Why the job ended or what it waits for (`completed`, `ordered`, `quiet-hours`…). */
  note: string | null
}

/**
 * What happened to one step of one cart. Unique on (`cartId`, `step`): the deterministic key
 * that makes each step of a cart happen at most once.
 */
export type SendOutcome =
  /** Reserved before handing the message to the transport; not confirmed (yet). */
  | 'sending'
  /** The transport confirmed acceptance. */
  | 'sent'
  /** Gave up: permanent refusal or retries exhausted. */
  | 'failed'
  /** Holdout variant: nothing sent, but recorded at the moment it would have been. */
  | 'held-out'
  /** Human follow-up handed to the `onTask` hook. */
  | 'task'
  /** The step was passed over (overdue after downtime, condition not met, vetoed). */
  | 'skipped'

export interface SendIncentive {
  kind: IncentiveKind
  value: number
  code: string
  expiresAt: Date | null
}

export interface SendRecord {
  /** Random id (≥ 128 bits, base64url) that the signed restore and unsubscribe tokens carry. Unique. */
  id: string
  cartId: string
  profileId: string
  /** Step id. */
  step: string
  stepIndex: number
  experimentId: string | null
  variant: string | null
  outcome: SendOutcome
  /** Deterministic `Message-ID` (`<…@domain>`), reused by any resend of this record. */
  messageId: string | null
  incentive: SendIncentive | null
  /** Cart value when the step was taken (integer minor units) and its currency. */
  subtotal: number
  currency: string
  /** Free-text reason for `skipped`/`failed`, last transient error while `sending`. */
  reason: string | null
  /** When the record was created (the step was taken). */
  createdAt: Date
  /** When the transport confirmed (`sent`) or when it would have been sent (`held-out`, `task`). */
  sentAt: Date | null
  /** First restore of this email's link. */
  clickedAt: Date | null
}

export interface OrderAttribution {
  sendId: string
  cartId: string
  step: string
  experimentId: string | null
  variant: string | null
  /** `held-out` orders are "ordered anyway" references for experiments. */
  outcome: 'sent' | 'held-out'
  /** The email's link was restored before the order. */
  clicked: boolean
}

export interface OrderRecord {
  /** The shop's order id. Unique. */
  id: string
  profileId: string
  cartId: string | null
  /** Real order total, integer minor units. */
  total: number
  currency: string
  at: Date
  attribution: OrderAttribution | null
}

export interface AssignmentRecord {
  experimentId: string
  profileId: string
  variant: string
  at: Date
}

export type SuppressionReason = 'unsubscribe' | 'bounce' | 'complaint' | 'manual'

export interface SuppressionRecord {
  /** Keyed hash (HMAC) of the normalised email; the address itself is never stored here. */
  key: string
  reason: SuppressionReason
  at: Date
}

/** How to find a profile: by one identity key. */
export type ProfileKey =
  | { customerId: string }
  | { email: string }
  | { deviceId: string }

/** What `lookup` reads: the profile of each key given, and a cart (null: not asked). */
export interface LookupQuery {
  customerId: string | null
  email: string | null
  deviceId: string | null
  cartId: string | null
}

/** What `lookup` found: null for a key not asked or held by no one. */
export interface LookupResult {
  byCustomer: ProfileRecord | null
  byEmail: ProfileRecord | null
  byDevice: ProfileRecord | null
  cart: CartRecord | null
}

export interface TimeRange {
  /** Inclusive. */
  since?: Date | undefined
  /** Exclusive. */
  until?: Date | undefined
}

export interface PurgeResult {
  carts: number
  sends: number
  orders: number
}

/** A device to point at a profile saved in the same write. */
export interface DeviceLink {
  deviceId: string
  at: Date
}

/** A claimed job as its owner saw it: a write guarded by it applies only if the job is unchanged. */
export interface LeaseGuard {
  owner: string
  rev: number
}

/** A profile write (`saveProfile`'s arguments), to make in the same write as something else. */
export interface ProfileWrite {
  profile: ProfileRecord
  device?: DeviceLink | undefined
}

/** What happens to a cart's job when its snapshot is saved. */
export type CartJobChange = { dueAt: Date } | { cancel: string }

export interface ClaimOptions {
  /** Decisions about due-ness and leases use this time. */
  now: Date
  /** Most jobs to claim. */
  limit: number
  /** The claiming worker's id. */
  owner: string
  /** End of the lease given to the claimed jobs. */
  leaseUntil: Date
}

/** How a lease owner settles a job it processed. */
export type Settlement =
  | { state: 'pending'; dueAt: Date; attempts: number; note: string | null }
  | { state: 'done'; note: string }

/**
 * - `applied`: the settlement was written and the lease released.
 * - `yielded`: `schedule`/`cancel` touched the job during the lease (rev changed): the lease was
 *   released but the newer state and due time were kept.
 * - `lost`: the caller no longer owns the lease (it expired and another worker may hold it);
 *   nothing was written.
 */
export type SettleResult = 'applied' | 'yielded' | 'lost'

/** A claimed batch with the views of its carts (`claimBatch`). */
export interface ClaimedBatch {
  jobs: JobRecord[]
  /** By cart id; a claimed job whose cart no longer exists has none. */
  views: Map<string, CartView>
}

/** One settlement of a batch (`settleMany`). */
export interface SettleItem {
  cartId: string
  rev: number
  settlement: Settlement
}

/** What the scheduler needs to know about a claimed job's cart, read for a whole batch at once. */
export interface CartView {
  cart: CartRecord
  /** The cart's profile; null when it no longer exists. */
  profile: ProfileRecord | null
  /**
   * Another cart of the same profile is more recent: a later `activityAt`, or the same one and
   * a greater id (ids compared by code point, as `COLLATE "C"` / SQLite's BINARY do).
   */
  superseded: boolean
  /** The cart's send records, by `stepIndex` (as `listCartSends`). */
  sends: SendRecord[]
}

export interface StoreCapabilities {
  /** Data survives a process restart. @default false */
  readonly durable: boolean
  /** Several processes may share this store safely (atomic claims across processes). @default false */
  readonly multiProcess: boolean
}

// ---------------------------------------------------------------------------------------------
// The contract

export interface Store {
  /** Short name for logs (`memory`, `sqlite`, `postgres`, `redis`). */
  readonly name: string
  readonly capabilities: StoreCapabilities

  /** Prepare the backend (migrations, scripts). Idempotent; safe when two processes race. */
  init(): Promise<void>
  /** Release what the store opened itself (never a pool or client the caller passed in). */
  close(): Promise<void>

  // --- identity -------------------------------------------------------------------------------
  getProfile(id: string): Promise<ProfileRecord | null>
  findProfile(key: ProfileKey): Promise<ProfileRecord | null>
  /**
   * `findProfile` for each key given and `getCart` for the cart, together: what `trackCart` and
   * `identify` read before they write. A store whose reads are round trips answers in one
   * (`readSeparately` makes them side by side, for a store without a faster way).
   */
  lookup(query: LookupQuery): Promise<LookupResult>
  /**
   * Insert or replace the profile with this id. If another profile holds the same `customerId`
   * or `email`, throw `RelanceError('STORE_ERROR')` with
   * `details.conflict` = the field name, and write nothing. With `device`, point that device at
   * the profile in the same write (as `linkDevice`), so a new visitor costs one round trip.
   */
  saveProfile(profile: ProfileRecord, device?: DeviceLink): Promise<void>
  /** Point the device at a profile (insert or move). */
  linkDevice(deviceId: string, profileId: string, at: Date): Promise<void>
  /**
   * Move everything of profile `fromId` to profile `intoId` — devices, carts, jobs, sends,
   * orders, assignments (on an experiment both have, `intoId`'s assignment wins) — then delete
   * profile `fromId`. The engine saves the merged attributes of `intoId` itself.
   */
  mergeProfiles(fromId: string, intoId: string): Promise<void>

  // --- carts ----------------------------------------------------------------------------------
  getCart(cartId: string): Promise<CartRecord | null>
  /**
   * Insert or replace by id. With `job`, in the same write, also `schedule` the cart's job at
   * `dueAt` (for the cart's profile) or `cancel` it with that note. With `owner`, also save that
   * profile (and point its device at it) exactly as `saveProfile(owner.profile, owner.device)`
   * would, first: a conflict on its customerId or email is the same `STORE_ERROR` and writes
   * nothing at all. A first cart from a new visitor is then one round trip.
   */
  saveCart(cart: CartRecord, job?: CartJobChange, owner?: ProfileWrite): Promise<void>
  /** All carts of a profile (any status), in any order. */
  listCarts(profileId: string): Promise<CartRecord[]>

  // --- due work -------------------------------------------------------------------------------
  /**
   * Upsert the cart's job as `pending` at `dueAt` with `rev + 1` and `note: null`. A lease in
   * progress is left alone (its owner will yield when it settles); `attempts` reset to 0.
   */
  schedule(job: { cartId: string; profileId: string; dueAt: Date }): Promise<void>
  /** Mark the cart's job `done` with `rev + 1` and this note. No-op when there is no job. */
  cancel(cartId: string, note: string): Promise<void>
  getJob(cartId: string): Promise<JobRecord | null>
  /**
   * Atomically lease up to `limit` jobs that are `pending`, due (`dueAt <= now`) and not leased
   * (no owner, or `leaseUntil <= now`), earliest due first. Sets `owner` and `leaseUntil` and
   * returns the leased jobs, sorted by `dueAt`. `rev` and `attempts` are not changed by a claim.
   * Two concurrent callers (in this process or another) never receive the same job.
   */
  claimDue(options: ClaimOptions): Promise<JobRecord[]>
  /**
   * `claimDue`, then `viewCarts` of the claimed carts: in one round trip where the backend can
   * (one statement on PostgreSQL), else the two calls.
   */
  claimBatch(options: ClaimOptions): Promise<ClaimedBatch>
  /**
   * Move the lease end of a job whose `owner` is the caller. False (nothing written) when another
   * worker holds it or it was released. A lease past its end still counts as the caller's until
   * someone else claims the job.
   */
  extendLease(cartId: string, owner: string, leaseUntil: Date): Promise<boolean>
  /**
   * Release the lease held by `owner` and, when `rev` still matches, write the settlement.
   * See `SettleResult`. Settling never changes `rev` (only `schedule` and `cancel` do); a
   * `pending` settlement makes the job claimable again at its `dueAt`.
   */
  settle(cartId: string, owner: string, rev: number, settlement: Settlement): Promise<SettleResult>
  /**
   * `settle` for many jobs of one owner in one round trip; results in the order of `items`.
   * Each cart appears at most once. Every item is judged on its own, exactly as `settle` would.
   */
  settleMany(owner: string, items: readonly SettleItem[]): Promise<SettleResult[]>
  /**
   * The views of these carts, read in one round trip (or as few as the backend allows), keyed
   * by cart id; a cart that does not exist has no entry. The same data as `getCart`,
   * `getProfile`, `listCarts` and `listCartSends` would give.
   */
  viewCarts(cartIds: readonly string[]): Promise<Map<string, CartView>>

  // --- send log -------------------------------------------------------------------------------
  /**
   * Insert the record unless one exists for (`cartId`, `step`); return the stored record
   * (the new one, or the existing one untouched). First writer wins, also between processes.
   * Ids are random: an id already used by another (`cartId`, `step`) is a `STORE_ERROR`.
   * With `lease`, only while the cart's job is still held by `lease.owner` at revision
   * `lease.rev` (no order, snapshot or cancel touched it since the claim), checked atomically
   * with the insert: otherwise null and nothing written.
   */
  reserveSend(send: SendRecord, lease?: LeaseGuard): Promise<SendRecord | null>
  /**
   * Update fields of a send record: a field given as `null` is cleared, a field left out (or
   * `undefined`) is kept. No-op when the record does not exist.
   */
  updateSend(
    id: string,
    patch: Partial<Pick<SendRecord, 'outcome' | 'sentAt' | 'reason' | 'incentive' | 'messageId'>>,
  ): Promise<void>
  getSend(id: string): Promise<SendRecord | null>
  /** All send records of a cart, by `stepIndex`. */
  listCartSends(cartId: string): Promise<SendRecord[]>
  /** Send records of a profile created at or after `since`, oldest first. */
  listProfileSends(profileId: string, since: Date): Promise<SendRecord[]>
  /** Set `clickedAt` if it is still null. Returns the record, or null when unknown. */
  recordClick(sendId: string, at: Date): Promise<SendRecord | null>

  // --- orders ---------------------------------------------------------------------------------
  /** Insert the order; false (and nothing written) when this order id exists already. */
  saveOrder(order: OrderRecord): Promise<boolean>

  // --- experiments ----------------------------------------------------------------------------
  /** Insert unless this profile has an assignment for this experiment; return the stored one. */
  assign(assignment: AssignmentRecord): Promise<AssignmentRecord>
  getAssignment(experimentId: string, profileId: string): Promise<AssignmentRecord | null>

  // --- suppression ----------------------------------------------------------------------------
  /** Insert or replace the suppression of this key. */
  suppress(entry: SuppressionRecord): Promise<void>
  getSuppression(key: string): Promise<SuppressionRecord | null>
  unsuppress(key: string): Promise<void>

  // --- privacy --------------------------------------------------------------------------------
  /**
   * Delete the profile and everything linked to it: devices, carts, jobs, sends, orders,
   * assignments. Leaves no copy of its email, name or ids anywhere the store controls, older
   * copies included (a SQLite store zeroes deleted rows and checkpoints its WAL). Suppressions
   * are keyed by a hash, not by the profile, and stay.
   */
  forgetProfile(profileId: string): Promise<void>
  /**
   * Delete carts (and their jobs) whose `activityAt` is before `before`, send records created
   * before it and orders placed before it. Profiles, consent proofs and suppressions stay.
   */
  purge(before: Date): Promise<PurgeResult>

  // --- reporting ------------------------------------------------------------------------------
  /** Send records created in the range, in any order. */
  scanSends(range: TimeRange): AsyncIterable<SendRecord>
  /** Orders placed in the range, in any order. */
  scanOrders(range: TimeRange): AsyncIterable<OrderRecord>
  /** Assignments made in the range, in any order. */
  scanAssignments(range: TimeRange): AsyncIterable<AssignmentRecord>
  /** Suppressions made in the range (bounce and complaint counts), in any order. */
  scanSuppressions(range: TimeRange): AsyncIterable<SuppressionRecord>
}
