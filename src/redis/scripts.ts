import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

// Every Lua script rxagent runs on Redis: the budget store's (on the prelude below) and the results sink's.

/** A Lua script and its SHA1, for EVALSHA. */
export interface LuaScript {
  readonly lua: string;
  readonly sha: string;
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

function budgetScript(body: string): LuaScript {
  return script(PRELUDE + body);
}

/**
 * Runs `script` by its SHA, loading it with EVAL when the server's script cache does not hold it (the cache is
 * empty after a restart or SCRIPT FLUSH).
 */
export async function runScript(
  client: Redis,
  lua: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await client.evalsha(lua.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return client.eval(lua.lua, keys.length, ...keys, ...args);
    }
    throw error;
  }
}

/*
 * The arithmetic of `token-bucket.ts`, on the Redis server's clock (`TIME`). Numbers are stored and returned
 * as `%.17g` strings: Lua numbers are doubles, but Redis turns a returned number into an integer and
 * `tostring` keeps only 14 digits.
 *
 * KEYS: 1 state hash, 2 open runs hash, 3 audit stream, 4..6 sliding logs of tokens, requests, cost,
 * 7 reservations hash, 8..9 sliding logs of input tokens and output tokens (after the rest, so keys of
 * budgets written before these limits existed keep their places). The state hash holds `epoch` (server time when it was created), `spent`, and per limit
 * `<name>:level`, `<name>:at` (updatedAt), `<name>:cd` (cooldownUntil, absent for none) and `<name>:used`
 * (what its log holds). A log is a list of `at|amount|id` entries, oldest first, each with the amount it was
 * logged with. The reservations hash has a field `<name>:<id>` per reservation with entries in that log:
 * `count|total|refunded`, how many entries, the amounts they were logged with, and how much of that has been
 * refunded since. Refunds come out of a reservation's oldest entries first (as `token-bucket.ts` changes them
 * in place), so an entry's amount now is what it was logged with less what of `refunded` its older entries
 * have not absorbed. That keeps every call O(1) amortised in the length of the log: a refund changes one
 * field instead of finding the entries, expiry pops from the head only what has expired, and a wait reads
 * from the head only as far as it must.
 *
 * Every script takes the spec first (`name,limit,windowMs,capacity,ratePerMs,sliding;...`), then the
 * epoch the caller last saw and how long it has seen Redis down, so that state lost by a restart is
 * recreated paused until every grant made before the loss has left its window.
 */
