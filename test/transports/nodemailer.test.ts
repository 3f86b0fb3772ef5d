import { generateKeyPairSync } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import nodemailer from 'nodemailer'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RelanceError, isRelanceError } from '../../src/errors.js'
import { nodemailerTransport, type NodemailerTransportOptions } from '../../src/nodemailer.js'
import type { Transport } from '../../src/transports/types.js'
import { checkDkim } from '../helpers/dkim.js'
import { headerSection, mimeParts, rawHeader } from '../helpers/mime.js'
import { startSmtpServer, type SmtpTestServer } from '../helpers/smtp-server.js'
import { RESTORE_URL, UNSUBSCRIBE_URL, outgoing } from './fixtures.js'

let server: SmtpTestServer
const opened: Transport[] = []

/** A transport against the test server, closed after the test. */
function transport(options: Partial<NodemailerTransportOptions> = {}): Transport {
  const created = nodemailerTransport({ smtp: server.url, ...options } as NodemailerTransportOptions)
  opened.push(created)
  return created
}

async function rejection(promise: Promise<unknown>): Promise<RelanceError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the send to be rejected')
    },
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(RelanceError)
  return error as RelanceError
}

beforeAll(async () => {
  server = await startSmtpServer()
})

afterAll(async () => {
  await server.stop()
})

beforeEach(() => {
  server.reset()
})

afterEach(async () => {
  await Promise.all(opened.splice(0).map((created) => created.close?.()))
})

