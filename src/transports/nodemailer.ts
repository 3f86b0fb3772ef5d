import type DKIM from 'nodemailer/lib/dkim/index.js'
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js'
import { RelanceError, invalidConfig } from '../errors.js'
import { classifyTransportError } from './classify.js'
import { toMailOptions, type MailOptionsLike } from './mail-options.js'
import { connectWithoutNagle } from './no-delay-socket.js'
import type { OutgoingMessage, SendReceipt, Transport } from './types.js'

/** What nodemailer reports for an accepted message (`SentMessageInfo`), as far as relance reads it. */
export interface SentInfoLike {
  messageId?: string
  /** The server's last reply, e.g. `250 2.0.0 Ok: queued as 4F2…`. */
  response?: string
  accepted?: Array<string | { address: string }>
  rejected?: Array<string | { address: string }>
  /** One error per rejected recipient (SMTP `RCPT TO` or LMTP replies). */
  rejectedErrors?: unknown[]
}

/**
 * The part of a nodemailer `Transporter` relance uses. Any object with this shape works: a pooled
 * SMTP transporter, an SES transporter, a test double.
 */
export interface TransporterLike {
  sendMail(mail: MailOptionsLike): Promise<SentInfoLike>
  close?(): void
}

/** nodemailer's SMTP options (`host`, `port`, `secure`, `auth`, `tls`, `maxConnections`…). */
export type SmtpOptions = Omit<SMTPPool.Options, 'pool'> & { pool?: boolean }

/** nodemailer's DKIM options: `{ domainName, keySelector, privateKey }` or `{ keys: [...] }`. */
export type DkimOptions = DKIM.Options

interface CommonOptions {
  /**
   * Most messages per second the engine hands to this transport (the engine enforces it).
   * @default undefined (no limit)
   */
  maxPerSecond?: number
}

export interface NodemailerTransporterOptions extends CommonOptions {
  /**
   * A transporter made by `nodemailer.createTransport(…)`, configured by the shop (pooling, DKIM,
   * credentials). The shop owns it: `close()` leaves it open.
   */
  transporter: TransporterLike
  smtp?: never
  pool?: never
  dkim?: never
}

export interface NodemailerSmtpOptions extends CommonOptions {
  /**
   * The SMTP server: an `smtp://user:pass@host:port` or `smtps://…` URL (nodemailer's URL syntax,
   * query parameters included), or nodemailer's SMTP options object.
   */
  smtp: string | SmtpOptions
  /**
   * Keep up to `maxConnections` (nodemailer's default: 5) connections open and reuse them. Without
   * a pool every message pays a new connection, greeting and EHLO: about 105 ms per message
   * against a local smtp-server (which, like many MTAs, delays its greeting), against about 3 ms
   * pooled.
   * @default true (unless the URL or options object sets `pool`)
   */
  pool?: boolean
  /**
   * Sign every message with DKIM (nodemailer's `dkim` option).
   * @default undefined (no signature; the relay may sign)
   */
  dkim?: DkimOptions
  transporter?: never
}

export type NodemailerTransportOptions = NodemailerTransporterOptions | NodemailerSmtpOptions

const KNOWN_OPTIONS = new Set(['transporter', 'smtp', 'pool', 'dkim', 'maxPerSecond'])

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Throws unless `value` is an `smtp:` or `smtps:` URL with a host. Never echoes it: it may hold a password. */
function checkSmtpUrl(field: string, value: unknown): string {
  if (typeof value !== 'string') throw invalidConfig(field, 'must be a string URL (smtp://host:port or smtps://host:port)')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw invalidConfig(field, 'must be a valid URL (smtp://host:port or smtps://host:port)')
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    throw invalidConfig(field, `must use the smtp: or smtps: scheme, not ${url.protocol}`)
  }
  if (url.hostname === '') throw invalidConfig(field, 'must name a host (smtp://host:port)')
  return value
}

function checkDkim(dkim: unknown): void {
  if (!isPlainObject(dkim)) throw invalidConfig('dkim', 'must be an object { domainName, keySelector, privateKey } or { keys: [...] }')
  const keys = dkim.keys === undefined ? [dkim] : dkim.keys
  if (!Array.isArray(keys) || keys.length === 0) throw invalidConfig('dkim.keys', 'must be a non-empty array')
  keys.forEach((key: unknown, index) => {
    const field = dkim.keys === undefined ? 'dkim' : `dkim.keys[${index}]`
    for (const name of ['domainName', 'keySelector', 'privateKey']) {
      const value = isPlainObject(key) ? key[name] : undefined
      if (typeof value !== 'string' || value.trim() === '') {
        throw invalidConfig(`${field}.${name}`, 'must be a non-empty string')
      }
    }
  })
}

