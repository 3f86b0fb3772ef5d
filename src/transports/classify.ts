import { RelanceError } from '../errors.js'

/**
 * SMTP steps that concern our own session (connection, greeting, TLS, login, sender), not the
 * recipient. A 5xx there (bad credentials, sender refused, relay closed to us) cannot be fixed by
 * retrying, but it is no reason to suppress the address: `permanent` would make the engine do
 * exactly that for every recipient until someone fixes the configuration. So they stay transient,
 * retried with backoff and reported as failures.
 */
const SESSION_COMMAND = /^(CONN|EHLO|HELO|LHLO|STARTTLS|AUTH\b|MAIL FROM)/i

/**
 * An enhanced status code (RFC 3463) about the address itself: 5.1.x bad destination mailbox or
 * domain, 5.2.1 mailbox disabled. A 5.7.x policy refusal or a 5.6.x content refusal is about the
 * message: the address may be fine.
 */
const ADDRESS_STATUS = /\b5\.(1\.\d{1,3}|2\.1)\b/

/** nodemailer error codes about our session or configuration rather than the recipient. */
const SESSION_ERROR_CODES = new Set(['EAUTH', 'ENOAUTH', 'ETLS', 'EREQUIRETLS', 'EPROTOCOL', 'ECONFIG'])

/**
 * Turns whatever a transport threw into a `RelanceError('TRANSPORT_ERROR')` with `permanent` set.
 * SMTP reply codes decide first (RFC 5321: 5xx is a definitive refusal, 4xx a temporary one), but
 * only a refusal of the recipient or of the message is permanent; a refusal of our session is not.
 * An error without a reply code is a network or local failure and is retried.
 */
export function classifyTransportError(error: unknown): RelanceError {
  if (error instanceof RelanceError && error.code === 'TRANSPORT_ERROR') return error
  const record = (typeof error === 'object' && error !== null ? error : {}) as {
    responseCode?: unknown
    code?: unknown
    command?: unknown
    message?: unknown
    response?: unknown
  }
  const response = typeof record.response === 'string' ? record.response : undefined
  // Some transports (LMTP replies, API relays) only give the reply line: its first three digits.
  const parsedCode = response === undefined ? undefined : /^([2-5]\d\d)\b/.exec(response)?.[1]
  const responseCode =
    typeof record.responseCode === 'number' ? record.responseCode : parsedCode === undefined ? undefined : Number(parsedCode)
  const code = typeof record.code === 'string' ? record.code : undefined
  const command = typeof record.command === 'string' ? record.command : undefined
  const message = typeof record.message === 'string' ? record.message : String(error)
  const aboutSession =
    (command !== undefined && SESSION_COMMAND.test(command)) ||
    (code !== undefined && SESSION_ERROR_CODES.has(code)) ||
    // nodemailer checks the envelope before sending; only a bad recipient is the recipient's doing.
    (code === 'EENVELOPE' && /invalid sender|invalid dsn/i.test(message))
  let permanent = false
  if (aboutSession) permanent = false
  else if (responseCode !== undefined) permanent = responseCode >= 500 && responseCode < 600
  else if (code === 'EENVELOPE') permanent = true // nodemailer: no valid recipient in the envelope
  // A permanent refusal suppresses the address only when it is about the address: refused at
  // RCPT TO, or with a 5.1.x status. A 5xx after DATA (spam filter, size, policy) fails this
  // message without a retry but keeps the person reachable.
  let aboutRecipient: boolean | undefined
  if (permanent) {
    const text = `${response ?? ''} ${message}`
    aboutRecipient =
      (command !== undefined && /^RCPT/i.test(command)) || code === 'EENVELOPE' || ADDRESS_STATUS.test(text)
        ? true
        : command !== undefined && /^(DATA|BDAT|\.)/i.test(command)
          ? false
          : undefined
  }
  return new RelanceError('TRANSPORT_ERROR', `transport failed: ${message}`, {
    cause: error,
    permanent,
    details: {
      ...(responseCode === undefined ? {} : { responseCode }),
      ...(code === undefined ? {} : { errorCode: code }),
      ...(command === undefined ? {} : { command }),
      ...(response === undefined ? {} : { response }),
      ...(aboutRecipient === undefined ? {} : { aboutRecipient }),
    },
  })
}
