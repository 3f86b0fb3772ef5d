export { RelanceError, isRelanceError } from './errors.js'
export type { RelanceErrorCode, RelanceErrorOptions } from './errors.js'
export type * from './render/types.js'
