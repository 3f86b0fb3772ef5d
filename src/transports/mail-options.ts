import { RelanceError } from '../errors.js'
import type { OutgoingMessage } from './types.js'

/** A mailbox as nodemailer takes it: the display name is encoded (RFC 2047) and quoted by nodemailer. */
export interface MailboxLike {
  name: string
  address: string
}

/**
 * The subset of nodemailer's message options (`Mail.Options`) relance sets. Structural, so the
 * `{ transporter }` path needs nothing from nodemailer, not even its types.
 */
export interface MailOptionsLike {
  from: string | MailboxLike
  to: string
  /** The SMTP envelope, given explicitly so that `RCPT TO` is exactly `to` whatever the headers say. */
  envelope: { from: string; to: string[] }
  replyTo?: string | MailboxLike
  subject: string
  text: string
  html: string
  messageId: string
  headers: Record<string, string>
  disableFileAccess: boolean
  disableUrlAccess: boolean
}

/** Headers that have their own `OutgoingMessage` field or that nodemailer owns. */
const RESERVED_HEADERS = new Set([
  'from', 'to', 'cc', 'bcc', 'reply-to', 'sender', 'subject', 'message-id', 'date', 'mime-version',
  'content-type', 'content-transfer-encoding', 'return-path',
])

/** One bare address: no display name, list separator, bracket, quote or space that could add a recipient. */
const SINGLE_ADDRESS = /^[^\s@<>,;:"()[\]\\]+@[^\s@<>,;:"()[\]\\]+$/

/** RFC 5322 field name: printable US-ASCII except the colon. */
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/

/**
 * The engine promises values without CR or LF, but names and subjects come from shop and customer
 * data: a line break that slipped through must never start a new header line, so it becomes a space.
 */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ')
}

/**
 * Splits `Maison Dupré <bonjour@shop.example>` into name and address and hands nodemailer the pair.
 * Given the whole string, nodemailer's address parser would read a comma in the shop name as a
 * second mailbox and a colon as a group, and send from something else than the shop configured.
 */
export function parseMailbox(value: string): string | MailboxLike {
  const line = oneLine(value).trim()
  const match = /^(.*?)\s*<([^<>]*)>$/.exec(line)
  if (!match) return line
  let name = (match[1] ?? '').trim()
  if (name.length >= 2 && name.startsWith('"') && name.endsWith('"')) {
    name = name.slice(1, -1).replace(/\\(.)/g, '$1')
  }
  const address = (match[2] ?? '').trim()
  return name === '' ? address : { name, address }
}

/** The nodemailer message for one `OutgoingMessage`; shared by the SMTP and outbox transports. */
export function toMailOptions(message: OutgoingMessage): MailOptionsLike {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(message.headers)) {
    if (!HEADER_NAME.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) {
      throw new RelanceError(
        'INVALID_INPUT',
        `headers.${name} is not allowed: a header name must be printable ASCII without a colon and not one of ${[...RESERVED_HEADERS].join(', ')}`,
        { field: `headers.${name}` },
      )
    }
    headers[name] = oneLine(value)
  }
  const to = message.to.trim()
  if (!SINGLE_ADDRESS.test(to)) {
    throw new RelanceError('INVALID_INPUT', 'to must be one bare email address (no name, list or line break)', { field: 'to' })
  }
  const from = parseMailbox(message.from)
  return {
    from,
    to,
    envelope: { from: typeof from === 'string' ? from : from.address, to: [to] },
    ...(message.replyTo === null ? {} : { replyTo: parseMailbox(message.replyTo) }),
    subject: oneLine(message.subject),
    text: message.text,
    html: message.html,
    messageId: oneLine(message.messageId).trim(),
    headers,
    // Content is always given inline; never let a value be read as a file path or a URL to fetch.
    disableFileAccess: true,
    disableUrlAccess: true,
  }
}
