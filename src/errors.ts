/**
 * The closed set of error codes relance throws or reports. They are stable: code that catches a
 * `RelanceError` may switch on `code`.
 */
export type RelanceErrorCode =
  /** A method was called with a value that breaks a documented rule. Nothing was stored. */
  | 'INVALID_INPUT'
  /** `createRelance` (or an adapter factory) was given an option that breaks a documented rule. */
  | 'INVALID_CONFIG'
  /** A restore or unsubscribe token is malformed, tampered with, signed with another secret or unknown. */
  | 'TOKEN_INVALID'
  /** A restore token is genuine but past its expiry. */
  | 'TOKEN_EXPIRED'
  /** The store failed (unreachable, constraint violated, migration failed). `cause` holds the driver error. */
  | 'STORE_ERROR'
  /** The mail transport refused or failed. `permanent` tells a 5xx from a retryable failure. */
  | 'TRANSPORT_ERROR'
  /** A template or partial does not compile or does not render. */
  | 'TEMPLATE_ERROR'
  /** A shop hook (`beforeSend`, `createCode`, `onTask`, `onRestore`) threw. */
  | 'HOOK_ERROR'

export interface RelanceErrorOptions {
  cause?: unknown
  /** The input field or option the error is about, as a dotted path (`items[2].quantity`). */
  field?: string
  /**
   * For `TRANSPORT_ERROR` and `STORE_ERROR`: `true` when retrying cannot help (SMTP 5xx, invalid
   * address). The scheduler retries transient errors with backoff and suppresses on permanent ones.
   * @default false
   */
  permanent?: boolean
  /** Extra machine-readable details (SMTP response code, template file and line…). */
  details?: Record<string, unknown>
}

/** The one error class of relance. Always carries a stable `code`; keeps the original `cause`. */
export class RelanceError extends Error {
  override readonly name = 'RelanceError'
  readonly code: RelanceErrorCode
  readonly field: string | undefined
  readonly permanent: boolean
  readonly details: Record<string, unknown> | undefined

  constructor(code: RelanceErrorCode, message: string, options: RelanceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.field = options.field
    this.permanent = options.permanent ?? false
    this.details = options.details
  }
}

export function isRelanceError(value: unknown, code?: RelanceErrorCode): value is RelanceError {
  return value instanceof RelanceError && (code === undefined || value.code === code)
}

/** Shorthand for the most common throw: a rule broken by one input field. */
export function invalidInput(field: string, rule: string): RelanceError {
  return new RelanceError('INVALID_INPUT', `${field} ${rule}`, { field })
}

export function invalidConfig(field: string, rule: string): RelanceError {
  return new RelanceError('INVALID_CONFIG', `option ${field} ${rule}`, { field })
}
