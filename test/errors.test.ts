import { describe, expect, it } from 'vitest'
import { RelanceError, invalidInput, isRelanceError } from '../src/errors.js'

describe('RelanceError', () => {
  it('carries a stable code, the field and the cause', () => {
    const cause = new Error('boom')
    const error = new RelanceError('STORE_ERROR', 'store unreachable', { cause, permanent: false })
    expect(error).toBeInstanceOf(Error)
    expect(error.code).toBe('STORE_ERROR')
    expect(error.cause).toBe(cause)
    expect(isRelanceError(error, 'STORE_ERROR')).toBe(true)
    expect(isRelanceError(error, 'TOKEN_INVALID')).toBe(false)
    const input = invalidInput('items[0].quantity', 'must be a positive integer')
    expect(input.field).toBe('items[0].quantity')
    expect(input.message).toBe('items[0].quantity must be a positive integer')
  })
})