describe('nodemailerTransport over SMTP', () => {
  it('delivers a multipart/alternative UTF-8 message with a text and an HTML part', async () => {
    const message = outgoing()
    await transport().send(message)
    const [received] = server.messages
    expect(received).toBeDefined()
    const { parsed, raw } = received!
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' })
    const parts = await mimeParts(parsed, raw)
    expect(parts.map((part) => part.headers.get('content-type'))).toEqual([
      { value: 'text/plain', params: { charset: 'utf-8' } },
      { value: 'text/html', params: { charset: 'utf-8' } },
    ])
    expect(parts[0]!.text).toBe(message.text)
    expect(parts[1]!.html).toBe(message.html)
    // Headers are 7-bit: every non-ASCII character is RFC 2047-encoded, none sent raw.
    expect(headerSection(raw)).toMatch(/^[\x20-\x7e\r\n\t]*$/)
    expect(raw.toString('latin1').replaceAll('\r\n', '')).not.toMatch(/[\r\n]/)
  })

  it('sets From, To, Reply-To, Subject and the given Message-ID, accents and emoji included', async () => {
    const message = outgoing()
    await transport().send(message)
    const { parsed, raw, envelope } = server.messages[0]!
    expect(parsed.from?.value).toEqual([{ name: 'Maison Dupré', address: 'bonjour@shop.example' }])
    expect(parsed.replyTo?.value).toEqual([{ name: 'Service client Dupré', address: 'service@shop.example' }])
    expect(parsed.to).toMatchObject({ value: [{ address: 'jeanne.leclerc@example.com', name: '' }] })
    expect(parsed.subject).toBe('Jérôme, votre panier vous attend 🛒 — à très vite')
    expect(rawHeader(raw, 'Message-ID')).toBe('<relance.cart-42.reminder.7f3a9c@shop.example>')
    expect(parsed.messageId).toBe(message.messageId)
    expect(envelope).toEqual({ from: 'bonjour@shop.example', to: ['jeanne.leclerc@example.com'] })
  })

  it('carries the one-click unsubscribe headers verbatim (RFC 8058)', async () => {
    await transport().send(outgoing())
    const { raw } = server.messages[0]!
    expect(rawHeader(raw, 'List-Unsubscribe')).toBe(`<${UNSUBSCRIBE_URL}>`)
    expect(rawHeader(raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
  })

  it('keeps long links with = and & intact through quoted-printable', async () => {
    const message = outgoing()
    await transport().send(message)
    const { parsed, raw } = server.messages[0]!
    // The wire form is really encoded (soft line breaks, `=3D`), so the decoding is what is tested.
    expect(raw.toString('latin1')).not.toContain(RESTORE_URL)
    expect(raw.toString('latin1')).toContain('=3D')
    expect(parsed.html).toContain(`href="${RESTORE_URL.replaceAll('&', '&amp;')}"`)
    expect(parsed.html).toContain(`href="${UNSUBSCRIBE_URL.replaceAll('&', '&amp;')}"`)
    expect(parsed.text).toContain(RESTORE_URL)
  })

  it('resolves with the server response once the message is accepted', async () => {
    const smtp = transport()
    expect(smtp.name).toBe('smtp')
    expect(smtp.maxPerSecond).toBeUndefined()
    const receipt = await smtp.send(outgoing())
    expect(receipt.response).toMatch(/^250 /)
    expect(receipt.providerId).toBe('m1')
    expect(server.acceptedCount).toBe(1)
  })

  it('keeps a comma or a colon in the shop name inside the display name', async () => {
    await transport().send(outgoing({ from: 'Dupré & Fils, Paris: depuis 1920 <bonjour@shop.example>', replyTo: null }))
    const { parsed } = server.messages[0]!
    expect(parsed.from?.value).toEqual([{ name: 'Dupré & Fils, Paris: depuis 1920', address: 'bonjour@shop.example' }])
    expect(parsed.replyTo).toBeUndefined()
  })

  it('reuses one pooled connection for successive messages by default', async () => {
    const smtp = transport()
    for (let index = 0; index < 4; index += 1) {
      await smtp.send(outgoing({ messageId: `<m${index}@shop.example>` }))
    }
    expect(server.acceptedCount).toBe(4)
    expect(server.connectionCount).toBe(1)
    expect(new Set(server.messages.map((message) => message.sessionId)).size).toBe(1)
  })

  it('opens one connection per message with pool: false', async () => {
    const smtp = transport({ pool: false })
    for (let index = 0; index < 3; index += 1) {
      await smtp.send(outgoing({ messageId: `<m${index}@shop.example>` }))
    }
    expect(server.connectionCount).toBe(3)
  })

  it('sends concurrent messages over at most the pool size', async () => {
    const smtp = transport({ smtp: { host: server.host, port: server.port, maxConnections: 2 } })
    await Promise.all(
      Array.from({ length: 12 }, (_, index) => smtp.send(outgoing({ messageId: `<c${index}@shop.example>` }))),
    )
    expect(server.acceptedCount).toBe(12)
    expect(server.connectionCount).toBeLessThanOrEqual(2)
    expect(new Set(server.messages.map((message) => message.parsed.messageId)).size).toBe(12)
  })

  it('closes the pool on close()', async () => {
    const smtp = transport()
    await smtp.send(outgoing())
    expect(server.openConnections).toBe(1)
    await smtp.close?.()
    await server.waitForNoConnections()
    expect(server.openConnections).toBe(0)
    const error = await rejection(smtp.send(outgoing()))
    expect(error.code).toBe('TRANSPORT_ERROR')
  })
})

describe('nodemailerTransport failures', () => {
  it('turns a 550 refusal of the recipient into a permanent TRANSPORT_ERROR', async () => {
    server.rejectRecipient('gone@example.com', 550)
    const smtp = transport()
    const error = await rejection(smtp.send(outgoing({ to: 'gone@example.com' })))
    expect(error.code).toBe('TRANSPORT_ERROR')
    expect(error.permanent).toBe(true)
    expect(error.details?.responseCode).toBe(550)
    expect(server.acceptedCount).toBe(0)
    // The refusal does not spoil the pooled connection.
    await smtp.send(outgoing())
    expect(server.messages.map((message) => message.envelope.to)).toEqual([['jeanne.leclerc@example.com']])
  })

  it('turns a 554 after the data into a permanent TRANSPORT_ERROR', async () => {
    server.failNext(1, 554)
    const error = await rejection(transport().send(outgoing()))
    expect(error).toMatchObject({ code: 'TRANSPORT_ERROR', permanent: true, details: { responseCode: 554 } })
  })

  it('turns a 451 into a transient TRANSPORT_ERROR, and the next attempt goes through', async () => {
    server.failNext(2, 451)
    const smtp = transport()
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const error = await rejection(smtp.send(outgoing()))
      expect(error).toMatchObject({ code: 'TRANSPORT_ERROR', permanent: false, details: { responseCode: 451 } })
    }
    await smtp.send(outgoing())
    expect(server.acceptedCount).toBe(1)
    expect(server.refused.map((attempt) => attempt.reply)).toEqual([{ code: 451 }, { code: 451 }])
  })

  it('turns a 450 at RCPT TO into a transient TRANSPORT_ERROR', async () => {
    server.reply({ stage: 'rcpt', times: 1, reply: { code: 450 } })
    const error = await rejection(transport().send(outgoing()))
    expect(error).toMatchObject({ permanent: false, details: { responseCode: 450 } })
  })

  it('reports a server that is down as transient, and sends again once it is back', async () => {
    const smtp = transport()
    await smtp.send(outgoing())
    await server.stop()
    try {
      const error = await rejection(smtp.send(outgoing()))
      expect(error.code).toBe('TRANSPORT_ERROR')
      expect(error.permanent).toBe(false)
      expect(error.details?.errorCode).toBeDefined()
    } finally {
      await server.start()
    }
    await smtp.send(outgoing({ messageId: '<after-restart@shop.example>' }))
    expect(server.messages.map((message) => message.parsed.messageId)).toEqual([
      outgoing().messageId,
      '<after-restart@shop.example>',
    ])
  })

  it('keeps its pool usable after more refused connections than it has slots', async () => {
    const smtp = transport()
    await server.stop()
    try {
      // Concurrent and one after another: 8 refused connections for a pool of 5.
      const concurrent = await Promise.allSettled([1, 2, 3].map((n) => smtp.send(outgoing({ messageId: `<down-${n}@shop.example>` }))))
      expect(concurrent.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected'])
      for (let n = 4; n <= 8; n += 1) {
        const error = await rejection(smtp.send(outgoing({ messageId: `<down-${n}@shop.example>` })))
        expect(error.permanent).toBe(false)
      }
    } finally {
      await server.start()
    }
    await smtp.send(outgoing({ messageId: '<back@shop.example>' }))
    expect(server.messages.map((message) => message.parsed.messageId)).toEqual(['<back@shop.example>'])
  })

  it('reports a connection dropped during the data as transient', async () => {
    server.failNext(1, 'disconnect')
    const smtp = transport()
    const error = await rejection(smtp.send(outgoing()))
    expect(error).toMatchObject({ code: 'TRANSPORT_ERROR', permanent: false })
    await smtp.send(outgoing())
    expect(server.acceptedCount).toBe(1)
  })

  it('resends with the same Message-ID when the acceptance was lost, so the duplicate is recognisable', async () => {
    server.failNext(1, 'keep-and-disconnect')
    const smtp = transport()
    const message = outgoing()
    const error = await rejection(smtp.send(message))
    expect(error.permanent).toBe(false)
    await smtp.send(message)
    expect(server.messages.map((received) => received.parsed.messageId)).toEqual([message.messageId, message.messageId])
  })

  it('reads a recipient refused over LMTP (a resolved send listing it as rejected) as a failure', async () => {
    const lmtp = await startSmtpServer({ lmtp: true })
    try {
      lmtp.failNext(1, 552)
      const smtp = transport({ smtp: { host: lmtp.host, port: lmtp.port, lmtp: true } })
      const error = await rejection(smtp.send(outgoing()))
      expect(error).toMatchObject({ code: 'TRANSPORT_ERROR', permanent: true, details: { responseCode: 552 } })
      await smtp.send(outgoing())
      expect(lmtp.acceptedCount).toBe(1)
    } finally {
      await Promise.all(opened.splice(0).map((created) => created.close?.()))
      await lmtp.stop()
    }
  })
  it('keeps a refused login transient: bad credentials must not suppress the recipient', async () => {
    const guarded = await startSmtpServer({ users: { shop: 'right' } })
    try {
      const smtp = transport({ smtp: `smtp://shop:wrong@${guarded.host}:${guarded.port}` })
      const error = await rejection(smtp.send(outgoing()))
      expect(error).toMatchObject({ code: 'TRANSPORT_ERROR', permanent: false, details: { responseCode: 535, errorCode: 'EAUTH' } })
      await transport({ smtp: `smtp://shop:right@${guarded.host}:${guarded.port}` }).send(outgoing())
      expect(guarded.messages.map((message) => message.user)).toEqual(['shop'])
    } finally {
      await Promise.all(opened.splice(0).map((created) => created.close?.()))
      await guarded.stop()
    }
  })

  it('keeps a refused sender transient: it is our configuration, not the recipient', async () => {
    server.reply({ stage: 'mail', address: 'bonjour@shop.example', times: 1, reply: { code: 550, message: 'Sender denied' } })
    const error = await rejection(transport().send(outgoing()))
    expect(error).toMatchObject({ permanent: false, details: { responseCode: 550, command: 'MAIL FROM' } })
  })
})

describe('nodemailerTransport header safety', () => {
  it('cannot be made to add a header through CR/LF in names, subject or header values', async () => {
    await transport().send(
      outgoing({
        from: 'Maison Dupré\r\nBcc: spy@attacker.example <bonjour@shop.example>',
        replyTo: '"Service\r\nX-Injected: reply-to" <service@shop.example>',
        subject: 'Votre panier\r\nBcc: spy@attacker.example\r\nX-Injected: subject',
        headers: {
          'List-Unsubscribe': `<${UNSUBSCRIBE_URL}>\r\nX-Injected: list`,
          'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        },
      }),
    )
    const { raw, parsed, envelope } = server.messages[0]!
    const lines = headerSection(raw).split('\r\n')
    expect(lines.filter((line) => /^(bcc|x-injected)\s*:/i.test(line))).toEqual([])
    expect(parsed.headers.has('bcc')).toBe(false)
    expect(parsed.headers.has('x-injected')).toBe(false)
    expect(envelope.to).toEqual(['jeanne.leclerc@example.com'])
    expect(parsed.subject).toBe('Votre panier Bcc: spy@attacker.example X-Injected: subject')
    expect(parsed.from?.value).toEqual([
      { name: 'Maison Dupré Bcc: spy@attacker.example', address: 'bonjour@shop.example' },
    ])
  })

  it('refuses a recipient that is not one bare address, so no second recipient can be added', async () => {
    const smtp = transport()
    for (const to of ['a@example.com, spy@attacker.example', 'Jeanne <a@example.com>', 'a@example.com\r\nBcc: spy@attacker.example']) {
      const error = await rejection(smtp.send(outgoing({ to })))
      expect(error).toMatchObject({ code: 'INVALID_INPUT', field: 'to' })
    }
    expect(server.acceptedCount).toBe(0)
  })

  it('refuses a header name that could smuggle a header or that has its own field', async () => {
    const smtp = transport()
    for (const name of ['X-Bad\r\nBcc', 'X Bad', 'Bcc', 'message-id']) {
      const error = await rejection(smtp.send(outgoing({ headers: { [name]: 'x' } })))
      expect(error.code).toBe('INVALID_INPUT')
      expect(error.field).toBe(`headers.${name}`)
    }
    expect(server.acceptedCount).toBe(0)
  })
})

describe('nodemailerTransport options', () => {
  it('uses a transporter the shop configured, and leaves it open on close()', async () => {
    const transporter = nodemailer.createTransport({ host: server.host, port: server.port, pool: true })
    try {
      const smtp = nodemailerTransport({ transporter, maxPerSecond: 20 })
      expect(smtp).toMatchObject({ name: 'nodemailer', maxPerSecond: 20 })
      await smtp.send(outgoing())
      await smtp.close?.()
      await transporter.sendMail({ from: 'a@shop.example', to: 'b@example.com', subject: 'still open', text: 'x' })
      expect(server.messages.map((message) => message.parsed.subject)).toEqual([outgoing().subject, 'still open'])
    } finally {
      transporter.close()
    }
  })

  it('accepts an SMTP options object and an smtp:// URL with credentials and query options', async () => {
    await transport({ smtp: { host: server.host, port: server.port } }).send(outgoing())
    await transport({ smtp: `smtp://shop:s3cret@${server.host}:${server.port}/?name=relance.test` }).send(outgoing())
    expect(server.messages.map((message) => message.user)).toEqual([null, 'shop'])
  })

  it("leaves connecting to the shop's own getSocket when it gives one", async () => {
    const requested: string[] = []
    const getSocket = (options: { host?: string; port?: number }, callback: (error: Error | null, socket?: { connection: Socket }) => void) => {
      requested.push(`${options.host}:${options.port}`)
      const socket = connect(options.port ?? 25, options.host ?? 'localhost')
      socket.once('error', callback)
      socket.once('connect', () => callback(null, { connection: socket }))
    }
    await transport({ smtp: { host: server.host, port: server.port, getSocket } }).send(outgoing())
    expect(requested).toEqual([`${server.host}:${server.port}`])
    expect(server.acceptedCount).toBe(1)
  })

  it('sends over implicit TLS (smtps://) too', async () => {
    const secure = await startSmtpServer({ tls: true })
    try {
      await transport({ smtp: secure.url }).send(outgoing())
      expect(secure.messages.map((message) => message.parsed.messageId)).toEqual([outgoing().messageId])
    } finally {
      await Promise.all(opened.splice(0).map((created) => created.close?.()))
      await secure.stop()
    }
  })

  it('signs with DKIM when given keys', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const dkim = {
      domainName: 'shop.example',
      keySelector: 'relance',
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    }
    await transport({ dkim }).send(outgoing())
    const { raw } = server.messages[0]!
    const check = checkDkim(raw, publicKey)
    expect(check.tags).toMatchObject({ d: 'shop.example', s: 'relance' })
    expect(check.tags.h?.toLowerCase().split(':')).toEqual(expect.arrayContaining(['from', 'subject', 'message-id']))
    expect(check.bodyHashMatches).toBe(true)
    expect(check.signatureValid).toBe(true)
  })

  it.each<[string, unknown, string]>([
    ['neither transporter nor smtp', {}, 'smtp'],
    ['both transporter and smtp', { transporter: { sendMail: async () => ({}) }, smtp: 'smtp://localhost' }, 'transporter'],
    ['a non-SMTP URL', { smtp: 'https://mail.example' }, 'smtp'],
    ['a URL that does not parse', { smtp: 'localhost:25' }, 'smtp'],
    ['an options object without a server', { smtp: { port: 25 } }, 'smtp'],
    ['a bad url inside the options object', { smtp: { url: 'http://mail.example' } }, 'smtp.url'],
    ['a transporter without sendMail', { transporter: {} }, 'transporter'],
    ['pool with a transporter', { transporter: { sendMail: async () => ({}) }, pool: true }, 'pool'],
    ['a non-boolean pool', { smtp: 'smtp://localhost', pool: 'yes' }, 'pool'],
    ['DKIM without a private key', { smtp: 'smtp://localhost', dkim: { domainName: 'shop.example', keySelector: 's' } }, 'dkim.privateKey'],
    ['an empty DKIM key list', { smtp: 'smtp://localhost', dkim: { keys: [] } }, 'dkim.keys'],
    ['a zero maxPerSecond', { smtp: 'smtp://localhost', maxPerSecond: 0 }, 'maxPerSecond'],
    ['an unknown option', { smpt: 'smtp://localhost' }, 'smpt'],
  ])('rejects %s at once with INVALID_CONFIG', (_label, options, field) => {
    let thrown: unknown
    try {
      nodemailerTransport(options as NodemailerTransportOptions)
    } catch (error) {
      thrown = error
    }
    expect(isRelanceError(thrown, 'INVALID_CONFIG')).toBe(true)
    expect((thrown as RelanceError).field).toBe(field)
    expect((thrown as RelanceError).message).toContain(`option ${field} `)
  })

  it('never repeats a URL (it may hold a password) in a configuration error', () => {
    expect(() => nodemailerTransport({ smtp: 'http://shop:s3cret@mail.example' })).toThrow(/scheme/)
    try {
      nodemailerTransport({ smtp: 'http://shop:s3cret@mail.example' })
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret')
    }
  })
})
