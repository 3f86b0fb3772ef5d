import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { simpleParser } from 'mailparser'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RelanceError, isRelanceError } from '../../src/errors.js'
import { nodemailerTransport, outboxTransport } from '../../src/nodemailer.js'
import { startSmtpServer } from '../helpers/smtp-server.js'
import { rawHeader } from '../helpers/mime.js'
import { UNSUBSCRIBE_URL, outgoing } from './fixtures.js'

let root: string

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'relance-outbox-'))
})

afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

describe('outboxTransport', () => {
  it('writes each message as an .eml file and its HTML beside it, creating the folder', async () => {
    const dir = join(root, 'first', 'outbox')
    const outbox = outboxTransport({ dir })
    const first = outgoing()
    const second = outgoing({ to: 'paul@example.com', meta: { ...first.meta, step: 'last-chance' } })
    const receipt = await outbox.send(first)
    await outbox.send(second)

    expect(receipt.response).toBe(`250 written to ${join(dir, '0001-reminder-jeanne.leclerc@example.com.eml')}`)
    expect((await readdir(dir)).sort()).toEqual([
      '0001-reminder-jeanne.leclerc@example.com.eml',
      '0001-reminder-jeanne.leclerc@example.com.html',
      '0002-last-chance-paul@example.com.eml',
      '0002-last-chance-paul@example.com.html',
    ])
    expect(outbox.files).toEqual([
      {
        seq: 1,
        eml: join(dir, '0001-reminder-jeanne.leclerc@example.com.eml'),
        html: join(dir, '0001-reminder-jeanne.leclerc@example.com.html'),
        to: 'jeanne.leclerc@example.com',
        subject: first.subject,
        step: 'reminder',
        messageId: first.messageId,
      },
      expect.objectContaining({ seq: 2, to: 'paul@example.com', step: 'last-chance' }),
    ])
    expect(await readFile(outbox.files[0]!.html, 'utf8')).toBe(first.html)
  })

  it('writes an RFC 5322 message that mailparser reads back to the same content', async () => {
    const outbox = outboxTransport({ dir: join(root, 'parse') })
    const message = outgoing()
    await outbox.send(message)
    const raw = await readFile(outbox.files[0]!.eml)
    // CRLF line ends only, as on the wire.
    expect(raw.toString('latin1').replaceAll('\r\n', '')).not.toMatch(/[\r\n]/)
    const parsed = await simpleParser(raw)
    expect(parsed.from?.value).toEqual([{ name: 'Maison Dupré', address: 'bonjour@shop.example' }])
    expect(parsed.replyTo?.value).toEqual([{ name: 'Service client Dupré', address: 'service@shop.example' }])
    expect(parsed.to).toMatchObject({ value: [{ address: 'jeanne.leclerc@example.com' }] })
    expect(parsed.subject).toBe(message.subject)
    expect(parsed.messageId).toBe(message.messageId)
    expect(parsed.html).toBe(message.html)
    expect(parsed.text).toBe(message.text)
    expect(parsed.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' })
    expect(rawHeader(raw, 'List-Unsubscribe')).toBe(`<${UNSUBSCRIBE_URL}>`)
    expect(rawHeader(raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
  })

  it('writes the same headers as the SMTP path puts on the wire', async () => {
    const server = await startSmtpServer()
    const smtp = nodemailerTransport({ smtp: server.url })
    try {
      const message = outgoing()
      const outbox = outboxTransport({ dir: join(root, 'same') })
      await outbox.send(message)
      await smtp.send(message)
      const fromFile = await simpleParser(await readFile(outbox.files[0]!.eml))
      const fromWire = server.messages[0]!.parsed
      // Only the date and the multipart boundary may differ between two compositions.
      const comparable = (lines: ReadonlyArray<{ key: string; line: string }>) =>
        lines.filter(({ key }) => key !== 'date' && key !== 'content-type').map(({ line }) => line)
      expect(comparable(fromFile.headerLines)).toEqual(comparable(fromWire.headerLines))
      expect(fromFile.headerLines.map(({ key }) => key)).toEqual(fromWire.headerLines.map(({ key }) => key))
    } finally {
      await smtp.close?.()
      await server.stop()
    }
  })

  it('continues the numbering after the files already in the folder', async () => {
    const dir = join(root, 'continue')
    await outboxTransport({ dir }).send(outgoing())
    const later = outboxTransport({ dir })
    await Promise.all([later.send(outgoing()), later.send(outgoing())])
    expect(later.files.map((file) => file.seq).sort()).toEqual([2, 3])
    expect((await readdir(dir)).filter((name) => name.endsWith('.eml'))).toHaveLength(3)
  })

  it('keeps addresses and step ids from escaping the folder', async () => {
    const dir = join(root, 'safe')
    const outbox = outboxTransport({ dir })
    await outbox.send(
      outgoing({
        to: '../../../tmp/evil/../x@example.com',
        meta: { cartId: 'c', profileId: 'p', step: '../../../etc/passwd', variant: null },
      }),
    )
    const [file] = outbox.files
    expect(dirname(file!.eml)).toBe(dir)
    expect(dirname(file!.html)).toBe(dir)
    expect(await readdir(dir)).toEqual(expect.arrayContaining([file!.eml.slice(dir.length + 1)]))
    expect(file!.eml.slice(dir.length + 1)).not.toMatch(/[\\/]|\.\./)
  })

  it('reports a folder it cannot write as a transient TRANSPORT_ERROR', async () => {
    const blocker = join(root, 'blocker')
    await writeFile(blocker, 'a file where the folder should be')
    const error = await outboxTransport({ dir: join(blocker, 'outbox') }).send(outgoing()).catch((reason: unknown) => reason)
    expect(error).toBeInstanceOf(RelanceError)
    expect(error).toMatchObject({ code: 'TRANSPORT_ERROR', permanent: false })
  })

  it.each<[string, unknown, string]>([
    ['an empty folder', { dir: '' }, 'dir'],
    ['a missing folder', {}, 'dir'],
    ['a negative maxPerSecond', { dir: 'outbox', maxPerSecond: -1 }, 'maxPerSecond'],
  ])('rejects %s at once with INVALID_CONFIG', (_label, options, field) => {
    let thrown: unknown
    try {
      outboxTransport(options as { dir: string })
    } catch (error) {
      thrown = error
    }
    expect(isRelanceError(thrown, 'INVALID_CONFIG')).toBe(true)
    expect((thrown as RelanceError).field).toBe(field)
  })
})
