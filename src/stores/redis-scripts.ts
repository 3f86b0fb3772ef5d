/**
 * Lua scripts of the Redis store. Each runs atomically on the server; times come in as ARGV from
 * the engine's clock (never `TIME`). Records are JSON strings with times as epoch milliseconds.
 * ARGV[1] is always the key prefix (keys are built inside the scripts: one Redis, or a cluster
 * with the whole prefix in one hash slot, e.g. `{shop}:`).
 *
 * Key layout (P = prefix):
 *   P:p:<id> profile · P:pc:<customerId> / P:pe:<email> → profile id (unique indexes)
 *   P:d:<device> {profileId, at} · P:pd:<profile> set of devices
 *   P:c:<cart> cart · P:pcart:<profile> set of carts · P:cact zset activityAt → cart
 *   P:j:<cart> job · P:due zset (next claimable time → cart), pending jobs only
 *   P:s:<id> send · P:sk:<cart>NUL<step> → send id · P:cs:<cart> set · P:ps:<profile> zset createdAt · P:st zset createdAt
 *   P:o:<id> order · P:po:<profile> set · P:ot zset at
 *   P:a:<experiment>:<profile> assignment · P:pa:<profile> set of those keys · P:at zset at
 *   P:x:<hash> suppression · P:xt zset at
 */

const COMMON = `
local P = ARGV[1]
local function get(key) local v = redis.call('GET', key); if v then return cjson.decode(v) end; return nil end
local function put(key, value) redis.call('SET', key, cjson.encode(value)) end
local function isnull(v) return v == nil or v == cjson.null end
-- The next time a pending job may be claimed: its due time, or the end of its lease.
local function claimable(job)
  local t = job.dueAt
  if not isnull(job.owner) and not isnull(job.leaseUntil) and job.leaseUntil > t then t = job.leaseUntil end
  return t
end
local function wake(cartId, job)
  if job.state == 'pending' then redis.call('ZADD', P .. ':due', claimable(job), cartId) else redis.call('ZREM', P .. ':due', cartId) end
end
`

// Writes shared by a script of their own and by the combined writes (profile + device, cart + job).
const LINK = `
local function link_device(device, profile, at)
  local previous = get(P .. ':d:' .. device)
  if previous then redis.call('SREM', P .. ':pd:' .. previous.profileId, device) end
  put(P .. ':d:' .. device, { profileId = profile, at = at })
  redis.call('SADD', P .. ':pd:' .. profile, device)
end
`

const JOBS = `
local function schedule_job(cart, profile, due)
  local job = get(P .. ':j:' .. cart) or { cartId = cart, owner = cjson.null, leaseUntil = cjson.null, rev = 0 }
  job.profileId = profile; job.state = 'pending'; job.dueAt = due; job.attempts = 0; job.rev = job.rev + 1; job.note = cjson.null
  put(P .. ':j:' .. cart, job)
  wake(cart, job)
end
local function cancel_job(cart, note)
  local job = get(P .. ':j:' .. cart)
  if not job then return 'none' end
  job.state = 'done'; job.note = note; job.rev = job.rev + 1
  put(P .. ':j:' .. cart, job)
  wake(cart, job)
  return 'ok'
end
`

const PROFILE = `
-- The unique keys first: a conflict must leave everything unwritten.
local function profile_conflict(id, customer, email)
  if customer ~= '' then local holder = redis.call('GET', P .. ':pc:' .. customer); if holder and holder ~= id then return 'conflict:customerId' end end
  if email ~= '' then local holder = redis.call('GET', P .. ':pe:' .. email); if holder and holder ~= id then return 'conflict:email' end end
  return nil
end
local function save_profile(id, json, customer, email)
  local previous = get(P .. ':p:' .. id)
  if previous then
    if not isnull(previous.customerId) then redis.call('DEL', P .. ':pc:' .. previous.customerId) end
    if not isnull(previous.email) then redis.call('DEL', P .. ':pe:' .. previous.email) end
  end
  redis.call('SET', P .. ':p:' .. id, json)
  if customer ~= '' then redis.call('SET', P .. ':pc:' .. customer, id) end
  if email ~= '' then redis.call('SET', P .. ':pe:' .. email, id) end
end
`

