/**
 * The identity graph: which profile (person) a device, an email or a shop account belongs to,
 * and when two profiles turn out to be one person.
 *
 * Keys by strength: customerId > email > deviceId. Rules:
 * - Two profiles with different customer ids never merge (two accounts are two people).
 * - An email belongs to one profile. When an account claims an email held by another account,
 *   the email moves (accounts change addresses; the newest claim is the truth).
 * - A device belongs to one profile at a time; it follows whoever identified on it last. An
 *   anonymous profile (no account, no email) met on a device merges into the identified person;
 *   a profile with its own identity does not (shared family computer).
 */
import type { Core } from './core.js'
import type { IdentityKeys } from './inputs.js'
import { isRelanceError } from './errors.js'
import type { CartRecord, ConsentRecord, ProfileRecord, ProfileWrite } from './stores/types.js'
import { orderedId } from './tokens.js'

export function newProfile(at: Date): ProfileRecord {
  return {
    id: orderedId(at), customerId: null, email: null, firstName: null, locale: null, timeZone: null,
    marketing: { state: 'unknown', at: null, source: null },
    hasPurchased: false, lastOrderAt: null, createdAt: at, updatedAt: at,
  }
}

/** Equal in everything but `updatedAt`. */
function sameAttributes(a: ProfileRecord, b: ProfileRecord): boolean {
  return a.id === b.id && a.customerId === b.customerId && a.email === b.email && a.firstName === b.firstName &&
    a.locale === b.locale && a.timeZone === b.timeZone && a.hasPurchased === b.hasPurchased &&
    a.marketing.state === b.marketing.state && a.marketing.source === b.marketing.source &&
    a.marketing.at?.getTime() === b.marketing.at?.getTime() && a.lastOrderAt?.getTime() === b.lastOrderAt?.getTime() &&
    a.createdAt.getTime() === b.createdAt.getTime()
}

export const isAnonymous = (profile: ProfileRecord) => profile.customerId === null && profile.email === null

/** The more recent of two consent decisions; a decision beats "unknown". */
export function laterConsent(a: ConsentRecord, b: ConsentRecord): ConsentRecord {
  if (a.state === 'unknown') return b
  if (b.state === 'unknown') return a
  return (b.at?.getTime() ?? 0) > (a.at?.getTime() ?? 0) ? b : a
}

function maxDate(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b
  if (b === null) return a
  return a.getTime() >= b.getTime() ? a : b
}

/** Folds `loser` into `winner` in the store and returns the merged winner (not yet saved). */
async function merge(core: Core, winner: ProfileRecord, loser: ProfileRecord, at: Date): Promise<ProfileRecord> {
  await core.store.mergeProfiles(loser.id, winner.id)
  return {
    ...winner,
    customerId: winner.customerId ?? loser.customerId,
    email: winner.email ?? loser.email,
    firstName: winner.firstName ?? loser.firstName,
    locale: winner.locale ?? loser.locale,
    timeZone: winner.timeZone ?? loser.timeZone,
    marketing: laterConsent(winner.marketing, loser.marketing),
    hasPurchased: winner.hasPurchased || loser.hasPurchased,
    lastOrderAt: maxDate(winner.lastOrderAt, loser.lastOrderAt),
    createdAt: winner.createdAt.getTime() <= loser.createdAt.getTime() ? winner.createdAt : loser.createdAt,
    updatedAt: at,
  }
}

/**
 * Makes one person of two profiles that share a cart, when one of them is anonymous: the same
 * cart seen from two devices is one person's cart (the shop syncs carts through the account).
 * Returns the surviving profile, or null when both have their own identity (no merge).
 */
export async function joinOverCart(core: Core, owner: ProfileRecord, incoming: ProfileRecord, at: Date): Promise<ProfileRecord | null> {
  let winner: ProfileRecord
  let loser: ProfileRecord
  if (isAnonymous(owner)) [winner, loser] = [incoming, owner]
  else if (isAnonymous(incoming)) [winner, loser] = [owner, incoming]
  else return null
  const merged = await merge(core, winner, loser, at)
  await core.store.saveProfile(merged)
  return merged
}

/** Takes the email away from a profile of another account. */
async function releaseEmail(core: Core, holder: ProfileRecord, at: Date): Promise<void> {
  await core.store.saveProfile({ ...holder, email: null, updatedAt: at })
}