function checkOptions(options: unknown): NodemailerTransportOptions {
  if (!isPlainObject(options)) throw invalidConfig('nodemailerTransport', 'takes an options object { transporter } or { smtp }')
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw invalidConfig(key, `is unknown (known: ${[...KNOWN_OPTIONS].join(', ')})`)
  }
  const hasTransporter = options.transporter !== undefined
  const hasSmtp = options.smtp !== undefined
  if (hasTransporter && hasSmtp) throw invalidConfig('transporter', 'and smtp are exclusive: give only one of them')
  if (!hasTransporter && !hasSmtp) {
    throw invalidConfig('smtp', 'is required (an smtp:// URL or SMTP options), unless a nodemailer transporter is given')
  }
  if (hasTransporter) {
    if (!isPlainObject(options.transporter) || typeof options.transporter.sendMail !== 'function') {
      throw invalidConfig('transporter', 'must be a nodemailer Transporter (an object with a sendMail method)')
    }
    if (options.pool !== undefined) throw invalidConfig('pool', 'only applies to smtp; configure pooling on your transporter')
    if (options.dkim !== undefined) throw invalidConfig('dkim', 'only applies to smtp; configure DKIM on your transporter')
  } else if (typeof options.smtp === 'string') {
    checkSmtpUrl('smtp', options.smtp)
  } else if (isPlainObject(options.smtp)) {
    const smtp = options.smtp
    if (smtp.url !== undefined) checkSmtpUrl('smtp.url', smtp.url)
    else if (typeof smtp.host !== 'string' && typeof smtp.service !== 'string') {
      throw invalidConfig('smtp', 'must name a server: host, service or url')
    }
  } else {
    throw invalidConfig('smtp', 'must be an smtp:// or smtps:// URL or a nodemailer SMTP options object')
  }
  if (options.pool !== undefined && typeof options.pool !== 'boolean') throw invalidConfig('pool', 'must be a boolean')
  if (options.dkim !== undefined) checkDkim(options.dkim)
  const max = options.maxPerSecond
  if (max !== undefined && (typeof max !== 'number' || !Number.isFinite(max) || max <= 0)) {
    throw invalidConfig('maxPerSecond', 'must be a finite number greater than 0')
  }
  return options as unknown as NodemailerTransportOptions
}

/** Builds the SMTP transporter; the only place that loads nodemailer, and only for `{ smtp }`. */
async function createSmtpTransporter(options: NodemailerSmtpOptions): Promise<TransporterLike> {
  let nodemailer: typeof import('nodemailer')
  let shared: typeof import('nodemailer/lib/shared/index.js')
  try {
    nodemailer = (await import('nodemailer')).default
    shared = (await import('nodemailer/lib/shared/index.js')).default
  } catch (error) {
    throw new RelanceError('INVALID_CONFIG', 'option smtp needs the nodemailer package: npm install nodemailer', {
      cause: error,
      field: 'smtp',
    })
  }
  const given = typeof options.smtp === 'string' ? { url: options.smtp } : options.smtp
  // createTransport ignores every other key when it sees `url`, so the URL is expanded first.
  const { url, ...rest } = given
  const base = url === undefined ? rest : { ...shared.parseConnectionUrl(url), ...rest }
  const pool = options.pool ?? (base as { pool?: unknown }).pool ?? true
  const resolved: Record<string, unknown> = { ...base, pool: pool === true }
  if (options.dkim) resolved.dkim = options.dkim
  // A proxy or the shop's own socket factory decides how to connect; otherwise we open the socket.
  if (resolved.proxy === undefined && resolved.getSocket === undefined) resolved.getSocket = connectWithoutNagle
  return nodemailer.createTransport(resolved as unknown as SMTPPool.Options) as unknown as TransporterLike
}

function addressOf(entry: string | { address: string }): string {
  return (typeof entry === 'string' ? entry : entry.address).toLowerCase()
}

/**
 * Sends through nodemailer: an SMTP server (`{ smtp }`, pooled by default) or any transporter the
 * shop already has (`{ transporter }`). Resolves once the server accepted the message; rejects
 * with `RelanceError('TRANSPORT_ERROR')`, `permanent` for a 5xx refusal of the recipient.
 */
export function nodemailerTransport(options: NodemailerTransportOptions): Transport {
  const checked = checkOptions(options)
  const shops = checked.transporter
  const transporter = shops === undefined ? createSmtpTransporter(checked as NodemailerSmtpOptions) : Promise.resolve(shops)
  // A missing nodemailer surfaces on the first send; keep it from being an unhandled rejection now.
  transporter.catch(() => {})
  let closed = false

  return {
    name: shops === undefined ? 'smtp' : 'nodemailer',
    ...(checked.maxPerSecond === undefined ? {} : { maxPerSecond: checked.maxPerSecond }),

    async send(message: OutgoingMessage): Promise<SendReceipt> {
      if (closed) throw new RelanceError('TRANSPORT_ERROR', 'transport failed: the transport is closed')
      const mail = toMailOptions(message)
      let info: SentInfoLike
      try {
        info = await (await transporter).sendMail(mail)
      } catch (error) {
        throw error instanceof RelanceError && error.code !== 'TRANSPORT_ERROR' ? error : classifyTransportError(error)
      }
      // SMTP rejects a lone refused recipient, but LMTP and some API transports resolve and list it.
      const recipient = mail.to.toLowerCase()
      if (info.rejected?.some((entry) => addressOf(entry) === recipient)) {
        const cause =
          info.rejectedErrors?.[0] ??
          Object.assign(new Error('Recipient rejected'), {
            code: 'EENVELOPE',
            ...(info.response === undefined ? {} : { response: info.response }),
          })
        throw classifyTransportError(cause)
      }
      const queued = info.response === undefined ? undefined : /queued as\s+([^\s;,]+)/i.exec(info.response)?.[1]
      const providerId = queued ?? (info.messageId !== undefined && info.messageId !== mail.messageId ? info.messageId : undefined)
      return {
        ...(providerId === undefined ? {} : { providerId }),
        ...(info.response === undefined ? {} : { response: info.response }),
      }
    },

    async close(): Promise<void> {
      if (closed) return
      closed = true
      if (shops !== undefined) return
      const created = await transporter.catch(() => undefined)
      created?.close?.()
    },
  }
}