const PRELUDE = `
local S, OPEN, AUDIT, HELD = KEYS[1], KEYS[2], KEYS[3], KEYS[7]
local LOGS = { tokens = KEYS[4], requests = KEYS[5], cost = KEYS[6], inputTokens = KEYS[8],
  outputTokens = KEYS[9] }
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local INF = math.huge

local function num(x) return string.format('%.17g', x) end

local function parseSpec(text)
  local limits = {}
  for part in string.gmatch(text, '[^;]+') do
    local f = {}
    for v in string.gmatch(part, '[^,]+') do f[#f + 1] = v end
    limits[#limits + 1] = { name = f[1], limit = tonumber(f[2]), windowMs = tonumber(f[3]),
      capacity = tonumber(f[4]), rate = tonumber(f[5]), sliding = f[6] == '1' }
  end
  return limits
end

local function parseEntry(e)
  local at, amount, id = string.match(e, '^([^|]*)|([^|]*)|(.*)$')
  return tonumber(at), tonumber(amount), id
end

local function getHeld(name, id)
  local v = redis.call('HGET', HELD, name .. ':' .. id)
  if not v then return nil end
  local count, total, refunded = string.match(v, '^([^|]*)|([^|]*)|(.*)$')
  return { count = tonumber(count), total = tonumber(total), refunded = tonumber(refunded) }
end

local function putHeld(name, id, held)
  local field = name .. ':' .. id
  if held.count <= 0 then
    redis.call('HDEL', HELD, field)
  else
    redis.call('HSET', HELD, field, held.count .. '|' .. num(held.total) .. '|' .. num(held.refunded))
  end
end

-- What an entry leaving the head of the log still held: its logged amount less the refunds that reached it.
-- An entry without a reservation field (a resync's) was never refunded.
local function leave(name, amount, id)
  if id == '' then return amount end
  local held = getHeld(name, id)
  if not held then return amount end
  local back = math.min(held.refunded, amount)
  held.count, held.total, held.refunded = held.count - 1, held.total - amount, held.refunded - back
  putHeld(name, id, held)
  return amount - back
end

local function ensureEpoch(limits, expected, downFor)
  local epoch = redis.call('HGET', S, 'epoch')
  if not epoch then
    epoch = num(now)
    redis.call('HSET', S, 'epoch', epoch)
  end
  if expected ~= '' and expected ~= epoch then
    -- Grants made before the loss happened before the caller first saw Redis down, and before the new
    -- state was created; nothing is granted until they have surely slid out of every window.
    local lostBy = math.min(tonumber(epoch), now - downFor)
    for _, spec in ipairs(limits) do
      local field = spec.name .. ':cd'
      local cd = tonumber(redis.call('HGET', S, field))
      local pause = lostBy + spec.windowMs
      if pause > now and (cd == nil or cd < pause) then redis.call('HSET', S, field, num(pause)) end
    end
  end
  return epoch
end

local function load(spec)
  local n = spec.name
  local v = redis.call('HMGET', S, n .. ':level', n .. ':at', n .. ':cd', n .. ':used')
  local st = { level = tonumber(v[1]), at = tonumber(v[2]), cd = tonumber(v[3]) or -INF, used = tonumber(v[4]) or 0 }
  if st.level == nil then
    st.level = spec.capacity
    st.at = now
  end
  st.level = math.min(spec.capacity, st.level + math.max(0, now - st.at) * spec.rate)
  st.at = math.max(now, st.at)
  if spec.sliding then
    local key = LOGS[n]
    while true do
      local head = redis.call('LINDEX', key, 0)
      if not head then break end
      local at, amount, id = parseEntry(head)
      if at + spec.windowMs > now then break end
      redis.call('LPOP', key)
      st.used = st.used - leave(n, amount, id)
    end
    -- Float sums drift; an empty log is exactly zero.
    if redis.call('LLEN', key) == 0 or st.used < 0 then st.used = 0 end
  end
  return st
end

local function save(spec, st)
  local n = spec.name
  redis.call('HSET', S, n .. ':level', num(st.level), n .. ':at', num(st.at), n .. ':used', num(st.used))
  if st.cd > -INF then redis.call('HSET', S, n .. ':cd', num(st.cd)) end
end

-- Calls visit(entry) on the entries of a log from its head (or, with fromTail, its tail) on, until it
-- answers true: reads a few entries first and twice as many each time more are needed, so a walk that stops
-- early reads little of a long log.
local function walk(key, fromTail, visit)
  local seen, size = 0, 16
  while true do
    local chunk
    if fromTail then chunk = redis.call('LRANGE', key, -(seen + size), -(seen + 1))
    else chunk = redis.call('LRANGE', key, seen, seen + size - 1) end
    local count = #chunk
    for i = 1, count do
      if visit(chunk[fromTail and count + 1 - i or i]) then return end
    end
    if count < size then return end
    seen, size = seen + size, size * 2
  end
end

local function waitFor(spec, st, amount)
  if amount > spec.limit then return INF end
  -- A run that asks nothing of this limit is not held back by it, not even by its cooldown.
  if amount <= 0 then return 0 end
  local needed = math.min(amount, spec.capacity)
  local bucketWait = 0
  if st.level < needed then
    if spec.rate > 0 then bucketWait = (needed - st.level) / spec.rate else bucketWait = INF end
  end
  local logWait = 0
  local excess = spec.sliding and st.used + amount - spec.limit or 0
  if excess > 0 then
    -- Only as many of the oldest entries as must slide out are read, each at its amount now: the refunds of
    -- its reservation that older entries of the same reservation have not absorbed come off it.
    local refunded = {}
    walk(LOGS[spec.name], false, function(e)
      local at, am, id = parseEntry(e)
      if id ~= '' then
        if refunded[id] == nil then
          local held = getHeld(spec.name, id)
          refunded[id] = held and held.refunded or 0
        end
        local back = math.min(refunded[id], am)
        refunded[id] = refunded[id] - back
        am = am - back
      end
      excess = excess - am
      logWait = at + spec.windowMs - now
      return excess <= 0
    end)
  end
  -- Whole milliseconds, as token-bucket.ts: a fractional wait could round to no progress at all.
  return math.ceil(math.max(bucketWait, logWait, st.cd - now, 0))
end

local function logAppend(spec, st, amount, id)
  if spec.sliding and amount > 0 then
    redis.call('RPUSH', LOGS[spec.name], num(now) .. '|' .. num(amount) .. '|' .. id)
    st.used = st.used + amount
    local held = getHeld(spec.name, id) or { count = 0, total = 0, refunded = 0 }
    held.count, held.total = held.count + 1, held.total + amount
    putHeld(spec.name, id, held)
  end
end

local function adjustState(spec, st, id, delta)
  if delta == 0 then return end
  st.level = math.min(spec.capacity, st.level - delta)
  if not spec.sliding then return end
  if delta > 0 then
    logAppend(spec, st, delta, id)
    return
  end
  -- A refund takes back at most what the reservation's entries in the window still hold.
  local held = getHeld(spec.name, id)
  if not held then return end
  local back = math.min(-delta, held.total - held.refunded)
  if back <= 0 then return end
  held.refunded = held.refunded + back
  st.used = st.used - back
  putHeld(spec.name, id, held)
end

-- Puts a resync's entry after every entry not later than it, keeping the log in time order. Only the entries
-- between its place and the end of the log nearer in time are moved (popped, then pushed back behind it):
-- a provider's report usually places it near one end, at once or a short reset before the window's start.
local function insertByTime(key, at, entry)
  local first, last = redis.call('LINDEX', key, 0), redis.call('LINDEX', key, -1)
  if not last or parseEntry(last) <= at then
    redis.call('RPUSH', key, entry)
    return
  end
  local fromTail = at - parseEntry(first) >= parseEntry(last) - at
  local moved = 0
  walk(key, fromTail, function(e)
    local later = parseEntry(e) > at
    if later == fromTail then moved = moved + 1 end
    return later ~= fromTail
  end)
  local pop, push = 'LPOP', 'LPUSH'
  if fromTail then pop, push = 'RPOP', 'RPUSH' end
  local popped = {}
  if moved > 0 then popped = redis.call(pop, key, moved) end
  redis.call(push, key, entry)
  for i = moved, 1, -1 do redis.call(push, key, popped[i]) end
end

local function available(spec, st)
  if spec.sliding then return math.min(st.level, spec.limit - st.used) end
  return st.level
end

local function audit(kind, id, limits, amounts)
  if ARGV[#ARGV] ~= '1' then return end
  local fields = { 'at', num(now), 'kind', kind, 'id', id }
  for i, spec in ipairs(limits) do
    fields[#fields + 1] = spec.name
    fields[#fields + 1] = num(amounts[i])
  end
  redis.call('XADD', AUDIT, '*', unpack(fields))
end

local function amountsOf(text)
  local list = {}
  for v in string.gmatch(text, '[^,]+') do list[#list + 1] = tonumber(v) end
  return list
end
`;

