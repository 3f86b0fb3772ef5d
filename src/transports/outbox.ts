import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { RelanceError, invalidConfig } from '../errors.js'
import { classifyTransportError } from './classify.js'
import { toMailOptions, type MailOptionsLike } from './mail-options.js'
import type { OutgoingMessage, SendReceipt, Transport } from './types.js'

export interface OutboxTransportOptions {
  /** Folder that receives the files; created (with its parents) on the first send. */
  dir: string
  /** See `Transport.maxPerSecond`. @default undefined (no limit) */
  maxPerSecond?: number
}

/** One message written by the outbox transport. */
export interface OutboxFile {
  /** Position in the folder, continuing after files already there. */
  seq: number
  /** Path of the RFC 5322 message (`<dir>/<seq>-<step>-<to>.eml`), openable by any mail client. */
  eml: string
  /** Path of the HTML part alone, for a browser. */
  html: string
  to: string
  subject: string
  step: string
  messageId: string
}

export interface OutboxTransport extends Transport {
  readonly dir: string
  /** Every file pair written by this transport, oldest first. */
  readonly files: readonly OutboxFile[]
}

const SEQ_DIGITS = 4

/** Keeps a file-name part to a safe alphabet: an address or step id can never climb out of `dir`. */
function safePart(value: string): string {
  const safe = value.replace(/[^A-Za-z0-9@._+-]+/g, '_').replace(/\.{2,}/g, '_').replace(/^[.-]+/, '')
  return safe.slice(0, 64) || '_'
}

async function highestSeq(dir: string): Promise<number> {
  let highest = 0
  for (const name of await readdir(dir)) {
    const seq = /^(\d+)-.*\.eml$/.exec(name)?.[1]
    if (seq !== undefined) highest = Math.max(highest, Number(seq))
  }
  return highest
}

/** nodemailer's stream transport with `buffer: true`: resolves with the whole message. */
interface ComposerLike {
  sendMail(mail: MailOptionsLike & { newline: 'windows' }): Promise<{ message?: unknown }>
}

async function createComposer(): Promise<ComposerLike> {
  let nodemailer: typeof import('nodemailer')
  try {
    nodemailer = (await import('nodemailer')).default
  } catch (error) {
    throw new RelanceError('INVALID_CONFIG', 'outboxTransport needs the nodemailer package: npm install nodemailer', {
      cause: error,
      field: 'dir',
    })
  }
  // streamTransport runs the same pipeline as SMTP (MailComposer, header encoding, Message-ID),
  // so the .eml files carry exactly the bytes a server would receive.
  return nodemailer.createTransport({ streamTransport: true, buffer: true })
}

/**
 * A development transport: writes each message to `dir` as a real `.eml` file (open it in a mail
 * client) and its HTML part beside it (open it in a browser). Nothing leaves the machine.
 */
export function outboxTransport(options: OutboxTransportOptions): OutboxTransport {
  if (typeof options !== 'object' || options === null) throw invalidConfig('outboxTransport', 'takes an options object { dir }')
  if (typeof options.dir !== 'string' || options.dir.trim() === '') throw invalidConfig('dir', 'must be a non-empty path')
  const max = options.maxPerSecond
  if (max !== undefined && (typeof max !== 'number' || !Number.isFinite(max) || max <= 0)) {
    throw invalidConfig('maxPerSecond', 'must be a finite number greater than 0')
  }
  const dir = options.dir
  const files: OutboxFile[] = []
  let ready: Promise<{ composer: ComposerLike; next: () => number }> | undefined

  function prepare(): NonNullable<typeof ready> {
    if (ready) return ready
    const preparing = (async () => {
      const composer = await createComposer()
      await mkdir(dir, { recursive: true })
      let seq = await highestSeq(dir)
      return { composer, next: () => ++seq }
    })()
    // A failed preparation (missing nodemailer, unwritable folder) is tried again on the next send.
    preparing.catch(() => {
      if (ready === preparing) ready = undefined
    })
    ready = preparing
    return preparing
  }

  return {
    name: 'outbox',
    ...(max === undefined ? {} : { maxPerSecond: max }),
    dir,
    files,

    async send(message: OutgoingMessage): Promise<SendReceipt> {
      const mail = toMailOptions(message)
      try {
        const { composer, next } = await prepare()
        // CRLF everywhere, as on the wire (the SMTP client converts; here nodemailer must be told).
        const info = await composer.sendMail({ ...mail, newline: 'windows' })
        if (!Buffer.isBuffer(info.message)) throw new Error('nodemailer streamTransport returned no buffer')
        // `wx` never overwrites: another writer in the same folder just pushes us to the next number.
        for (;;) {
          const seq = next()
          const base = join(dir, `${String(seq).padStart(SEQ_DIGITS, '0')}-${safePart(message.meta.step)}-${safePart(mail.to)}`)
          const file: OutboxFile = {
            seq,
            eml: `${base}.eml`,
            html: `${base}.html`,
            to: mail.to,
            subject: mail.subject,
            step: message.meta.step,
            messageId: mail.messageId,
          }
          try {
            await writeFile(file.eml, info.message, { flag: 'wx' })
          } catch (error) {
            if ((error as { code?: unknown }).code === 'EEXIST') continue
            throw error
          }
          await writeFile(file.html, message.html, { flag: 'w' })
          files.push(file)
          return { response: `250 written to ${file.eml}` }
        }
      } catch (error) {
        throw error instanceof RelanceError && error.code !== 'TRANSPORT_ERROR' ? error : classifyTransportError(error)
      }
    },
  }
}