/** ARGV: P, id, json, customerId|'', email|'', deviceId|'', at → 'ok' | 'conflict:<field>' (nothing written) */
export const SAVE_PROFILE = `${COMMON}${LINK}${PROFILE}
local id, json, customer, email, device = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local conflict = profile_conflict(id, customer, email)
if conflict then return conflict end
save_profile(id, json, customer, email)
if device ~= '' then link_device(device, id, tonumber(ARGV[7])) end
return 'ok'
`

/** ARGV: P, deviceId, profileId, at */
export const LINK_DEVICE = `${COMMON}${LINK}
link_device(ARGV[2], ARGV[3], tonumber(ARGV[4]))
return 'ok'
`

/**
 * ARGV: P, cartId, json, profileId, activityAt, 'schedule' | 'cancel' | '', dueAt | note,
 * then the owner's profile id | '', json, customerId | '', email | '', deviceId | '', at
 * → 'ok' | 'conflict:<field>' (nothing written)
 */
export const SAVE_CART = `${COMMON}${LINK}${PROFILE}${JOBS}
local id, json, profile, activity, job = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local owner = ARGV[8]
if owner ~= '' then
  local conflict = profile_conflict(owner, ARGV[10], ARGV[11])
  if conflict then return conflict end
  save_profile(owner, ARGV[9], ARGV[10], ARGV[11])
  if ARGV[12] ~= '' then link_device(ARGV[12], owner, tonumber(ARGV[13])) end
end
local previous = get(P .. ':c:' .. id)
if previous and previous.profileId ~= profile then redis.call('SREM', P .. ':pcart:' .. previous.profileId, id) end
redis.call('SET', P .. ':c:' .. id, json)
redis.call('SADD', P .. ':pcart:' .. profile, id)
redis.call('ZADD', P .. ':cact', activity, id)
if job == 'schedule' then schedule_job(id, profile, tonumber(ARGV[7])) elseif job == 'cancel' then cancel_job(id, ARGV[7]) end
return 'ok'
`

/** ARGV: P, cartId, profileId, dueAt */
export const SCHEDULE = `${COMMON}${JOBS}
schedule_job(ARGV[2], ARGV[3], tonumber(ARGV[4]))
return 'ok'
`

/** ARGV: P, cartId, note */
export const CANCEL = `${COMMON}${JOBS}
return cancel_job(ARGV[2], ARGV[3])
`

/** ARGV: P, now, limit, owner, leaseUntil → JSON of the claimed jobs */
export const CLAIM = `${COMMON}
local now, limit, owner, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local claimed = {}
while #claimed < limit do
  local ids = redis.call('ZRANGEBYSCORE', P .. ':due', '-inf', now, 'LIMIT', 0, limit - #claimed)
  if #ids == 0 then break end
  for _, cart in ipairs(ids) do
    local job = get(P .. ':j:' .. cart)
    if not job or job.state ~= 'pending' then
      redis.call('ZREM', P .. ':due', cart)
    elseif job.dueAt <= now and (isnull(job.owner) or isnull(job.leaseUntil) or job.leaseUntil <= now) then
      job.owner = owner; job.leaseUntil = lease
      put(P .. ':j:' .. cart, job)
      wake(cart, job)
      claimed[#claimed + 1] = job
    else
      wake(cart, job)
    end
  end
end
if #claimed == 0 then return '[]' end
return cjson.encode(claimed)
`

/** ARGV: P, cartId, owner, leaseUntil → 1 | 0 */
export const EXTEND = `${COMMON}
local cart, owner, lease = ARGV[2], ARGV[3], tonumber(ARGV[4])
local job = get(P .. ':j:' .. cart)
if not job or isnull(job.owner) or job.owner ~= owner then return 0 end
job.leaseUntil = lease
put(P .. ':j:' .. cart, job)
wake(cart, job)
return 1
`

/**
 * ARGV: P, owner, then (cartId, rev, settlement JSON) per job → one of 'applied' | 'yielded' |
 * 'lost' per job, in order. Each job is judged on its own.
 */
