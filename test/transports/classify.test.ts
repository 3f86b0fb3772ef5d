import { describe, expect, it } from 'vitest'
import { RelanceError } from '../../src/errors.js'
import { classifyTransportError } from '../../src/transports/classify.js'

/** Errors shaped as nodemailer's SMTP client builds them (`_formatError`). */
function smtpError(fields: { code?: string; response?: string; responseCode?: number; command?: string }, message = 'failed'): Error {
  return Object.assign(new Error(message), fields)
}

describe('classifyTransportError', () => {
  it.each<[string, Error, boolean]>([
    ['550 at RCPT TO', smtpError({ code: 'EENVELOPE', response: '550 5.1.1 No such user', responseCode: 550, command: 'RCPT TO' }), true],
    ['554 after DATA', smtpError({ code: 'EMESSAGE', response: '554 5.7.1 Rejected', responseCode: 554, command: 'DATA' }), true],
    ['451 after DATA', smtpError({ code: 'EMESSAGE', response: '451 4.3.0 Try later', responseCode: 451, command: 'DATA' }), false],
    ['450 at RCPT TO', smtpError({ code: 'EENVELOPE', response: '450 Mailbox busy', responseCode: 450, command: 'RCPT TO' }), false],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNREFUSED' }), false],
    ['socket closed', smtpError({ code: 'ECONNECTION', command: 'CONN' }, 'Connection closed unexpectedly'), false],
    ['an invalid recipient caught before sending', smtpError({ code: 'EENVELOPE', command: 'API' }, 'Invalid recipient "x"'), true],
    ['535 bad credentials', smtpError({ code: 'EAUTH', response: '535 5.7.8 Authentication failed', responseCode: 535, command: 'AUTH PLAIN' }), false],
    ['550 for our sender', smtpError({ code: 'EENVELOPE', response: '550 5.7.1 Sender denied', responseCode: 550, command: 'MAIL FROM' }), false],
    ['554 greeting', smtpError({ code: 'EPROTOCOL', response: '554 No SMTP service here', responseCode: 554, command: 'CONN' }), false],
    ['an invalid sender caught before sending', smtpError({ code: 'EENVELOPE', command: 'API' }, 'Invalid sender "x"'), false],
    ['an unknown error', new Error('boom'), false],
  ])('%s ⇒ permanent: %s', (_label, error, permanent) => {
    const classified = classifyTransportError(error)
    expect(classified).toBeInstanceOf(RelanceError)
    expect(classified.code).toBe('TRANSPORT_ERROR')
    expect(classified.permanent).toBe(permanent)
    expect(classified.cause).toBe(error)
  })

  it('reads the reply code from the reply line when no responseCode is given', () => {
    const classified = classifyTransportError({ code: 'EENVELOPE', response: '552 5.2.2 Mailbox full' })
    expect(classified).toMatchObject({ permanent: true, details: { responseCode: 552, response: '552 5.2.2 Mailbox full' } })
    expect(classifyTransportError({ response: '421 4.7.0 Try again' })).toMatchObject({ permanent: false, details: { responseCode: 421 } })
  })

  it.each<[string, Error, boolean | undefined]>([
    ['550 5.1.1 at RCPT TO', smtpError({ code: 'EENVELOPE', response: '550 5.1.1 No such user', responseCode: 550, command: 'RCPT TO' }), true],
    ['an invalid recipient caught before sending', smtpError({ code: 'EENVELOPE', command: 'API' }, 'Invalid recipient "x"'), true],
    ['554 5.7.1 spam refusal after DATA', smtpError({ code: 'EMESSAGE', response: '554 5.7.1 Message rejected as spam', responseCode: 554, command: 'DATA' }), false],
    ['552 message too big after DATA', smtpError({ code: 'EMESSAGE', response: '552 5.3.4 Message too big', responseCode: 552, command: 'DATA' }), false],
    ['550 5.1.1 after DATA (servers that check late)', smtpError({ code: 'EMESSAGE', response: '550 5.1.1 User unknown', responseCode: 550, command: 'DATA' }), true],
    ['a bare 5xx reply line from another transport', smtpError({ response: '550 Requested action not taken' }), undefined],
  ])('%s ⇒ aboutRecipient: %s', (_label, error, aboutRecipient) => {
    const classified = classifyTransportError(error)
    expect(classified.permanent).toBe(true)
    expect(classified.details?.aboutRecipient).toBe(aboutRecipient)
  })

  it('says nothing about the recipient when the failure is transient', () => {
    const classified = classifyTransportError(smtpError({ code: 'EENVELOPE', response: '450 Mailbox busy', responseCode: 450, command: 'RCPT TO' }))
    expect(classified.details).not.toHaveProperty('aboutRecipient')
  })

  it('keeps the SMTP command in the details and returns a TRANSPORT_ERROR unchanged', () => {
    const classified = classifyTransportError(
      smtpError({ code: 'EAUTH', response: '535 no', responseCode: 535, command: 'AUTH LOGIN' }),
    )
    expect(classified.details).toEqual({ responseCode: 535, errorCode: 'EAUTH', command: 'AUTH LOGIN', response: '535 no' })
    expect(classifyTransportError(classified)).toBe(classified)
  })
})
