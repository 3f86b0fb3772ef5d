import nodemailer from 'nodemailer'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startSmtpServer, type SmtpTestServer } from '../helpers/smtp-server.js'

// The harness other suites build on, driven by plain nodemailer.
let server: SmtpTestServer
let transporter: nodemailer.Transporter

function send(to: string, subject = 'hello') {
  return transporter.sendMail({ from: 'shop@shop.example', to, subject, text: 'body' })
}

beforeAll(async () => {
  server = await startSmtpServer()
  transporter = nodemailer.createTransport({ host: server.host, port: server.port, pool: true })
})

afterAll(async () => {
  transporter.close()
  await server.stop()
})

beforeEach(() => {
  server.reset()
})

describe('startSmtpServer', () => {
  it('records accepted messages with envelope and parsed content, and waits for them', async () => {
    const arrived = server.waitForMessages(3)
    await Promise.all([send('a@example.com', 'one'), send('b@example.com', 'two'), send('c@example.com', 'three')])
    const messages = await arrived
    // Three concurrent sends may finish in any order; each arrives once, with its own envelope.
    expect(messages.map((message) => message.envelope).sort((a, b) => a.to[0]!.localeCompare(b.to[0]!))).toEqual([
      { from: 'shop@shop.example', to: ['a@example.com'] },
      { from: 'shop@shop.example', to: ['b@example.com'] },
      { from: 'shop@shop.example', to: ['c@example.com'] },
    ])
    expect(messages.map((message) => message.parsed.subject).sort()).toEqual(['one', 'three', 'two'])
    expect(server.acceptedCount).toBe(3)
  })

  it('applies rules by stage, address pattern and count, and logs the refusals', async () => {
    server.reply({ stage: 'rcpt', address: /@blocked\.example$/, reply: { code: 550, message: 'No thanks' } })
    server.reply({ stage: 'data', address: 'slow@example.com', times: 1, reply: { code: 452 } })
    await expect(send('x@blocked.example')).rejects.toMatchObject({ responseCode: 550 })
    await expect(send('y@blocked.example')).rejects.toMatchObject({ responseCode: 550 })
    await expect(send('slow@example.com')).rejects.toMatchObject({ responseCode: 452 })
    await send('slow@example.com')
    expect(server.refused).toEqual([
      { stage: 'rcpt', recipients: ['x@blocked.example'], reply: { code: 550, message: 'No thanks' } },
      { stage: 'rcpt', recipients: ['y@blocked.example'], reply: { code: 550, message: 'No thanks' } },
      { stage: 'data', recipients: ['slow@example.com'], reply: { code: 452 } },
    ])
    expect(server.messages.map((message) => message.envelope.to)).toEqual([['slow@example.com']])
  })

  it('goes down (connection refused) and comes back on the same port', async () => {
    const port = server.port
    await server.stop()
    expect(server.running).toBe(false)
    await expect(send('a@example.com')).rejects.toMatchObject({ code: expect.stringMatching(/^E/) })
    await server.start()
    expect(server.port).toBe(port)
    await send('a@example.com')
    expect(server.acceptedCount).toBe(1)
  })
})