export const SETTLE = `${COMMON}
local owner = ARGV[2]
local results = {}
for k = 3, #ARGV, 3 do
  local cart, rev, s = ARGV[k], tonumber(ARGV[k + 1]), cjson.decode(ARGV[k + 2])
  local job = get(P .. ':j:' .. cart)
  if not job or isnull(job.owner) or job.owner ~= owner then
    results[#results + 1] = 'lost'
  else
    job.owner = cjson.null; job.leaseUntil = cjson.null
    local result = 'yielded'
    if job.rev == rev then
      result = 'applied'
      job.state = s.state; job.note = s.note
      if s.state == 'pending' then job.dueAt = s.dueAt; job.attempts = s.attempts end
    end
    put(P .. ':j:' .. cart, job)
    wake(cart, job)
    results[#results + 1] = result
  end
end
return results
`

/**
 * ARGV: P, cartId… → per existing cart { cartId, cart JSON, profile JSON | nil, superseded 0|1,
 * { send JSON… } }. Ids compare byte by byte (code point order), never by the server's locale.
 */
export const VIEW_CARTS = `${COMMON}
local function greater(a, b)
  for k = 1, math.min(#a, #b) do
    local x, y = string.byte(a, k), string.byte(b, k)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local out = {}
for k = 2, #ARGV do
  local id = ARGV[k]
  local json = redis.call('GET', P .. ':c:' .. id)
  if json then
    local cart = cjson.decode(json)
    local superseded = 0
    for _, other in ipairs(redis.call('SMEMBERS', P .. ':pcart:' .. cart.profileId)) do
      if other ~= id then
        local t = tonumber(redis.call('ZSCORE', P .. ':cact', other))
        if t and (t > cart.activityAt or (t == cart.activityAt and greater(other, id))) then superseded = 1; break end
      end
    end
    local sends = {}
    for _, sid in ipairs(redis.call('SMEMBERS', P .. ':cs:' .. id)) do
      local send = redis.call('GET', P .. ':s:' .. sid)
      if send then sends[#sends + 1] = send end
    end
    out[#out + 1] = { id, json, redis.call('GET', P .. ':p:' .. cart.profileId), superseded, sends }
  end
end
return out
`

/**
 * ARGV: P, customerId, email, deviceId, cartId, given (one '1' or '0' per key, in that order) →
 * the JSON of the profile holding each of the three keys and of the cart, false where not given
 * or held by no one: the reads before a \`trackCart\` write, in one round trip.
 */
export const LOOKUP = `${COMMON}
local given = ARGV[6]
local function profile(id) if id then return redis.call('GET', P .. ':p:' .. id) end; return false end
local function key(k) return string.sub(given, k, k) == '1' end
local byCustomer, byEmail, byDevice, cart = false, false, false, false
if key(1) then byCustomer = profile(redis.call('GET', P .. ':pc:' .. ARGV[2])) end
if key(2) then byEmail = profile(redis.call('GET', P .. ':pe:' .. ARGV[3])) end
if key(3) then
  local device = get(P .. ':d:' .. ARGV[4])
  if device then byDevice = profile(device.profileId) end
end
if key(4) then cart = redis.call('GET', P .. ':c:' .. ARGV[5]) end
return { byCustomer, byEmail, byDevice, cart }
`

/** ARGV: P, json, id, cartId, step, profileId, createdAt, owner|'', rev → the stored send's JSON, or false when the job is not held by owner at rev */
export const RESERVE_SEND = `${COMMON}
local json, id, cart, step, profile, created = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
if ARGV[8] ~= '' then
  local job = get(P .. ':j:' .. cart)
  if not job or job.owner ~= ARGV[8] or job.rev ~= tonumber(ARGV[9]) then return false end
end
local existing = redis.call('GET', P .. ':sk:' .. cart .. '\\0' .. step)
if existing then return redis.call('GET', P .. ':s:' .. existing) end
redis.call('SET', P .. ':s:' .. id, json)
redis.call('SET', P .. ':sk:' .. cart .. '\\0' .. step, id)
redis.call('SADD', P .. ':cs:' .. cart, id)
redis.call('ZADD', P .. ':ps:' .. profile, created, id)
redis.call('ZADD', P .. ':st', created, id)
return json
`

/** ARGV: P, id, patch JSON (absent keys untouched) */
export const UPDATE_SEND = `${COMMON}
local send = get(P .. ':s:' .. ARGV[2])
if not send then return 'none' end
for k, v in pairs(cjson.decode(ARGV[3])) do send[k] = v end
put(P .. ':s:' .. ARGV[2], send)
return 'ok'
`

