import pg from 'pg'
import { RelanceError, invalidConfig } from '../errors.js'
import { asProfileConflict } from './errors.js'
import { incentiveJson, rowMappers, SCAN_PAGE, type Row } from './rows.js'
import type {
  AssignmentRecord, CartView, ClaimOptions, JobRecord, OrderRecord, ProfileKey, ProfileRecord, PurgeResult,
  SendRecord, Settlement, SettleItem, SettleResult, Store, SuppressionRecord, TimeRange,
} from './types.js'

/** What the store uses of a `pg` query result. */
export interface PgResultLike {
  rows: Row[]
  rowCount: number | null
}

/** A query with an optional statement name (pg prepares a named statement once per connection). */
export interface PgQueryConfigLike {
  text: string
  values?: unknown[]
  name?: string
  /** node-postgres' per-query type parsers (`getTypeParser(oid, format)`). */
  types?: { getTypeParser(oid: number, format?: string): (value: string) => unknown }
}

/** What the store uses of a `pg` client checked out of a pool. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<PgResultLike>
  query(config: PgQueryConfigLike): Promise<PgResultLike>
  release(error?: Error | boolean): void
}

/** What the store uses of a `pg` `Pool`; the core never imports the driver. */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<PgResultLike>
  query(config: PgQueryConfigLike): Promise<PgResultLike>
  connect(): Promise<PgClientLike>
  end(): Promise<void>
}

interface CommonOptions {
  /**
   * Schema holding relance's tables (created if missing). Letters, digits and `_`, starting with
   * a letter or `_`, at most 63 characters.
   * @default 'public'
   */
  schema?: string
}

export type PostgresStoreOptions =
  | (CommonOptions & {
      /** `postgres://user:password@host:port/database`. The store opens a pool and ends it on `close()`. */
      connectionString: string
      /**
       * How long to wait for a connection before failing with `STORE_ERROR` (an unreachable
       * server never hangs the engine).
       * @default 5000
       */
      connectionTimeoutMillis?: number
      /** Most connections of the pool the store opens. @default 10 */
      max?: number
    })
  | (CommonOptions & {
      /** A `pg` `Pool` of your own. The store never ends it. */
      pool: PgPoolLike
    })

// ---------------------------------------------------------------------------------------------
// SQL. `{schema}` is replaced once by the quoted schema name. Times are `timestamptz`, always
// bound from the caller's clock: no statement reads the database clock.

