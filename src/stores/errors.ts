import { RelanceError } from '../errors.js'

/** The contract's error for a profile key (`customerId`, `email`) another profile holds. */
export function profileConflict(field: string, cause?: unknown): RelanceError {
  return new RelanceError('STORE_ERROR', `another profile already has this ${field}`, { details: { conflict: field }, cause })
}