export interface ResolveOptions {
  create: boolean
  /** Changes attributes before the single save. */
  edit?: (profile: ProfileRecord) => ProfileRecord
  /**
   * May make the final write instead of `saveProfile` (`write` is null when nothing changed), still
   * under the identity locks and the conflict retries, so a caller saves its own record with it.
   * Resolves true when it did; false leaves the write to `saveProfile`.
   */
  commit?: (profile: ProfileRecord, write: ProfileWrite | null) => Promise<boolean>
  /**
   * A cart read with the identity lookups, in the same `lookup` (one round trip), and what to
   * do with it: when `alongside` returns false, nothing is resolved or written and the result
   * is null. For a cart the caller's own lock already guards (trackCart's).
   */
  cart?: { id: string; alongside: (cart: CartRecord | null) => boolean }
}

/**
 * Finds (or, with `create`, makes) the profile of these keys, merging and moving keys as the
 * rules above say, and saves it with the keys attached. Returns null only when `create` is false
 * and no key is known.
 */
export async function resolveProfile(
  core: Core,
  keys: IdentityKeys,
  at: Date,
  options: ResolveOptions = { create: true },
): Promise<ProfileRecord | null> {
  return core.locks.run(identityLocks(keys), () => resolveHeld(core, keys, at, options))
}

/** The in-process locks that guard the resolution of these keys (see `KeyedLock`). */
export function identityLocks(keys: IdentityKeys): string[] {
  const locks: string[] = []
  if (keys.deviceId !== null) locks.push(`device:${keys.deviceId}`)
  if (keys.customerId !== null) locks.push(`customer:${keys.customerId}`)
  if (keys.email !== null) locks.push(`email:${keys.email}`)
  return locks
}

/**
 * `resolveProfile` for a caller that already holds `identityLocks(keys)`, taken together with
 * its own (trackCart takes its cart's lock with them: one lock acquisition per call).
 */
export async function resolveHeld(core: Core, keys: IdentityKeys, at: Date, options: ResolveOptions): Promise<ProfileRecord | null> {
  // A unique-key conflict means another process created or moved a key between our reads and
  // our write; reading again sees its result.
  for (let attempt = 0; ; attempt++) {
    try {
      return await resolveOnce(core, keys, at, options)
    } catch (error) {
      if (attempt < 2 && isRelanceError(error, 'STORE_ERROR') && error.details?.conflict !== undefined) continue
      throw error
    }
  }
}

async function resolveOnce(core: Core, keys: IdentityKeys, at: Date, options: ResolveOptions): Promise<ProfileRecord | null> {
  const { store } = core
  // The reads under these locks, together: one round trip where the store can.
  const { byCustomer, byEmail, byDevice, cart } = await store.lookup({
    customerId: keys.customerId, email: keys.email, deviceId: keys.deviceId, cartId: options.cart?.id ?? null,
  })
  if (options.cart !== undefined && !options.cart.alongside(cart)) return null

  let target: ProfileRecord | null = byCustomer
  if (byEmail !== null && byEmail.id !== target?.id) {
    const otherAccount = byEmail.customerId !== null && keys.customerId !== null && byEmail.customerId !== keys.customerId
    if (otherAccount) await releaseEmail(core, byEmail, at)
    else if (target === null) target = byEmail
    else target = await merge(core, target, byEmail, at)
  }
  if (byDevice !== null && byDevice.id !== target?.id) {
    if (target === null) {
      const compatible =
        (keys.customerId === null || byDevice.customerId === null || byDevice.customerId === keys.customerId) &&
        (keys.email === null || byDevice.email === null || byDevice.email === keys.email)
      if (compatible) target = byDevice
    } else if (isAnonymous(byDevice)) {
      target = await merge(core, target, byDevice, at)
    }
    // Otherwise the device simply moves to the target below; its former profile keeps its data.
  }
  if (target === null) {
    if (!options.create) return null
    target = newProfile(at)
  }
  let profile: ProfileRecord = { ...target }
  if (keys.customerId !== null) profile.customerId = keys.customerId
  if (keys.email !== null) profile.email = keys.email
  if (options.edit !== undefined) profile = options.edit(profile)
  const moveDevice = keys.deviceId !== null && byDevice?.id !== profile.id
  // A stored profile seen again with nothing new (most cart updates) needs no write. One built
  // by a merge above is new even when its fields match.
  const stored = target === byCustomer || target === byEmail || target === byDevice
  const unchanged = stored && !moveDevice && sameAttributes(target, profile)
  if (!unchanged) profile.updatedAt = at
  const write = unchanged ? null : { profile, device: moveDevice ? { deviceId: keys.deviceId!, at } : undefined }
  const result = unchanged ? target : profile
  const committed = options.commit !== undefined && (await options.commit(result, write))
  if (!committed && write !== null) await store.saveProfile(write.profile, write.device)
  return result
}
