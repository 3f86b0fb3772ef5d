/**
 * Signed opaque tokens for restore and unsubscribe links, keyed hashes for the suppression list
 * and deterministic Message-IDs. All keys derive from the one `secret` option.
 *
 * A token is 50 base64url characters: 21 bytes of payload (1 byte kind, 16 random bytes naming a
 * stored record, 4 bytes expiry in epoch seconds, 0 = never) followed by a 16-byte truncated
 * HMAC-SHA256 of the payload. The random part makes it unguessable (128 bits) and carries no
 * personal data; the MAC makes tampering and foreign secrets fail before any store lookup.
 */
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto'
import { RelanceError } from './errors.js'

export type TokenKind = 'restore' | 'unsubscribe'

const KIND_BYTE: Record<TokenKind, number> = { restore: 0x52, unsubscribe: 0x55 }
const ID_BYTES = 16
const PAYLOAD_BYTES = 1 + ID_BYTES + 4
const MAC_BYTES = 16
const TOKEN_LENGTH = Math.ceil(((PAYLOAD_BYTES + MAC_BYTES) * 4) / 3)

// Random bytes come from a pool refilled 4 KiB at a time: one system call per 256 ids instead
// of one per id (the per-call cost showed up in trackCart profiles).
const pool = Buffer.alloc(4096)
let poolOffset = pool.length

/** A fresh random id (128 bits, base64url, 22 characters) for a profile, a send or a link. */
export function randomId(): string {
  if (poolOffset + ID_BYTES > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES)
  poolOffset += ID_BYTES
  return id
}

let lastMs = -Infinity
let sequence = 0

/**
 * A fresh id that sorts by creation: the time (milliseconds, hex), a counter within the same
 * millisecond, then 128 random bits. Rows keyed by it are inserted at the end of their indexes
 * instead of at random places, so a burst of new visitors touches a few index pages, not one per
 * visitor per index. Used for profile ids, which are never part of a link.
 */
export function orderedId(at: Date): string {
  let ms = at.getTime()
  if (ms <= lastMs) {
    ms = lastMs
    sequence++
  } else {
    lastMs = ms
    sequence = 0
  }
  // Written into one buffer and read back as one flat string: joined with `+`, the three parts
  // stay a tree of four strings (about 200 bytes instead of 90 for every id a store holds).
  let length = idScratch.write(ms.toString(16).padStart(12, '0'), 0, 'latin1')
  length += idScratch.write(sequence.toString(16).padStart(6, '0'), length, 'latin1')
  length += idScratch.write(randomId(), length, 'latin1')
  return idScratch.toString('latin1', 0, length)
}

const idScratch = Buffer.alloc(64)

export interface Keys {
  sign(data: Buffer): Buffer
  /** HMAC of a normalised email for the suppression list (hex). */
  emailKey(email: string): string
  /** A stable, non-reversible tag for cart + step, used inside Message-IDs. */
  messageTag(cartId: string, step: string): string
}

export function deriveKeys(secret: string): Keys {
  const derive = (purpose: string) => createHmac('sha256', secret).update(`relance:${purpose}`).digest()
  const tokenKey = derive('token')
  const suppressionKey = derive('suppression')
  const messageKey = derive('message-id')
  return {
    sign: (data) => createHmac('sha256', tokenKey).update(data).digest().subarray(0, MAC_BYTES),
    emailKey: (email) => createHmac('sha256', suppressionKey).update(email).digest('hex'),
    messageTag: (cartId, step) =>
      createHmac('sha256', messageKey).update(`${cartId}\u0000${step}`).digest('base64url').slice(0, 24),
  }
}

export function signToken(keys: Keys, kind: TokenKind, id: string, expiresAt: Date | null): string {
  const idBytes = Buffer.from(id, 'base64url')
  if (idBytes.length !== ID_BYTES) throw new Error(`token id must be ${ID_BYTES} bytes`)
  const payload = Buffer.alloc(PAYLOAD_BYTES)
  payload[0] = KIND_BYTE[kind]
  idBytes.copy(payload, 1)
  payload.writeUInt32BE(expiresAt === null ? 0 : Math.ceil(expiresAt.getTime() / 1000), 1 + ID_BYTES)
  return Buffer.concat([payload, keys.sign(payload)]).toString('base64url')
}

/**
 * Checks the MAC, then the kind, then the expiry. Throws `TOKEN_INVALID` for anything malformed,
 * tampered or signed with another secret, `TOKEN_EXPIRED` for a genuine but expired token.
 */
export function verifyToken(keys: Keys, kind: TokenKind, token: unknown, now: Date): { id: string; expiresAt: Date | null } {
  const invalid = () => new RelanceError('TOKEN_INVALID', `the ${kind} token is invalid`, { field: 'token' })
  if (typeof token !== 'string' || token.length !== TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid()
  const bytes = Buffer.from(token, 'base64url')
  if (bytes.length !== PAYLOAD_BYTES + MAC_BYTES) throw invalid()
  const payload = bytes.subarray(0, PAYLOAD_BYTES)
  if (!timingSafeEqual(bytes.subarray(PAYLOAD_BYTES), keys.sign(payload))) throw invalid()
  if (payload[0] !== KIND_BYTE[kind]) throw invalid()
  const seconds = payload.readUInt32BE(1 + ID_BYTES)
  const expiresAt = seconds === 0 ? null : new Date(seconds * 1000)
  if (expiresAt !== null && now.getTime() >= expiresAt.getTime()) {
    throw new RelanceError('TOKEN_EXPIRED', `the ${kind} link expired on ${expiresAt.toISOString()}`, { field: 'token' })
  }
  return { id: payload.subarray(1, 1 + ID_BYTES).toString('base64url'), expiresAt }
}

export function tokenUrl(template: string, token: string): string {
  return template.replace('{token}', encodeURIComponent(token))
}