/** Versioned migrations: each runs once, in order, under a transaction-scoped advisory lock. */
export const POSTGRES_MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE {schema}.relance_profiles (
  id text PRIMARY KEY,
  customer_id text CONSTRAINT relance_profiles_customer_id_unique UNIQUE,
  email text CONSTRAINT relance_profiles_email_unique UNIQUE,
  first_name text,
  locale text,
  time_zone text,
  marketing_state text NOT NULL,
  marketing_at timestamptz,
  marketing_source text,
  has_purchased boolean NOT NULL,
  last_order_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE {schema}.relance_devices (
  device_id text PRIMARY KEY,
  profile_id text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX relance_devices_profile ON {schema}.relance_devices (profile_id);
CREATE TABLE {schema}.relance_carts (
  id text PRIMARY KEY,
  profile_id text NOT NULL,
  device_id text,
  items jsonb NOT NULL,
  currency text NOT NULL,
  status text NOT NULL,
  activity_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX relance_carts_profile ON {schema}.relance_carts (profile_id);
CREATE INDEX relance_carts_activity ON {schema}.relance_carts (activity_at);
CREATE TABLE {schema}.relance_jobs (
  cart_id text PRIMARY KEY,
  profile_id text NOT NULL,
  state text NOT NULL,
  due_at timestamptz NOT NULL,
  owner text,
  lease_until timestamptz,
  attempts integer NOT NULL,
  rev integer NOT NULL,
  note text
);
CREATE INDEX relance_jobs_due ON {schema}.relance_jobs (due_at) WHERE state = 'pending';
CREATE INDEX relance_jobs_profile ON {schema}.relance_jobs (profile_id);
CREATE TABLE {schema}.relance_sends (
  id text PRIMARY KEY,
  cart_id text NOT NULL,
  profile_id text NOT NULL,
  step text NOT NULL,
  step_index integer NOT NULL,
  experiment_id text,
  variant text,
  outcome text NOT NULL,
  message_id text,
  incentive jsonb,
  subtotal bigint NOT NULL,
  currency text NOT NULL,
  reason text,
  created_at timestamptz NOT NULL,
  sent_at timestamptz,
  clicked_at timestamptz,
  CONSTRAINT relance_sends_cart_step UNIQUE (cart_id, step)
);
CREATE INDEX relance_sends_profile ON {schema}.relance_sends (profile_id, created_at);
CREATE INDEX relance_sends_created ON {schema}.relance_sends (created_at, id);
CREATE TABLE {schema}.relance_orders (
  id text PRIMARY KEY,
  profile_id text NOT NULL,
  cart_id text,
  total bigint NOT NULL,
  currency text NOT NULL,
  at timestamptz NOT NULL,
  attribution jsonb
);
CREATE INDEX relance_orders_profile ON {schema}.relance_orders (profile_id);
CREATE INDEX relance_orders_at ON {schema}.relance_orders (at, id);
CREATE TABLE {schema}.relance_assignments (
  experiment_id text NOT NULL,
  profile_id text NOT NULL,
  variant text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (experiment_id, profile_id)
);
CREATE INDEX relance_assignments_profile ON {schema}.relance_assignments (profile_id);
CREATE INDEX relance_assignments_at ON {schema}.relance_assignments (at, experiment_id, profile_id);
CREATE TABLE {schema}.relance_suppressions (
  key text PRIMARY KEY,
  reason text NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX relance_suppressions_at ON {schema}.relance_suppressions (at, key);
`,
  },
]

// Statements used alone and inside combined writes (where their parameters have other numbers).
const upsertProfile = (first: number) => `INSERT INTO {schema}.relance_profiles (id, customer_id, email, first_name, locale, time_zone, marketing_state,
  marketing_at, marketing_source, has_purchased, last_order_at, created_at, updated_at)
VALUES (${Array.from({ length: 13 }, (_, k) => `$${first + k}`).join(', ')})
ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, email = excluded.email,
  first_name = excluded.first_name, locale = excluded.locale, time_zone = excluded.time_zone,
  marketing_state = excluded.marketing_state, marketing_at = excluded.marketing_at,
  marketing_source = excluded.marketing_source, has_purchased = excluded.has_purchased,
  last_order_at = excluded.last_order_at, created_at = excluded.created_at, updated_at = excluded.updated_at`
const UPSERT_CART = `INSERT INTO {schema}.relance_carts (id, profile_id, device_id, items, currency, status, activity_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO UPDATE SET profile_id = excluded.profile_id, device_id = excluded.device_id,
  items = excluded.items, currency = excluded.currency, status = excluded.status,
  activity_at = excluded.activity_at, created_at = excluded.created_at, updated_at = excluded.updated_at`
const linkDevice = (deviceId: string, profileId: string, at: string) => `
INSERT INTO {schema}.relance_devices (device_id, profile_id, at) VALUES (${deviceId}, ${profileId}, ${at})
ON CONFLICT (device_id) DO UPDATE SET profile_id = excluded.profile_id, at = excluded.at`
const schedule = (dueAt: string) => `INSERT INTO {schema}.relance_jobs (cart_id, profile_id, state, due_at, owner, lease_until, attempts, rev, note)
VALUES ($1, $2, 'pending', ${dueAt}, NULL, NULL, 0, 1, NULL)
ON CONFLICT (cart_id) DO UPDATE SET profile_id = excluded.profile_id, state = 'pending',
  due_at = excluded.due_at, attempts = 0, rev = relance_jobs.rev + 1, note = NULL`
const cancel = (note: string) => `UPDATE {schema}.relance_jobs SET state = 'done', note = ${note}, rev = rev + 1 WHERE cart_id = $1`

function ownedCart(device: boolean, job: string): string {
  const link = device ? `, device AS (${linkDevice('$24', '$11', '$25')})` : ''
  return `WITH profile AS (${upsertProfile(11)})${link}, cart AS (${UPSERT_CART})\n${job}`
}

// A claim: due, unleased jobs, earliest first. Rows another claimer has locked are skipped, not
// waited for; FOR UPDATE re-checks the guard on the newest row version, so a job claimed and
// committed meanwhile is not taken twice.
const CLAIM = `WITH due AS (
  SELECT cart_id FROM {schema}.relance_jobs
  WHERE state = 'pending' AND due_at <= $1 AND (owner IS NULL OR lease_until <= $1)
  ORDER BY due_at
  LIMIT $2
  FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE {schema}.relance_jobs AS j SET owner = $3, lease_until = $4
  FROM due WHERE j.cart_id = due.cart_id
  RETURNING j.*
)`

// A cart's view (cart c): its profile, whether a newer cart of the person exists, its send log.
// Cart and profile come as plain columns ("cart.id", "profile.id"…): building them as JSON cost
// about as much as the claim itself (measured per 100 jobs: claim 1.0–1.7 ms, with the view as
// JSON 4.1–4.5 ms). The profile is joined LATERAL … LIMIT 1, so it is looked up by key for each
// cart (a plain join was planned as a scan of the whole profiles table). COLLATE "C": ids
// compare by code point, as the contract says.
const CART_COLUMNS = ['id', 'profile_id', 'device_id', 'items', 'currency', 'status', 'activity_at', 'created_at', 'updated_at'] as const
const PROFILE_COLUMNS = [
  'id', 'customer_id', 'email', 'first_name', 'locale', 'time_zone', 'marketing_state', 'marketing_at', 'marketing_source',
  'has_purchased', 'last_order_at', 'created_at', 'updated_at',
] as const
const VIEW_COLUMNS = `${CART_COLUMNS.map((c) => `c.${c} AS "cart.${c}"`).join(', ')},
  ${PROFILE_COLUMNS.map((c) => `p.${c} AS "profile.${c}"`).join(', ')},
  EXISTS (
    SELECT 1 FROM {schema}.relance_carts o WHERE o.profile_id = c.profile_id AND o.id <> c.id
      AND (o.activity_at > c.activity_at OR (o.activity_at = c.activity_at AND o.id COLLATE "C" > c.id COLLATE "C"))
  ) AS superseded,
  (SELECT coalesce(jsonb_agg(to_jsonb(s) ORDER BY s.step_index, s.created_at), '[]'::jsonb)
    FROM {schema}.relance_sends s WHERE s.cart_id = c.id) AS sends`
const VIEW_PROFILE = `LEFT JOIN LATERAL (SELECT * FROM {schema}.relance_profiles p WHERE p.id = c.profile_id LIMIT 1) p ON true`

/**
 * A view column's name and the name it has in its table. Built once: a key made by `+` on every
 * row is a new string that each property lookup must hash and find again.
 */
const prefixed = (prefix: string, columns: readonly string[]) => columns.map((column) => [prefix + column, column] as const)
const CART_VIEW_COLUMNS = prefixed('cart.', CART_COLUMNS)
const PROFILE_VIEW_COLUMNS = prefixed('profile.', PROFILE_COLUMNS)

/** The columns of a view row that belong to one table, under their own names: a row of it. */
function columnsOf(row: Row, columns: readonly (readonly [string, string])[]): Row {
  const out: Row = {}
  for (const [viewName, name] of columns) out[name] = row[viewName]
  return out
}

const profileValues = (p: ProfileRecord) => [
  p.id, p.customerId, p.email, p.firstName, p.locale, p.timeZone, p.marketing.state, p.marketing.at,
  p.marketing.source, p.hasPurchased, p.lastOrderAt, p.createdAt, p.updatedAt,
]

const SQL = {
  // Advisory lock keyed by the schema: two processes starting at once migrate one after the other.
  migrationLock: `SELECT pg_advisory_xact_lock(hashtext('relance-migrations:' || $1))`,
  createSchema: `CREATE SCHEMA IF NOT EXISTS {schema}`,
  migrationsTable: `CREATE TABLE IF NOT EXISTS {schema}.relance_migrations (version integer PRIMARY KEY)`,
  appliedVersions: `SELECT version FROM {schema}.relance_migrations`,
  recordMigration: `INSERT INTO {schema}.relance_migrations (version) VALUES ($1)`,

  getProfile: `SELECT * FROM {schema}.relance_profiles WHERE id = $1`,
  profileByCustomer: `SELECT * FROM {schema}.relance_profiles WHERE customer_id = $1`,
  profileByEmail: `SELECT * FROM {schema}.relance_profiles WHERE email = $1`,
  profileByDevice: `
SELECT p.* FROM {schema}.relance_devices d JOIN {schema}.relance_profiles p ON p.id = d.profile_id WHERE d.device_id = $1`,
  // `trackCart`'s reads in one round trip (and one snapshot), each record as one JSON value
  // (null where its key is null or held by no one). As JSON, not as columns side by side: the
  // driver reads a row description and parses every column for each result, and 48 columns
  // cost the Node process about as much as two queries (measured: 113–121 µs of CPU a call,
  // against 63–71 µs as four JSON values).
  lookup: `
SELECT (SELECT to_jsonb(c) FROM {schema}.relance_carts c WHERE c.id = $4) AS cart,
  (SELECT to_jsonb(p) FROM {schema}.relance_profiles p WHERE p.customer_id = $1) AS by_customer,
  (SELECT to_jsonb(p) FROM {schema}.relance_profiles p WHERE p.email = $2) AS by_email,
  (SELECT to_jsonb(p) FROM {schema}.relance_devices d JOIN {schema}.relance_profiles p ON p.id = d.profile_id
    WHERE d.device_id = $3) AS by_device`,
  // The unique constraints decide conflicts atomically; their names tell which field clashed.
  upsertProfile: upsertProfile(1),
  linkDevice: linkDevice('$1', '$2', '$3'),
  // Data-modifying CTEs run to completion whether or not the outer statement reads them: one
  // round trip writes both rows, atomically (one statement).
  upsertProfileLinkDevice: `WITH profile AS (${upsertProfile(1)})${linkDevice('$14', '$1', '$15')}`,

  mergeDevices: `UPDATE {schema}.relance_devices SET profile_id = $1 WHERE profile_id = $2`,
  mergeCarts: `UPDATE {schema}.relance_carts SET profile_id = $1 WHERE profile_id = $2`,
  mergeJobs: `UPDATE {schema}.relance_jobs SET profile_id = $1 WHERE profile_id = $2`,
  mergeSends: `UPDATE {schema}.relance_sends SET profile_id = $1 WHERE profile_id = $2`,
  mergeOrders: `UPDATE {schema}.relance_orders SET profile_id = $1 WHERE profile_id = $2`,
  mergeDropShadowedAssignments: `
DELETE FROM {schema}.relance_assignments WHERE profile_id = $2
  AND experiment_id IN (SELECT experiment_id FROM {schema}.relance_assignments WHERE profile_id = $1)`,
  mergeAssignments: `UPDATE {schema}.relance_assignments SET profile_id = $1 WHERE profile_id = $2`,
  deleteProfile: `DELETE FROM {schema}.relance_profiles WHERE id = $1`,

  getCart: `SELECT * FROM {schema}.relance_carts WHERE id = $1`,
  upsertCart: UPSERT_CART,
  listCarts: `SELECT * FROM {schema}.relance_carts WHERE profile_id = $1`,
  // The cart's id and profile ($1, $2) are the job's; its due time or note comes last ($10).
  upsertCartSchedule: `WITH cart AS (${UPSERT_CART})\n${schedule('$10')}`,
  upsertCartCancel: `WITH cart AS (${UPSERT_CART})\n${cancel('$10')}`,
  // A cart saved with its owner's profile write ($11–$23) and device ($24, $25), and its job.
  ownedCartSchedule: ownedCart(false, schedule('$10')),
  ownedCartCancel: ownedCart(false, cancel('$10')),
  ownedDeviceCartSchedule: ownedCart(true, schedule('$10')),
  ownedDeviceCartCancel: ownedCart(true, cancel('$10')),

  schedule: schedule('$3'),
  cancel: cancel('$2'),
  getJob: `SELECT * FROM {schema}.relance_jobs WHERE cart_id = $1`,
  claimDue: `${CLAIM}\nSELECT * FROM claimed`,
  // The claim and the read of the claimed carts, in one statement (the read sees the carts as
  // they were when the statement started).
  claimBatch: `${CLAIM}
SELECT j.*, ${VIEW_COLUMNS}
FROM claimed AS j LEFT JOIN {schema}.relance_carts c ON c.id = j.cart_id ${VIEW_PROFILE}`,
  extendLease: `UPDATE {schema}.relance_jobs SET lease_until = $3 WHERE cart_id = $1 AND owner = $2`,
  // One statement for a batch: rows the owner still holds are released, and the settlement is
  // written where the revision still matches (otherwise the newer state is kept: yielded).
  // The owner is a column of the batch ($1, repeated), not a constant: against a constant,
  // PostgreSQL estimates that almost no job matches (an owner is a rare value), scans the jobs
  // table for it and joins the batch's arrays to each row found, unnesting them again per row
  // (measured at 20k jobs: 6–11 ms per 100 jobs; as a join column, 1–2 ms).
  settleMany: `
UPDATE {schema}.relance_jobs AS j SET owner = NULL, lease_until = NULL,
  state = CASE WHEN j.rev = i.rev THEN i.state ELSE j.state END,
  due_at = CASE WHEN j.rev = i.rev THEN coalesce(i.due_at, j.due_at) ELSE j.due_at END,
  attempts = CASE WHEN j.rev = i.rev THEN coalesce(i.attempts, j.attempts) ELSE j.attempts END,
  note = CASE WHEN j.rev = i.rev THEN i.note ELSE j.note END
FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::timestamptz[], $6::integer[], $7::text[])
  AS i(owner, cart_id, rev, state, due_at, attempts, note)
WHERE j.cart_id = i.cart_id AND j.owner = i.owner
RETURNING j.cart_id, j.rev = i.rev AS applied`,
  // A batch's carts with their profile, send log and whether a newer cart of the person exists,
  // in one statement (one snapshot).
  viewCarts: `SELECT ${VIEW_COLUMNS} FROM {schema}.relance_carts c ${VIEW_PROFILE} WHERE c.id = ANY($1::text[])`,

  reserveSend: `
INSERT INTO {schema}.relance_sends (id, cart_id, profile_id, step, step_index, experiment_id, variant, outcome,
  message_id, incentive, subtotal, currency, reason, created_at, sent_at, clicked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
ON CONFLICT DO NOTHING
RETURNING *`,
  // The job row is locked while the record is inserted: an order's cancel either committed before
  // (the revision no longer matches, nothing is inserted) or waits for this statement.
  reserveSendGuarded: `
WITH held AS (
  SELECT cart_id FROM {schema}.relance_jobs WHERE cart_id = $2 AND owner = $17 AND rev = $18 FOR UPDATE
), inserted AS (
  INSERT INTO {schema}.relance_sends (id, cart_id, profile_id, step, step_index, experiment_id, variant, outcome,
    message_id, incentive, subtotal, currency, reason, created_at, sent_at, clicked_at)
  SELECT $1, $2, $3, $4, $5::integer, $6, $7, $8, $9, $10::jsonb, $11::bigint, $12, $13, $14::timestamptz, $15::timestamptz, $16::timestamptz
  FROM held
  ON CONFLICT DO NOTHING
  RETURNING *
)
SELECT EXISTS (SELECT 1 FROM held) AS held, inserted.* FROM (SELECT 1) AS one LEFT JOIN inserted ON true`,
  sendByCartStep: `SELECT * FROM {schema}.relance_sends WHERE cart_id = $1 AND step = $2`,
  getSend: `SELECT * FROM {schema}.relance_sends WHERE id = $1`,
  listCartSends: `SELECT * FROM {schema}.relance_sends WHERE cart_id = $1 ORDER BY step_index, created_at`,
  listProfileSends: `SELECT * FROM {schema}.relance_sends WHERE profile_id = $1 AND created_at >= $2 ORDER BY created_at, id`,
  recordClick: `UPDATE {schema}.relance_sends SET clicked_at = coalesce(clicked_at, $2) WHERE id = $1 RETURNING *`,

  saveOrder: `
INSERT INTO {schema}.relance_orders (id, profile_id, cart_id, total, currency, at, attribution)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO NOTHING`,

  assign: `
INSERT INTO {schema}.relance_assignments (experiment_id, profile_id, variant, at) VALUES ($1, $2, $3, $4)
ON CONFLICT (experiment_id, profile_id) DO NOTHING
RETURNING *`,
  getAssignment: `SELECT * FROM {schema}.relance_assignments WHERE experiment_id = $1 AND profile_id = $2`,

  suppress: `
INSERT INTO {schema}.relance_suppressions (key, reason, at) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET reason = excluded.reason, at = excluded.at`,
  getSuppression: `SELECT * FROM {schema}.relance_suppressions WHERE key = $1`,
  unsuppress: `DELETE FROM {schema}.relance_suppressions WHERE key = $1`,

  forgetDevices: `DELETE FROM {schema}.relance_devices WHERE profile_id = $1`,
  forgetJobs: `
DELETE FROM {schema}.relance_jobs WHERE profile_id = $1 OR cart_id IN (SELECT id FROM {schema}.relance_carts WHERE profile_id = $1)`,
  forgetSends: `
DELETE FROM {schema}.relance_sends WHERE profile_id = $1 OR cart_id IN (SELECT id FROM {schema}.relance_carts WHERE profile_id = $1)`,
  forgetCarts: `DELETE FROM {schema}.relance_carts WHERE profile_id = $1`,
  forgetOrders: `DELETE FROM {schema}.relance_orders WHERE profile_id = $1`,
  forgetAssignments: `DELETE FROM {schema}.relance_assignments WHERE profile_id = $1`,

  purgeJobs: `DELETE FROM {schema}.relance_jobs WHERE cart_id IN (SELECT id FROM {schema}.relance_carts WHERE activity_at < $1)`,
  purgeCarts: `DELETE FROM {schema}.relance_carts WHERE activity_at < $1`,
  purgeSends: `DELETE FROM {schema}.relance_sends WHERE created_at < $1`,
  purgeOrders: `DELETE FROM {schema}.relance_orders WHERE at < $1`,

  // Keyset pages: (time, key) strictly after the last row seen; no cursor is held between pages.
  scanSends: `
SELECT * FROM {schema}.relance_sends
WHERE created_at >= $1 AND created_at < $2 AND (created_at, id) > ($3, $4)
ORDER BY created_at, id LIMIT $5`,
  scanOrders: `
SELECT * FROM {schema}.relance_orders WHERE at >= $1 AND at < $2 AND (at, id) > ($3, $4) ORDER BY at, id LIMIT $5`,
  scanSuppressions: `
SELECT * FROM {schema}.relance_suppressions WHERE at >= $1 AND at < $2 AND (at, key) > ($3, $4) ORDER BY at, key LIMIT $5`,
  scanAssignments: `
SELECT * FROM {schema}.relance_assignments
WHERE at >= $1 AND at < $2 AND (at, experiment_id, profile_id) > ($3, $4, $5)
ORDER BY at, experiment_id, profile_id LIMIT $6`,
} as const

type StatementName = keyof typeof SQL

const UPDATABLE_SEND_FIELDS = {
  outcome: 'outcome',
  sentAt: 'sent_at',
  reason: 'reason',
  incentive: 'incentive',
  messageId: 'message_id',
} as const

// RETURNING of an UPDATE … FROM has no order: claims restore "earliest due first".
const byDue = (a: JobRecord, b: JobRecord) => a.dueAt.getTime() - b.dueAt.getTime()

function addView(views: Map<string, CartView>, row: Row): void {
  const cart = map.cart(columnsOf(row, CART_VIEW_COLUMNS))
  views.set(cart.id, {
    cart,
    profile: row['profile.id'] === null ? null : map.profile(columnsOf(row, PROFILE_VIEW_COLUMNS)),
    superseded: row.superseded === true,
    sends: (row.sends as Row[]).map(map.send),
  })
}

/**
 * A time inside a JSON value (`to_jsonb` of a row): ISO 8601 with the session's offset, which
 * `Date` reads, but for an offset with seconds (local mean time, which most zones used before
 * 1900), which it does not: that one is applied here.
 */
export function parseJsonTime(text: string): Date {
  const date = new Date(text)
  if (!Number.isNaN(date.getTime())) return date
  const m = /^(.+)([+-])(\d\d):(\d\d):(\d\d)$/.exec(text)
  if (m === null) throw new RelanceError('STORE_ERROR', `postgres store: unreadable time ${JSON.stringify(text)}`)
  const offsetMs = ((Number(m[3]) * 60 + Number(m[4])) * 60 + Number(m[5])) * 1000
  return new Date(new Date(`${m[1]}Z`).getTime() - (m[2] === '+' ? offsetMs : -offsetMs))
}

/**
 * How relance's queries read times. node-postgres turns every `timestamptz` into a Date with a
 * regular expression (postgres-date), and a claimed batch of 100 jobs carries some 700 of them:
 * parsing them was 4 % of a PostgreSQL worker's samples. The form PostgreSQL prints by default
 * (DateStyle ISO: `2026-06-01 12:00:00.123+02`, the offset also as `+05:30` or `-03:30:00`) is
 * read here from its character codes; any other form (another DateStyle, `infinity`, BC, years
 * outside 100–9999) goes to node-postgres' own parser, so the result is always the one it gives.
 */
export function parseTimestamptz(text: string): unknown {
  if (text.length < 22 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || text.charCodeAt(10) !== 32 ||
    text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return DEFAULT_TIMESTAMPTZ(text)
  const year = digits(text, 0, 4)
  const month = digits(text, 5, 2)
  const day = digits(text, 8, 2)
  const hour = digits(text, 11, 2)
  const minute = digits(text, 14, 2)
  const second = digits(text, 17, 2)
  if (year < 100 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return DEFAULT_TIMESTAMPTZ(text)
  let at = 19
  let ms = 0
  if (text.charCodeAt(at) === 46) {
    // Microseconds, trailing zeros dropped: the first three digits are the milliseconds
    // (a Date holds no more; node-postgres' parser truncates the same way).
    const start = ++at
    while (at < text.length && text.charCodeAt(at) >= 48 && text.charCodeAt(at) <= 57) at++
    if (at === start) return DEFAULT_TIMESTAMPTZ(text)
    for (let i = start; i < start + 3; i++) ms = ms * 10 + (i < at ? text.charCodeAt(i) - 48 : 0)
  }
  const sign = text.charCodeAt(at) === 43 ? 1 : text.charCodeAt(at) === 45 ? -1 : 0
  const hours = digits(text, at + 1, 2)
  if (sign === 0 || hours < 0) return DEFAULT_TIMESTAMPTZ(text)
  let offset = hours * 3600
  at += 3
  // Then `:MM` and `:SS`, when not zero.
  for (let unit = 60; at < text.length && unit >= 1; unit /= 60) {
    const more = digits(text, at + 1, 2)
    if (text.charCodeAt(at) !== 58 || more < 0) return DEFAULT_TIMESTAMPTZ(text)
    offset += more * unit
    at += 3
  }
  if (at !== text.length) return DEFAULT_TIMESTAMPTZ(text)
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - sign * offset * 1000)
}

/** The number written by `count` decimal digits of `text` from `at`, or -1 when one is not a digit. */
function digits(text: string, at: number, count: number): number {
  let value = 0
  for (let i = at; i < at + count; i++) {
    const code = text.charCodeAt(i) - 48
    if (code < 0 || code > 9) return -1
    value = value * 10 + code
  }
  return value
}

const TIMESTAMPTZ_OID = 1184
const DEFAULT_TIMESTAMPTZ = pg.types.getTypeParser(TIMESTAMPTZ_OID, 'text') as (text: string) => unknown
/** Passed with every query: ours for `timestamptz`, node-postgres' (as the application set them) for every other type. */
const TYPES: NonNullable<PgQueryConfigLike['types']> = {
  getTypeParser: (oid, format) => (oid === TIMESTAMPTZ_OID && format !== 'binary' ? parseTimestamptz : pg.types.getTypeParser(oid, format as 'text')),
}

// A time is a Date from a column, or text inside a JSON value (the sends of a view, `lookup`).
const map = rowMappers({
  time: (v) => (v instanceof Date ? v : parseJsonTime(String(v))),
  json: (v) => (typeof v === 'string' ? JSON.parse(v) : v),
})
// Far enough to bound open ranges, inside what timestamptz holds.
const MIN_TIME = new Date('0001-01-01T00:00:00Z')
const MAX_TIME = new Date('9999-12-31T00:00:00Z')
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

function storeError(error: unknown, during: string): RelanceError {
  if (error instanceof RelanceError) return error
  const message = error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error)
  return new RelanceError('STORE_ERROR', `postgres store: ${during} failed: ${message}`, { cause: error })
}

function conflictOf(error: unknown): string | null {
  const e = error as { code?: string; constraint?: string }
  if (e?.code !== '23505') return null
  if (e.constraint === 'relance_profiles_email_unique') return 'email'
  if (e.constraint === 'relance_profiles_customer_id_unique') return 'customerId'
  return null
}

/**
 * The store for shops running many workers: PostgreSQL through `pg`. Claims lock due rows with
 * `FOR UPDATE SKIP LOCKED` and lease them in the same statement, so any number of processes can
 * tick at once without waiting on each other or sending a step twice.
 */
export function postgresStore(options: PostgresStoreOptions): Store {
  if (options === null || typeof options !== 'object') throw invalidConfig('postgresStore', 'needs { connectionString } or { pool }')
  const hasUrl = 'connectionString' in options && options.connectionString !== undefined
  const hasPool = 'pool' in options && options.pool !== undefined
  if (hasUrl === hasPool) throw invalidConfig('postgresStore', 'needs exactly one of { connectionString } or { pool }')
  if (hasUrl && (typeof options.connectionString !== 'string' || options.connectionString.length === 0)) {
    throw invalidConfig('connectionString', 'must be a non-empty postgres:// URL')
  }
  const schema = options.schema ?? 'public'
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw invalidConfig('schema', 'must be letters, digits or _, start with a letter or _, at most 63 characters')
  }
  let connectionTimeoutMillis = 5000
  let max = 10
  if (hasUrl) {
    const o = options as { connectionTimeoutMillis?: number; max?: number }
    connectionTimeoutMillis = o.connectionTimeoutMillis ?? connectionTimeoutMillis
    max = o.max ?? max
    if (!Number.isInteger(connectionTimeoutMillis) || connectionTimeoutMillis <= 0) {
      throw invalidConfig('connectionTimeoutMillis', 'must be a positive integer (0 would wait forever)')
    }
    if (!Number.isInteger(max) || max < 1) throw invalidConfig('max', 'must be an integer ≥ 1')
  }

  const quoted = `"${schema}"`
  const sql = Object.fromEntries(
    (Object.keys(SQL) as StatementName[]).map((name) => [name, SQL[name].replaceAll('{schema}', quoted)]),
  ) as Record<StatementName, string>

  // Named statements are parsed and planned once per connection; the name carries the schema
  // (hashed: names are cut at 63 bytes) so stores on other schemas sharing a pool never clash.
  let hash = 5381
  for (const char of schema) hash = ((hash * 33) ^ char.charCodeAt(0)) >>> 0
  const statementName = (name: StatementName) => `relance_${hash.toString(36)}_${name}`

  const owned = hasUrl
  let pool: PgPoolLike | null = hasPool ? (options as { pool: PgPoolLike }).pool : null
  let initialising: Promise<void> | null = null

  function getPool(): PgPoolLike {
    if (pool === null) {
      const created = new pg.Pool({ connectionString: (options as { connectionString: string }).connectionString, connectionTimeoutMillis, max })
      // An idle connection dropped by the server must not crash the process; the next query
      // reports it as STORE_ERROR.
      created.on('error', () => {})
      pool = created as unknown as PgPoolLike
    }
    return pool
  }

  function ready(): Promise<void> {
    return (initialising ??= migrate().catch((error: unknown) => {
      initialising = null
      throw storeError(error, 'init')
    }))
  }

  async function migrate(): Promise<void> {
    await transaction(async (client) => {
      await client.query(SQL.migrationLock, [schema])
      await client.query(sql.createSchema)
      await client.query(sql.migrationsTable)
      const applied = new Set((await client.query(sql.appliedVersions)).rows.map((r) => Number(r.version)))
      for (const migration of POSTGRES_MIGRATIONS) {
        if (applied.has(migration.version)) continue
        await client.query(migration.sql.replaceAll('{schema}', quoted))
        await client.query(sql.recordMigration, [migration.version])
      }
    })
  }

  async function transaction<T>(fn: (client: PgClientLike) => Promise<T>): Promise<T> {
    const client = await getPool().connect()
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => { broken = rollbackError })
      throw error
    } finally {
      client.release(broken)
    }
  }

  /** One of the store's statements, prepared by name, its times read by `TYPES`. */
  const prepared = (name: StatementName, values: unknown[]): PgQueryConfigLike => ({ name: statementName(name), text: sql[name], values, types: TYPES })

  async function query(during: string, name: StatementName, values: unknown[]): Promise<PgResultLike> {
    await ready()
    try {
      return await getPool().query(prepared(name, values))
    } catch (error) {
      throw storeError(error, during)
    }
  }

  async function write<T>(during: string, fn: (q: (name: StatementName, values: unknown[]) => Promise<PgResultLike>) => Promise<T>): Promise<T> {
    await ready()
    try {
      return await transaction((client) => fn((name, values) => client.query(prepared(name, values))))
    } catch (error) {
      throw storeError(error, during)
    }
  }

  async function settleMany(during: string, owner: string, items: readonly SettleItem[]): Promise<SettleResult[]> {
    if (items.length === 0) return []
    const column = <T>(pick: (item: SettleItem) => T) => items.map(pick)
    const pending = (item: SettleItem) => (item.settlement.state === 'pending' ? item.settlement : null)
    const { rows } = await query(during, 'settleMany', [
      column(() => owner),
      column((i) => i.cartId),
      column((i) => i.rev),
      column((i) => i.settlement.state),
      column((i) => pending(i)?.dueAt ?? null),
      column((i) => pending(i)?.attempts ?? null),
      column((i) => i.settlement.note),
    ])
    const held = new Map(rows.map((row) => [String(row.cart_id), row.applied === true]))
    return items.map((item) => {
      const applied = held.get(item.cartId)
      return applied === undefined ? 'lost' : applied ? 'applied' : 'yielded'
    })
  }

  /** A unique violation on a profile key becomes the contract's conflict error. */
  async function reportingConflicts(fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn()
    } catch (error) {
      throw asProfileConflict(error, conflictOf)
    }
  }

  async function one(during: string, name: StatementName, values: unknown[]): Promise<Row | null> {
    return (await query(during, name, values)).rows[0] ?? null
  }

  async function* scan<T>(name: StatementName, range: TimeRange, toRecord: (row: Row) => T, keyOf: (row: Row) => unknown[]) {
    const since = range.since ?? MIN_TIME
    const until = range.until ?? MAX_TIME
    let last: unknown[] = keyOf({}).map((_, i) => (i === 0 ? MIN_TIME : ''))
    for (;;) {
      const { rows } = await query('scan', name, [since, until, ...last, SCAN_PAGE])
      for (const row of rows) yield toRecord(row)
      if (rows.length < SCAN_PAGE) return
      last = keyOf(rows[rows.length - 1]!)
    }
  }

  const store: Store = {
    name: 'postgres',
    capabilities: { durable: true, multiProcess: true },

    init: ready,

    async close() {
      if (owned && pool !== null) {
        const closing = pool
        pool = null
        initialising = null
        try {
          await closing.end()
        } catch (error) {
          throw storeError(error, 'close')
        }
      }
    },

    async getProfile(id) {
      const row = await one('getProfile', 'getProfile', [id])
      return row === null ? null : map.profile(row)
    },

    async findProfile(key: ProfileKey) {
      const row = 'customerId' in key
        ? await one('findProfile', 'profileByCustomer', [key.customerId])
        : 'email' in key
          ? await one('findProfile', 'profileByEmail', [key.email])
          : await one('findProfile', 'profileByDevice', [key.deviceId])
      return row === null ? null : map.profile(row)
    },

    async lookup({ customerId, email, deviceId, cartId }) {
      const row = (await query('lookup', 'lookup', [customerId, email, deviceId, cartId])).rows[0]!
      const profile = (value: unknown) => (value === null ? null : map.profile(value as Row))
      return {
        byCustomer: profile(row.by_customer),
        byEmail: profile(row.by_email),
        byDevice: profile(row.by_device),
        cart: row.cart === null ? null : map.cart(row.cart as Row),
      }
    },

    async saveProfile(p: ProfileRecord, device) {
      await reportingConflicts(() =>
        device === undefined
          ? query('saveProfile', 'upsertProfile', profileValues(p))
          : query('saveProfile', 'upsertProfileLinkDevice', [...profileValues(p), device.deviceId, device.at]))
    },

    async linkDevice(deviceId, profileId, at) {
      await query('linkDevice', 'linkDevice', [deviceId, profileId, at])
    },

    async mergeProfiles(fromId, intoId) {
      if (fromId === intoId) return
      await write('mergeProfiles', async (q) => {
        for (const name of ['mergeDevices', 'mergeCarts', 'mergeJobs', 'mergeSends', 'mergeOrders'] as const) await q(name, [intoId, fromId])
        await q('mergeDropShadowedAssignments', [intoId, fromId])
        await q('mergeAssignments', [intoId, fromId])
        await q('deleteProfile', [fromId])
      })
    },

    async getCart(cartId) {
      const row = await one('getCart', 'getCart', [cartId])
      return row === null ? null : map.cart(row)
    },

    async saveCart(c, job, owner) {
      const values = [c.id, c.profileId, c.deviceId, JSON.stringify(c.items), c.currency, c.status, c.activityAt, c.createdAt, c.updatedAt]
      if (owner === undefined) {
        if (job === undefined) await query('saveCart', 'upsertCart', values)
        else if ('dueAt' in job) await query('saveCart', 'upsertCartSchedule', [...values, job.dueAt])
        else await query('saveCart', 'upsertCartCancel', [...values, job.cancel])
        return
      }
      const { profile, device } = owner
      await reportingConflicts(async () => {
        if (job === undefined) {
          await write('saveCart', async (q) => {
            if (device === undefined) await q('upsertProfile', profileValues(profile))
            else await q('upsertProfileLinkDevice', [...profileValues(profile), device.deviceId, device.at])
            await q('upsertCart', values)
          })
          return
        }
        const scheduled = 'dueAt' in job
        const name = device === undefined
          ? (scheduled ? 'ownedCartSchedule' : 'ownedCartCancel')
          : (scheduled ? 'ownedDeviceCartSchedule' : 'ownedDeviceCartCancel')
        const linked = device === undefined ? [] : [device.deviceId, device.at]
        await query('saveCart', name, [...values, scheduled ? job.dueAt : job.cancel, ...profileValues(profile), ...linked])
      })
    },

    async listCarts(profileId) {
      return (await query('listCarts', 'listCarts', [profileId])).rows.map(map.cart)
    },

    async schedule({ cartId, profileId, dueAt }) {
      await query('schedule', 'schedule', [cartId, profileId, dueAt])
    },

    async cancel(cartId, note) {
      await query('cancel', 'cancel', [cartId, note])
    },

    async getJob(cartId) {
      const row = await one('getJob', 'getJob', [cartId])
      return row === null ? null : map.job(row)
    },

    async claimDue({ now, limit, owner, leaseUntil }: ClaimOptions) {
      const { rows } = await query('claimDue', 'claimDue', [now, limit, owner, leaseUntil])
      return rows.map(map.job).sort(byDue)
    },

    async extendLease(cartId, owner, leaseUntil) {
      return (await query('extendLease', 'extendLease', [cartId, owner, leaseUntil])).rowCount === 1
    },

    async settle(cartId, owner, rev, settlement: Settlement) {
      return (await settleMany('settle', owner, [{ cartId, rev, settlement }]))[0]!
    },

    settleMany: (owner, items) => settleMany('settleMany', owner, items),

    async viewCarts(cartIds) {
      const views = new Map<string, CartView>()
      if (cartIds.length === 0) return views
      for (const row of (await query('viewCarts', 'viewCarts', [cartIds])).rows) addView(views, row)
      return views
    },

    async claimBatch({ now, limit, owner, leaseUntil }: ClaimOptions) {
      const { rows } = await query('claimBatch', 'claimBatch', [now, limit, owner, leaseUntil])
      const views = new Map<string, CartView>()
      for (const row of rows) if (row['cart.id'] !== null) addView(views, row)
      return { jobs: rows.map(map.job).sort(byDue), views }
    },

    async reserveSend(r: SendRecord, lease) {
      const values = [
        r.id, r.cartId, r.profileId, r.step, r.stepIndex, r.experimentId, r.variant, r.outcome, r.messageId,
        incentiveJson(r.incentive), r.subtotal, r.currency, r.reason, r.createdAt, r.sentAt, r.clickedAt,
      ]
      let inserted: Row | null
      if (lease === undefined) inserted = await one('reserveSend', 'reserveSend', values)
      else {
        const { held, ...row } = (await one('reserveSend', 'reserveSendGuarded', [...values, lease.owner, lease.rev]))!
        if (held !== true) return null
        inserted = row.id === null ? null : row
      }
      const row = inserted ?? (await one('reserveSend', 'sendByCartStep', [r.cartId, r.step]))
      if (row === null) throw new RelanceError('STORE_ERROR', `postgres store: reserveSend: send id ${r.id} is taken by another step`)
      return map.send(row)
    },

    async updateSend(id, patch) {
      const fields = (Object.keys(UPDATABLE_SEND_FIELDS) as (keyof typeof UPDATABLE_SEND_FIELDS)[]).filter((f) => patch[f] !== undefined)
      if (fields.length === 0) return
      await ready()
      const values = fields.map((f) => (f === 'incentive' ? incentiveJson(patch.incentive!) : patch[f]))
      const text = `UPDATE ${quoted}.relance_sends SET ${fields.map((f, i) => `${UPDATABLE_SEND_FIELDS[f]} = $${i + 2}`).join(', ')} WHERE id = $1`
      try {
        await getPool().query({ name: `relance_${hash.toString(36)}_updateSend_${fields.join('_')}`, text, values: [id, ...values], types: TYPES })
      } catch (error) {
        throw storeError(error, 'updateSend')
      }
    },

    async getSend(id) {
      const row = await one('getSend', 'getSend', [id])
      return row === null ? null : map.send(row)
    },

    async listCartSends(cartId) {
      return (await query('listCartSends', 'listCartSends', [cartId])).rows.map(map.send)
    },

    async listProfileSends(profileId, since) {
      return (await query('listProfileSends', 'listProfileSends', [profileId, since])).rows.map(map.send)
    },

    async recordClick(sendId, at) {
      const row = await one('recordClick', 'recordClick', [sendId, at])
      return row === null ? null : map.send(row)
    },

    async saveOrder(o: OrderRecord) {
      const result = await query('saveOrder', 'saveOrder', [
        o.id, o.profileId, o.cartId, o.total, o.currency, o.at, o.attribution === null ? null : JSON.stringify(o.attribution),
      ])
      return result.rowCount === 1
    },

    async assign(a: AssignmentRecord) {
      const row = (await one('assign', 'assign', [a.experimentId, a.profileId, a.variant, a.at]))
        ?? (await one('assign', 'getAssignment', [a.experimentId, a.profileId]))
      return map.assignment(row!)
    },

    async getAssignment(experimentId, profileId) {
      const row = await one('getAssignment', 'getAssignment', [experimentId, profileId])
      return row === null ? null : map.assignment(row)
    },

    async suppress(entry: SuppressionRecord) {
      await query('suppress', 'suppress', [entry.key, entry.reason, entry.at])
    },

    async getSuppression(key) {
      const row = await one('getSuppression', 'getSuppression', [key])
      return row === null ? null : map.suppression(row)
    },

    async unsuppress(key) {
      await query('unsuppress', 'unsuppress', [key])
    },

    async forgetProfile(profileId) {
      await write('forgetProfile', async (q) => {
        for (const name of ['forgetDevices', 'forgetJobs', 'forgetSends', 'forgetCarts', 'forgetOrders', 'forgetAssignments', 'deleteProfile'] as const) {
          await q(name, [profileId])
        }
      })
    },

    async purge(before): Promise<PurgeResult> {
      return write('purge', async (q) => {
        await q('purgeJobs', [before])
        return {
          carts: (await q('purgeCarts', [before])).rowCount ?? 0,
          sends: (await q('purgeSends', [before])).rowCount ?? 0,
          orders: (await q('purgeOrders', [before])).rowCount ?? 0,
        }
      })
    },

    scanSends: (range) => scan('scanSends', range, map.send, (r) => [r.created_at, r.id]),
    scanOrders: (range) => scan('scanOrders', range, map.order, (r) => [r.at, r.id]),
    scanSuppressions: (range) => scan('scanSuppressions', range, map.suppression, (r) => [r.at, r.key]),
    scanAssignments: (range) => scan('scanAssignments', range, map.assignment, (r) => [r.at, r.experiment_id, r.profile_id]),
  }
  return store
}
