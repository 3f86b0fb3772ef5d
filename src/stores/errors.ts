import { RelanceError } from '../errors.js'

/** The contract's error for a profile key (`customerId`, `email`) another profile holds. */
export function profileConflict(field: string, cause?: unknown): RelanceError {
  return new RelanceError('STORE_ERROR', `another profile already has this ${field}`, { details: { conflict: field }, cause })
}

/**
 * The error to throw for a failed write: a driver's unique violation on a profile key (found in
 * the wrapped error's `cause` by the store's own `fieldOf`) as the contract's conflict, any other
 * error as it was.
 */
export function asProfileConflict(error: unknown, fieldOf: (cause: unknown) => string | null): unknown {
  const cause = (error as { cause?: unknown }).cause
  const field = fieldOf(cause)
  return field === null ? error : profileConflict(field, cause)
}
