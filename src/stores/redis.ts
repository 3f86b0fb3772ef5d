/**
 * `relance/redis`: the store on Redis through ioredis. Every write that needs atomicity (claims,
 * owner-guarded settlement, first-writer-wins inserts, unique indexes, merges, erasure) is one Lua
 * script (see `redis-scripts.ts` for the key layout). Reads are plain GET/MGET, but for the two
 * that follow keys from one record to another (a batch's views, `lookup`): scripts too, to take
 * one round trip. Due work is a sorted set scored by the next time each job may be claimed, so a
 * claim costs O(log n + k) for k due jobs whatever the number of stored carts, and an expired
 * lease needs no sweeper.
 */
import { RelanceError, invalidConfig } from '../errors.js'
import { profileConflict } from './errors.js'
import * as scripts from './redis-scripts.js'
import { claimThenView } from './view.js'
import type {
  AssignmentRecord, CartRecord, CartView, ClaimOptions, JobRecord, OrderRecord, ProfileKey, ProfileRecord, PurgeResult,
  SendRecord, Settlement, SettleItem, SettleResult, Store, SuppressionRecord, TimeRange,
} from './types.js'

/** What the store uses of an ioredis client; the core never imports the driver. */
export interface RedisLike {
  get(key: string): Promise<string | null>
  mget(...keys: string[]): Promise<(string | null)[]>
  set(key: string, value: string): Promise<unknown>
  del(...keys: string[]): Promise<number>
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>
  smembers(key: string): Promise<string[]>
  evalsha(sha: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown>
  script(subcommand: 'LOAD', script: string): Promise<unknown>
  quit(): Promise<unknown>
}

interface CommonOptions {
  /** Prefix of every key. @default 'relance' */
  prefix?: string
}

export interface RedisUrlOptions extends CommonOptions {
  /** `redis://[user:password@]host:port[/db]`. The store opens and closes its own client. */
  url: string
  /** Connection timeout; an unreachable server fails with STORE_ERROR instead of waiting. @default 5000 */
  connectTimeoutMs?: number
}

export interface RedisClientOptions extends CommonOptions {
  /** Your ioredis client; the store never quits it. */
  client: RedisLike
}

export type RedisStoreOptions = RedisUrlOptions | RedisClientOptions

// Records travel as JSON with times in epoch milliseconds; these say which fields are times.
const TIMES: Record<string, string[]> = {
  profile: ['lastOrderAt', 'createdAt', 'updatedAt'],
  cart: ['activityAt', 'createdAt', 'updatedAt'],
  job: ['dueAt', 'leaseUntil'],
  send: ['createdAt', 'sentAt', 'clickedAt'],
  order: ['at'],
  assignment: ['at'],
  suppression: ['at'],
}

function encode(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const original = this[key]
    return original instanceof Date ? original.getTime() : v
  })
}

function revive<T>(kind: keyof typeof TIMES, json: string): T {
  const record = JSON.parse(json) as Record<string, unknown>
  for (const field of TIMES[kind]!) {
    const v = record[field]
    record[field] = v === null || v === undefined ? null : new Date(v as number)
  }
  if (kind === 'profile') {
    const marketing = record.marketing as { at: number | null }
    ;(marketing as unknown as { at: Date | null }).at = marketing.at === null ? null : new Date(marketing.at)
  }
  if (kind === 'send' && record.incentive !== null && record.incentive !== undefined) {
    const incentive = record.incentive as { expiresAt: number | null }
    ;(incentive as unknown as { expiresAt: Date | null }).expiresAt = incentive.expiresAt === null ? null : new Date(incentive.expiresAt)
  }
  return record as T
}

/** Ids inside composite keys are URI-encoded so that a `:` in an id cannot fake another key. */
const enc = encodeURIComponent

type ScriptName = Exclude<keyof typeof scripts, never>