/**
 * ARGV: spec, expected epoch, down for (ms), maxTotalCost ('' for none), id, amounts per limit in spec
 * order, cost, audit ('1'). Returns `{epoch, 'ok'}`, `{epoch, 'wait', ms}` or `{epoch, 'never', reason, limit}`.
 */
export const ACQUIRE = budgetScript(`
local limits = parseSpec(ARGV[1])
local epoch = ensureEpoch(limits, ARGV[2], tonumber(ARGV[3]))
local maxTotal, id, amounts, cost = tonumber(ARGV[4]), ARGV[5], amountsOf(ARGV[6]), tonumber(ARGV[7])
if maxTotal ~= nil then
  local spent = tonumber(redis.call('HGET', S, 'spent')) or 0
  if spent >= maxTotal then
    if redis.call('HLEN', OPEN) > 0 then return { epoch, 'wait', 'inf' } end
    return { epoch, 'never', 'max-total-cost', '' }
  end
end
local states, wait = {}, 0
for i, spec in ipairs(limits) do
  if amounts[i] > spec.limit then return { epoch, 'never', 'exceeds-capacity', spec.name } end
  states[i] = load(spec)
  wait = math.max(wait, waitFor(spec, states[i], amounts[i]))
end
if wait > 0 then
  for i, spec in ipairs(limits) do save(spec, states[i]) end
  return { epoch, 'wait', num(wait) }
end
for i, spec in ipairs(limits) do
  states[i].level = states[i].level - amounts[i]
  logAppend(spec, states[i], amounts[i], id)
  save(spec, states[i])
end
redis.call('HSET', S, 'spent', num((tonumber(redis.call('HGET', S, 'spent')) or 0) + cost))
if maxTotal ~= nil then redis.call('HSET', OPEN, id, num(cost)) end
audit('grant', id, limits, amounts)
return { epoch, 'ok' }
`);

/** ARGV: spec, expected epoch, down for, id, deltas per limit, cost delta, final ('1'), audit. Returns `{epoch}`. */
export const ADJUST = budgetScript(`
local limits = parseSpec(ARGV[1])
local epoch = ensureEpoch(limits, ARGV[2], tonumber(ARGV[3]))
local id, deltas, cost = ARGV[4], amountsOf(ARGV[5]), tonumber(ARGV[6])
local changed = false
for i, spec in ipairs(limits) do
  if deltas[i] ~= 0 then
    local st = load(spec)
    adjustState(spec, st, id, deltas[i])
    save(spec, st)
    changed = true
  end
end
if cost ~= 0 then
  redis.call('HSET', S, 'spent', num(math.max(0, (tonumber(redis.call('HGET', S, 'spent')) or 0) + cost)))
end
if ARGV[7] == '1' then redis.call('HDEL', OPEN, id) end
if changed then audit('adjust', id, limits, deltas) end
return { epoch }
`);