/** ARGV: P, id, at → the send's JSON or false */
export const RECORD_CLICK = `${COMMON}
local send = get(P .. ':s:' .. ARGV[2])
if not send then return false end
if isnull(send.clickedAt) then send.clickedAt = tonumber(ARGV[3]); put(P .. ':s:' .. ARGV[2], send) end
return cjson.encode(send)
`

/** ARGV: P, id, json, profileId, at → 1 inserted | 0 existed */
export const SAVE_ORDER = `${COMMON}
if redis.call('SET', P .. ':o:' .. ARGV[2], ARGV[3], 'NX') then
  redis.call('SADD', P .. ':po:' .. ARGV[4], ARGV[2])
  redis.call('ZADD', P .. ':ot', tonumber(ARGV[5]), ARGV[2])
  return 1
end
return 0
`

/** ARGV: P, key suffix (<experiment>:<profile>), json, profileId, at → the stored JSON */
export const ASSIGN = `${COMMON}
local key = P .. ':a:' .. ARGV[2]
if redis.call('SET', key, ARGV[3], 'NX') then
  redis.call('SADD', P .. ':pa:' .. ARGV[4], ARGV[2])
  redis.call('ZADD', P .. ':at', tonumber(ARGV[5]), ARGV[2])
  return ARGV[3]
end
return redis.call('GET', key)
`


/** ARGV: P, fromId, intoId, encoded from, encoded into (for assignment keys) */
export const MERGE = `${COMMON}
local from, into, encFrom, encInto = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if from == into then return 'ok' end
for _, device in ipairs(redis.call('SMEMBERS', P .. ':pd:' .. from)) do
  local d = get(P .. ':d:' .. device); d.profileId = into; put(P .. ':d:' .. device, d)
  redis.call('SADD', P .. ':pd:' .. into, device)
end
redis.call('DEL', P .. ':pd:' .. from)
for _, cart in ipairs(redis.call('SMEMBERS', P .. ':pcart:' .. from)) do
  local c = get(P .. ':c:' .. cart); c.profileId = into; put(P .. ':c:' .. cart, c)
  local j = get(P .. ':j:' .. cart); if j then j.profileId = into; put(P .. ':j:' .. cart, j) end
  redis.call('SADD', P .. ':pcart:' .. into, cart)
end
redis.call('DEL', P .. ':pcart:' .. from)
local sends = redis.call('ZRANGE', P .. ':ps:' .. from, 0, -1, 'WITHSCORES')
for i = 1, #sends, 2 do
  local s = get(P .. ':s:' .. sends[i]); s.profileId = into; put(P .. ':s:' .. sends[i], s)
  redis.call('ZADD', P .. ':ps:' .. into, sends[i + 1], sends[i])
end
redis.call('DEL', P .. ':ps:' .. from)
for _, order in ipairs(redis.call('SMEMBERS', P .. ':po:' .. from)) do
  local o = get(P .. ':o:' .. order); o.profileId = into; put(P .. ':o:' .. order, o)
  redis.call('SADD', P .. ':po:' .. into, order)
end
redis.call('DEL', P .. ':po:' .. from)
for _, suffix in ipairs(redis.call('SMEMBERS', P .. ':pa:' .. from)) do
  local a = get(P .. ':a:' .. suffix)
  redis.call('DEL', P .. ':a:' .. suffix)
  redis.call('ZREM', P .. ':at', suffix)
  local target = string.sub(suffix, 1, #suffix - #encFrom) .. encInto
  if a and redis.call('EXISTS', P .. ':a:' .. target) == 0 then
    a.profileId = into
    put(P .. ':a:' .. target, a)
    redis.call('SADD', P .. ':pa:' .. into, target)
    redis.call('ZADD', P .. ':at', a.at, target)
  end
end
redis.call('DEL', P .. ':pa:' .. from)
local profile = get(P .. ':p:' .. from)
if profile then
  if not isnull(profile.customerId) then redis.call('DEL', P .. ':pc:' .. profile.customerId) end
  if not isnull(profile.email) then redis.call('DEL', P .. ':pe:' .. profile.email) end
  redis.call('DEL', P .. ':p:' .. from)
end
return 'ok'
`