export function redisStore(options: RedisStoreOptions): Store {
  if (options === null || typeof options !== 'object') throw invalidConfig('redisStore', 'needs { url } or { client }')
  const hasUrl = 'url' in options && options.url !== undefined
  const hasClient = 'client' in options && options.client !== undefined
  if (hasUrl === hasClient) throw invalidConfig('redisStore', 'needs exactly one of { url } or { client }')
  if (hasUrl && (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))) throw invalidConfig('url', 'must be a redis:// or rediss:// URL')
  const prefix = options.prefix ?? 'relance'
  if (typeof prefix !== 'string' || prefix.length === 0 || /\s/.test(prefix)) throw invalidConfig('prefix', 'must be a non-empty string without spaces')
  const P = prefix
  let client: RedisLike | null = hasClient ? (options as RedisClientOptions).client : null
  const shas = new Map<ScriptName, string>()

  const fail = (error: unknown, during: string): RelanceError =>
    error instanceof RelanceError ? error : new RelanceError('STORE_ERROR', `redis store: ${during} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error })

  async function connect(): Promise<RedisLike> {
    if (client !== null) return client
    const { Redis } = await import('ioredis').catch((error: unknown) => {
      throw new RelanceError('INVALID_CONFIG', 'redisStore needs the ioredis package: npm install ioredis', { cause: error })
    })
    const created = new Redis((options as RedisUrlOptions).url, {
      connectTimeout: (options as RedisUrlOptions).connectTimeoutMs ?? 5000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      lazyConnect: true,
      retryStrategy: (times: number) => (times > 3 ? null : 200 * times),
    })
    created.on('error', () => {}) // reported through the failing commands instead
    await created.connect()
    client = created as unknown as RedisLike
    return client
  }

  async function run(name: ScriptName, args: (string | number)[]): Promise<unknown> {
    const redis = await connect()
    const source = scripts[name] as string
    let sha = shas.get(name)
    if (sha === undefined) shas.set(name, (sha = String(await redis.script('LOAD', source))))
    try {
      return await redis.evalsha(sha, 0, P, ...args)
    } catch (error) {
      if (!/NOSCRIPT/.test(String((error as Error).message))) throw error
      return redis.eval(source, 0, P, ...args)
    }
  }

  async function call<T>(during: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw fail(error, during)
    }
  }

  async function many<T>(kind: keyof typeof TIMES, keys: string[]): Promise<T[]> {
    const out: T[] = []
    const redis = await connect()
    for (let i = 0; i < keys.length; i += 500) {
      const values = await redis.mget(...keys.slice(i, i + 500))
      for (const v of values) if (v !== null) out.push(revive<T>(kind, v))
    }
    return out
  }

  /** A script's `conflict:<field>` answer as the contract's error. */
  function conflictCheck(result: unknown): void {
    if (typeof result === 'string' && result.startsWith('conflict:')) throw profileConflict(result.slice('conflict:'.length))
  }

  async function one<T>(kind: keyof typeof TIMES, key: string): Promise<T | null> {
    const v = await (await connect()).get(key)
    return v === null ? null : revive<T>(kind, v)
  }

  async function* scan<T>(kind: keyof typeof TIMES, zset: string, recordKey: (member: string) => string, range: TimeRange): AsyncIterable<T> {
    const members = await call('scan', async () => (await connect()).zrangebyscore(`${P}:${zset}`, range.since?.getTime() ?? '-inf', range.until === undefined ? '+inf' : `(${range.until.getTime()}`))
    for (let i = 0; i < members.length; i += 500) {
      for (const record of await call('scan', () => many<T>(kind, members.slice(i, i + 500).map(recordKey)))) yield record
    }
  }

  async function settleMany(during: string, owner: string, items: readonly SettleItem[]): Promise<SettleResult[]> {
    if (items.length === 0) return []
    const args = items.flatMap((item) => [item.cartId, item.rev, encode(item.settlement)])
    return call(during, async () => (await run('SETTLE', [owner, ...args])) as SettleResult[])
  }

  const assignmentSuffix = (experimentId: string, profileId: string) => `${enc(experimentId)}:${enc(profileId)}`

  return {
    name: 'redis',
    capabilities: { durable: true, multiProcess: true },

    async init() {
      await call('init', async () => {
        await connect()
        for (const name of Object.keys(scripts) as ScriptName[]) {
          if (typeof scripts[name] === 'string') shas.set(name, String(await client!.script('LOAD', scripts[name] as string)))
        }
      })
    },

    async close() {
      if (!hasClient && client !== null) {
        const created = client
        client = null
        await created.quit().catch(() => {})
      }
    },

    getProfile: (id) => call('getProfile', () => one<ProfileRecord>('profile', `${P}:p:${id}`)),

    findProfile: (key: ProfileKey) => call('findProfile', async () => {
      const redis = await connect()
      let id: string | null
      if ('customerId' in key) id = await redis.get(`${P}:pc:${key.customerId}`)
      else if ('email' in key) id = await redis.get(`${P}:pe:${key.email}`)
      else {
        const device = await redis.get(`${P}:d:${key.deviceId}`)
        id = device === null ? null : (JSON.parse(device) as { profileId: string }).profileId
      }
      return id === null ? null : one<ProfileRecord>('profile', `${P}:p:${id}`)
    }),

    lookup: ({ customerId, email, deviceId, cartId }) => call('lookup', async () => {
      const keys = [customerId, email, deviceId, cartId]
      const found = (await run('LOOKUP', [...keys.map((k) => k ?? ''), keys.map((k) => (k === null ? '0' : '1')).join('')])) as (string | null)[]
      const profile = (json: string | null | undefined) => (json == null ? null : revive<ProfileRecord>('profile', json))
      return {
        byCustomer: profile(found[0]),
        byEmail: profile(found[1]),
        byDevice: profile(found[2]),
        cart: found[3] == null ? null : revive<CartRecord>('cart', found[3]),
      }
    }),

    async saveProfile(profile, device) {
      const link = device === undefined ? ['', 0] : [device.deviceId, device.at.getTime()]
      conflictCheck(await call('saveProfile', () => run('SAVE_PROFILE', [profile.id, encode(profile), profile.customerId ?? '', profile.email ?? '', ...link])))
    },

    linkDevice: async (deviceId, profileId, at) => void (await call('linkDevice', () => run('LINK_DEVICE', [deviceId, profileId, at.getTime()]))),
    mergeProfiles: async (fromId, intoId) => void (await call('mergeProfiles', () => run('MERGE', [fromId, intoId, enc(fromId), enc(intoId)]))),

    getCart: (cartId) => call('getCart', () => one<CartRecord>('cart', `${P}:c:${cartId}`)),
    saveCart: async (cart, job, owner) => {
      const change = job === undefined ? ['', ''] : 'dueAt' in job ? ['schedule', job.dueAt.getTime()] : ['cancel', job.cancel]
      const { profile, device } = owner ?? {}
      const ownerArgs = profile === undefined
        ? ['', '', '', '', '', 0]
        : [profile.id, encode(profile), profile.customerId ?? '', profile.email ?? '', device?.deviceId ?? '', device?.at.getTime() ?? 0]
      conflictCheck(await call('saveCart', () => run('SAVE_CART', [cart.id, encode(cart), cart.profileId, cart.activityAt.getTime(), ...change, ...ownerArgs])))
    },
    listCarts: (profileId) => call('listCarts', async () => many<CartRecord>('cart', (await (await connect()).smembers(`${P}:pcart:${profileId}`)).map((id) => `${P}:c:${id}`))),

    schedule: async ({ cartId, profileId, dueAt }) => void (await call('schedule', () => run('SCHEDULE', [cartId, profileId, dueAt.getTime()]))),
    cancel: async (cartId, note) => void (await call('cancel', () => run('CANCEL', [cartId, note]))),
    getJob: (cartId) => call('getJob', () => one<JobRecord>('job', `${P}:j:${cartId}`)),

    claimDue: ({ now, limit, owner, leaseUntil }: ClaimOptions) => call('claimDue', async () => {
      const json = String(await run('CLAIM', [now.getTime(), limit, owner, leaseUntil.getTime()]))
      return (JSON.parse(json) as unknown[]).map((job) => revive<JobRecord>('job', JSON.stringify(job)))
    }),
    extendLease: (cartId, owner, leaseUntil) => call('extendLease', async () => Number(await run('EXTEND', [cartId, owner, leaseUntil.getTime()])) === 1),
    settle: async (cartId, owner, rev, settlement: Settlement) => (await settleMany('settle', owner, [{ cartId, rev, settlement }]))[0]!,
    settleMany: (owner, items) => settleMany('settleMany', owner, items),
    claimBatch(options) {
      return claimThenView(this, options)
    },
    viewCarts: (cartIds) => call('viewCarts', async () => {
      const views = new Map<string, CartView>()
      if (cartIds.length === 0) return views
      const found = (await run('VIEW_CARTS', [...cartIds])) as [string, string, string | null, number, string[]][]
      for (const [id, cart, profile, superseded, sends] of found) {
        views.set(id, {
          cart: revive<CartRecord>('cart', cart),
          profile: profile === null ? null : revive<ProfileRecord>('profile', profile),
          superseded: Number(superseded) === 1,
          sends: sends.map((send) => revive<SendRecord>('send', send)).sort((a, b) => a.stepIndex - b.stepIndex),
        })
      }
      return views
    }),

    reserveSend: (send, lease) => call('reserveSend', async () => {
      const guard = lease === undefined ? ['', 0] : [lease.owner, lease.rev]
      const json = await run('RESERVE_SEND', [encode(send), send.id, send.cartId, send.step, send.profileId, send.createdAt.getTime(), ...guard])
      return json === null ? null : revive<SendRecord>('send', String(json))
    }),
    updateSend: async (id, patch) => void (await call('updateSend', () => run('UPDATE_SEND', [id, encode(patch)]))),
    getSend: (id) => call('getSend', () => one<SendRecord>('send', `${P}:s:${id}`)),
    listCartSends: (cartId) => call('listCartSends', async () => {
      const sends = await many<SendRecord>('send', (await (await connect()).smembers(`${P}:cs:${cartId}`)).map((id) => `${P}:s:${id}`))
      return sends.sort((a, b) => a.stepIndex - b.stepIndex)
    }),
    listProfileSends: (profileId, since) => call('listProfileSends', async () => {
      const ids = await (await connect()).zrangebyscore(`${P}:ps:${profileId}`, since.getTime(), '+inf')
      return (await many<SendRecord>('send', ids.map((id) => `${P}:s:${id}`))).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
    }),
    recordClick: (sendId, at) => call('recordClick', async () => {
      const json = await run('RECORD_CLICK', [sendId, at.getTime()])
      return typeof json === 'string' ? revive<SendRecord>('send', json) : null
    }),

    saveOrder: (order: OrderRecord) => call('saveOrder', async () => Number(await run('SAVE_ORDER', [order.id, encode(order), order.profileId, order.at.getTime()])) === 1),

    assign: (assignment: AssignmentRecord) => call('assign', async () => revive<AssignmentRecord>('assignment', String(await run('ASSIGN', [assignmentSuffix(assignment.experimentId, assignment.profileId), encode(assignment), assignment.profileId, assignment.at.getTime()])))),
    getAssignment: (experimentId, profileId) => call('getAssignment', () => one<AssignmentRecord>('assignment', `${P}:a:${assignmentSuffix(experimentId, profileId)}`)),

    suppress: async (entry: SuppressionRecord) => void (await call('suppress', () => run('SUPPRESS', [entry.key, encode(entry), entry.at.getTime()]))),
    getSuppression: (key) => call('getSuppression', () => one<SuppressionRecord>('suppression', `${P}:x:${key}`)),
    unsuppress: (key) => call('unsuppress', async () => void (await run('UNSUPPRESS', [key]))),

    forgetProfile: async (profileId) => void (await call('forgetProfile', () => run('FORGET', [profileId]))),
    purge: (before) => call('purge', async () => JSON.parse(String(await run('PURGE', [before.getTime()]))) as PurgeResult),

    scanSends: (range) => scan<SendRecord>('send', 'st', (id) => `${P}:s:${id}`, range),
    scanOrders: (range) => scan<OrderRecord>('order', 'ot', (id) => `${P}:o:${id}`, range),
    scanAssignments: (range) => scan<AssignmentRecord>('assignment', 'at', (suffix) => `${P}:a:${suffix}`, range),
    scanSuppressions: (range) => scan<SuppressionRecord>('suppression', 'xt', (key) => `${P}:x:${key}`, range),
  }
}
