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

/** Takes `ID_BYTES` fresh random bytes from the pool: returns where they start in `pool`. */
function takeRandomBytes(): number {
  if (poolOffset + ID_BYTES > pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const start = poolOffset
  poolOffset += ID_BYTES
  return start
}

/** A fresh random id (128 bits, base64url, 22 characters) for a profile, a send or a link. */
export function randomId(): string {
  const start = takeRandomBytes()
  return pool.toString('base64url', start, start + ID_BYTES)
}

let lastMs = -Infinity
let sequence = 0

const HEX = [...'0123456789abcdef'].map((c) => c.charCodeAt(0))
const BASE64URL = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].map((c) => c.charCodeAt(0))
/** The character codes of the id being built (12 + 6 hex digits, 22 base64url characters). */
const idCodes: number[] = new Array(40).fill(0)

/**
 * A fresh id that sorts by creation: the time (milliseconds, hex), a counter within the same
 * millisecond, then 128 random bits. Rows keyed by it are inserted at the end of their indexes
 * instead of at random places, so a burst of new visitors touches a few index pages, not one per
 * visitor per index. Used for profile ids, which are never part of a link.
 *
 * Built as character codes and made a string in one call: the string is flat (joined with `+`,
 * three parts stay a tree of four strings, about 200 bytes instead of 90 for every id a store
 * holds), and no Buffer call is made per id (five of them were 5 % of a new visitor's trackCart).
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
  // Beyond 12 and 6 hex digits (the year 10889; 16.7 million ids in one millisecond), the parts
  // grow by a digit, as `padStart` would have them.
  if (ms >= 16 ** 12 || sequence >= 16 ** 6) {
    return ms.toString(16).padStart(12, '0') + sequence.toString(16).padStart(6, '0') + randomId()
  }
  for (let i = 11, rest = ms; i >= 0; i--, rest = Math.floor(rest / 16)) idCodes[i] = HEX[rest % 16]!
  for (let i = 17, rest = sequence; i >= 12; i--, rest >>>= 4) idCodes[i] = HEX[rest & 15]!
  // base64url of 16 bytes: five groups of three bytes (four characters each), then one byte (two).
  let k = 18
  let p = takeRandomBytes()
  for (let group = 0; group < 5; group++, p += 3) {
    const bits = (pool[p]! << 16) | (pool[p + 1]! << 8) | pool[p + 2]!
    idCodes[k++] = BASE64URL[bits >>> 18]!
    idCodes[k++] = BASE64URL[(bits >>> 12) & 63]!
    idCodes[k++] = BASE64URL[(bits >>> 6) & 63]!
    idCodes[k++] = BASE64URL[bits & 63]!
  }
  idCodes[k++] = BASE64URL[pool[p]! >>> 2]!
  idCodes[k] = BASE64URL[(pool[p]! & 3) << 4]!
  return String.fromCharCode.apply(null, idCodes)
}

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