const DELETE_HELPERS = `
local function deleteCart(cart)
  local c = get(P .. ':c:' .. cart)
  if not c then return false end
  redis.call('DEL', P .. ':c:' .. cart, P .. ':j:' .. cart)
  redis.call('SREM', P .. ':pcart:' .. c.profileId, cart)
  redis.call('ZREM', P .. ':cact', cart)
  redis.call('ZREM', P .. ':due', cart)
  return true
end
local function deleteSend(id)
  local s = get(P .. ':s:' .. id)
  if not s then return false end
  redis.call('DEL', P .. ':s:' .. id, P .. ':sk:' .. s.cartId .. '\\0' .. s.step)
  redis.call('SREM', P .. ':cs:' .. s.cartId, id)
  if redis.call('SCARD', P .. ':cs:' .. s.cartId) == 0 then redis.call('DEL', P .. ':cs:' .. s.cartId) end
  redis.call('ZREM', P .. ':ps:' .. s.profileId, id)
  redis.call('ZREM', P .. ':st', id)
  return true
end
local function deleteOrder(id)
  local o = get(P .. ':o:' .. id)
  if not o then return false end
  redis.call('DEL', P .. ':o:' .. id)
  redis.call('SREM', P .. ':po:' .. o.profileId, id)
  redis.call('ZREM', P .. ':ot', id)
  return true
end
`

/** ARGV: P, profileId */
export const FORGET = `${COMMON}${DELETE_HELPERS}
local id = ARGV[2]
for _, device in ipairs(redis.call('SMEMBERS', P .. ':pd:' .. id)) do redis.call('DEL', P .. ':d:' .. device) end
redis.call('DEL', P .. ':pd:' .. id)
for _, cart in ipairs(redis.call('SMEMBERS', P .. ':pcart:' .. id)) do deleteCart(cart) end
redis.call('DEL', P .. ':pcart:' .. id)
for _, send in ipairs(redis.call('ZRANGE', P .. ':ps:' .. id, 0, -1)) do deleteSend(send) end
redis.call('DEL', P .. ':ps:' .. id)
for _, order in ipairs(redis.call('SMEMBERS', P .. ':po:' .. id)) do deleteOrder(order) end
redis.call('DEL', P .. ':po:' .. id)
for _, suffix in ipairs(redis.call('SMEMBERS', P .. ':pa:' .. id)) do
  redis.call('DEL', P .. ':a:' .. suffix)
  redis.call('ZREM', P .. ':at', suffix)
end
redis.call('DEL', P .. ':pa:' .. id)
local profile = get(P .. ':p:' .. id)
if profile then
  if not isnull(profile.customerId) then redis.call('DEL', P .. ':pc:' .. profile.customerId) end
  if not isnull(profile.email) then redis.call('DEL', P .. ':pe:' .. profile.email) end
  redis.call('DEL', P .. ':p:' .. id)
end
return 'ok'
`

/** ARGV: P, before → {carts, sends, orders} as JSON */
export const PURGE = `${COMMON}${DELETE_HELPERS}
local before = '(' .. ARGV[2]
local result = { carts = 0, sends = 0, orders = 0 }
for _, cart in ipairs(redis.call('ZRANGEBYSCORE', P .. ':cact', '-inf', before)) do if deleteCart(cart) then result.carts = result.carts + 1 end end
for _, send in ipairs(redis.call('ZRANGEBYSCORE', P .. ':st', '-inf', before)) do if deleteSend(send) then result.sends = result.sends + 1 end end
for _, order in ipairs(redis.call('ZRANGEBYSCORE', P .. ':ot', '-inf', before)) do if deleteOrder(order) then result.orders = result.orders + 1 end end
return cjson.encode(result)
`

/** ARGV: P, key, json, at */
export const SUPPRESS = `${COMMON}
redis.call('SET', P .. ':x:' .. ARGV[2], ARGV[3])
redis.call('ZADD', P .. ':xt', tonumber(ARGV[4]), ARGV[2])
return 'ok'
`

/** ARGV: P, key */
export const UNSUPPRESS = `${COMMON}
redis.call('DEL', P .. ':x:' .. ARGV[2])
redis.call('ZREM', P .. ':xt', ARGV[2])
return 'ok'
`
