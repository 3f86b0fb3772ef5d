/**
 * `relance/sqlite`: the embedded durable store. Needs the optional peer dependency
 * `better-sqlite3` (12 or later): `npm install better-sqlite3`.
 */
export { sqliteStore, SQLITE_MIGRATIONS } from './stores/sqlite.js'
export type { SqliteStoreOptions, SqliteDatabaseLike, SqliteStatementLike } from './stores/sqlite.js'
