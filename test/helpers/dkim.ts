/**
 * A small DKIM verifier for tests (RFC 6376, `rsa-sha256`, `relaxed/relaxed` as nodemailer signs):
 * proves a received message carries a valid signature for a known public key, without DNS.
 */
import { createHash, verify, type KeyObject } from 'node:crypto'

export interface DkimCheck {
  /** The signature's tags (`d`, `s`, `h`, `bh`, `b`…). */
  tags: Record<string, string>
  bodyHashMatches: boolean
  signatureValid: boolean
}

interface Field {
  name: string
  raw: string
}

function splitMessage(raw: string): { fields: Field[]; body: string } {
  const end = raw.indexOf('\r\n\r\n')
  const head = end === -1 ? raw : raw.slice(0, end + 2)
  const body = end === -1 ? '' : raw.slice(end + 4)
  const fields: Field[] = []
  for (const line of head.split(/(?<=\r\n)/)) {
    if (line === '') continue
    const last = fields.at(-1)
    if (/^[ \t]/.test(line) && last) last.raw += line
    else fields.push({ name: line.slice(0, line.indexOf(':')).trim().toLowerCase(), raw: line })
  }
  return { fields, body }
}

function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(':')
  const name = raw.slice(0, colon).trim().toLowerCase()
  const value = raw.slice(colon + 1).replace(/\r\n(?=[ \t])/g, '').replace(/\r\n$/, '').replace(/[ \t]+/g, ' ').trim()
  return `${name}:${value}`
}

function relaxedBody(body: string): string {
  const lines = body.split('\r\n').map((line) => line.replace(/[ \t]+/g, ' ').replace(/ $/, ''))
  while (lines.length > 0 && lines.at(-1) === '') lines.pop()
  return lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`
}

/** Checks the first `DKIM-Signature` of `raw` (CRLF line endings, as received) against `publicKey`. */
export function checkDkim(raw: Buffer | string, publicKey: KeyObject): DkimCheck {
  const { fields, body } = splitMessage(raw.toString('latin1'))
  const signature = fields.find((field) => field.name === 'dkim-signature')
  if (!signature) throw new Error('no DKIM-Signature header')
  const tags: Record<string, string> = {}
  for (const part of relaxedHeader(signature.raw).slice('dkim-signature:'.length).split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) tags[part.slice(0, eq).trim()] = part.slice(eq + 1).replace(/\s+/g, '')
  }
  if (tags.a !== 'rsa-sha256' || tags.c !== 'relaxed/relaxed') throw new Error(`unsupported a=${tags.a} c=${tags.c}`)

  const bodyHash = createHash('sha256').update(relaxedBody(body), 'latin1').digest('base64')

  const used = new Set<Field>()
  let signed = ''
  for (const name of (tags.h ?? '').split(':').map((value) => value.trim().toLowerCase())) {
    const field = fields.findLast((candidate) => candidate.name === name && !used.has(candidate))
    if (!field) continue
    used.add(field)
    signed += `${relaxedHeader(field.raw)}\r\n`
  }
  signed += relaxedHeader(signature.raw.replace(/(^|;)(\s*b\s*=)[^;]*/, '$1$2'))
  const signatureValid = verify('sha256', Buffer.from(signed, 'latin1'), publicKey, Buffer.from(tags.b ?? '', 'base64'))
  return { tags, bodyHashMatches: bodyHash === tags.bh, signatureValid }
}
