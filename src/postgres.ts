/**
 * `relance/postgres`: the store for many workers. Needs the optional peer dependency `pg` (8):
 * `npm install pg`.
 */
export { postgresStore, POSTGRES_MIGRATIONS } from './stores/postgres.js'
export type { PostgresStoreOptions, PgPoolLike, PgClientLike, PgResultLike } from './stores/postgres.js'