/** ARGV: spec, expected epoch, down for, limit name, ms from now to the end of the cooldown, audit. */
export const COOL_DOWN = budgetScript(`
local limits = parseSpec(ARGV[1])
local epoch = ensureEpoch(limits, ARGV[2], tonumber(ARGV[3]))
for _, spec in ipairs(limits) do
  if spec.name == ARGV[4] then
    local st = load(spec)
    st.cd = math.max(st.cd, now + tonumber(ARGV[5]))
    save(spec, st)
  end
end
return { epoch }
`);

/** ARGV: spec, expected epoch, down for, limit name, remaining, provider limit, reset ms, audit. */
export const RESYNC = budgetScript(`
local limits = parseSpec(ARGV[1])
local epoch = ensureEpoch(limits, ARGV[2], tonumber(ARGV[3]))
local remaining, providerLimit, resetMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
for _, spec in ipairs(limits) do
  if spec.name == ARGV[4] then
    local st = load(spec)
    st.level = math.min(st.level, remaining - math.max(0, providerLimit - spec.limit))
    local unknown = providerLimit - remaining - st.used
    if spec.sliding and unknown > 0 then
      local at = math.min(now, now + math.max(0, resetMs) - spec.windowMs)
      insertByTime(LOGS[spec.name], at, num(at) .. '|' .. num(unknown) .. '|')
      st.used = st.used + unknown
    end
    save(spec, st)
  end
end
return { epoch }
`);

/** ARGV: spec, expected epoch, down for, audit. Returns `{epoch, spent, cooldown ms from now or '', available...}`. */
export const VIEW = budgetScript(`
local limits = parseSpec(ARGV[1])
local epoch = ensureEpoch(limits, ARGV[2], tonumber(ARGV[3]))
local reply = { epoch, num(tonumber(redis.call('HGET', S, 'spent')) or 0), '' }
local cd = -INF
for _, spec in ipairs(limits) do
  local st = load(spec)
  save(spec, st)
  cd = math.max(cd, st.cd)
  reply[#reply + 1] = num(available(spec, st))
end
if cd > -INF then reply[3] = num(cd - now) end
return reply
`);

/*
 * KEYS: results stream, the task id's done-marker, tasks stream. ARGV: task id, result JSON, group ('' for
 * none), then what each script says, then the task's entry ids. The marker's `from` and `refused` fields
 * list entry ids between commas (`,1-0,2-0,`) so one `string.find` tells whether an entry is among them.
 */
const ACK = `
local function ack(first)
  if ARGV[3] ~= '' then
    for i = first, #ARGV do redis.call('XACK', KEYS[3], ARGV[3], ARGV[i]) end
  end
end
local function listed(list, first)
  for i = first, #ARGV do
    if string.find(list, ',' .. ARGV[i] .. ',', 1, true) then return true end
  end
  return false
end
`;

/*
 * ARGV[4]: the marker's time to live in ms; entry ids from ARGV[5]. Writing and acknowledging in one script
 * means an entry is never acknowledged without its result. Answers `written` or `kept` (a result from the
 * same entries, or from a writer that named none, is already there) with the result's entry id, or `reused`
 * with it and the marker's `from`: nothing is written or acknowledged, for the caller to refuse the entries.
 */
export const WRITE_RESULT = script(`${ACK}
local from = redis.call('HGET', KEYS[2], 'from')
if not from then
  local id = redis.call('XADD', KEYS[1], '*', 'taskId', ARGV[1], 'result', ARGV[2])
  local entries = ','
  for i = 5, #ARGV do entries = entries .. ARGV[i] .. ',' end
  redis.call('HSET', KEYS[2], 'result', id, 'from', entries)
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  ack(5)
  return { 'written', id }
end
local result = redis.call('HGET', KEYS[2], 'result')
if #ARGV < 5 or from == ',' or listed(from, 5) then
  ack(5)
  return { 'kept', result }
end
return { 'reused', result, from }
`);

/*
 * ARGV[2]: the rejection as JSON; entry ids from ARGV[4]. Writes the rejection once for these entries (the
 * marker's `refused` remembers them while it lives) and acknowledges them.
 */
export const REFUSE_RESULT = script(`${ACK}
local refused = redis.call('HGET', KEYS[2], 'refused') or ','
if not listed(refused, 4) then
  redis.call('XADD', KEYS[1], '*', 'taskId', ARGV[1], 'result', ARGV[2])
  if redis.call('EXISTS', KEYS[2]) == 1 then
    local entries = refused
    for i = 4, #ARGV do entries = entries .. ARGV[i] .. ',' end
    redis.call('HSET', KEYS[2], 'refused', entries)
  end
end
ack(4)
return 1
`);
