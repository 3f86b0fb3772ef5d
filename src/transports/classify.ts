import { RelanceError } from '../errors.js'

/** Network failures that say nothing about the recipient: always worth retrying. */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND',
  'EAI_AGAIN', 'ESOCKET', 'ECONNECTION', 'ETIMEDOUT', 'EDNS', 'ETLS',
])

/**
 * Turns whatever a transport threw into a `RelanceError('TRANSPORT_ERROR')` with `permanent` set.
 * SMTP reply codes decide first (RFC 5321: 5xx is a definitive refusal, 4xx a temporary one);
 * an error without a reply code is a network or local failure and is retried.
 */
export function classifyTransportError(error: unknown): RelanceError {
  if (error instanceof RelanceError && error.code === 'TRANSPORT_ERROR') return error
  const record = (typeof error === 'object' && error !== null ? error : {}) as {
    responseCode?: unknown
    code?: unknown
    message?: unknown
    response?: unknown
  }
  const responseCode = typeof record.responseCode === 'number' ? record.responseCode : undefined
  const code = typeof record.code === 'string' ? record.code : undefined
  const message = typeof record.message === 'string' ? record.message : String(error)
  let permanent = false
  if (responseCode !== undefined) permanent = responseCode >= 500 && responseCode < 600
  else if (code === 'EENVELOPE') permanent = true // nodemailer: no valid recipient in the envelope
  else if (code !== undefined && TRANSIENT_NETWORK_CODES.has(code)) permanent = false
  return new RelanceError('TRANSPORT_ERROR', `transport failed: ${message}`, {
    cause: error,
    permanent,
    details: {
      ...(responseCode === undefined ? {} : { responseCode }),
      ...(code === undefined ? {} : { errorCode: code }),
      ...(typeof record.response === 'string' ? { response: record.response } : {}),
    },
  })
}
