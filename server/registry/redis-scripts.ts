// Lua for every registry mutation, so each change to a user's part of the registry is
// atomic. Every script takes the hashes of ONE user as KEYS (keys.ts: they share the hash
// tag `{u:<userId>}`, so they live in one slot of a Redis Cluster), and builds no key
// names. Loaded with defineCommand (EVALSHA, EVAL on NOSCRIPT).
//
//   KEYS[1] devices       sid -> device JSON (all values strings)
//   KEYS[2] socket-terms  sid -> JSON array of terminal ids
//   KEYS[3] term-sockets  tid -> JSON array of socket ids
//   KEYS[4] primary       tid -> sid
//
// A field exists only while its list is non-empty.
//
// Global counts (getStats) live in one hash, `registry:counts`: per user
// `u:<uid>` -> "<version> <terminals> <sockets>", plus the totals `terminals`, `sockets`,
// `users`. Mutations (COUNTED scripts) also take
//   KEYS[5] version       the user's version, INCR'd by each of them
//   KEYS[6] counts        only on a standalone Redis (on a cluster it is in another slot)
// and ARGV[1] = the user id (their own arguments follow). Each one ends by reading the
// user's absolute counts under its new version. With KEYS[6] it applies them itself, in the
// same script (and an empty user's version key and entry go). On a cluster the caller
// applies them with APPLY_COUNTS (one key); a user's entry only moves to a higher version,
// so updates applied late or out of order cannot leave the counts disagreeing with the
// hashes once they have all arrived. There an empty user keeps its version key and an
// entry "<version> 0 0" (what refuses a late older update): one key and one field per
// user that ever had a terminal, bounded by the accounts. Each change of the counts hash
// (entry and totals) is one script.

/**
 * Applies a user's counts at a version to the counts hash (no-op unless newer). Returns 1
 * if applied. `forget`: an empty user's entry goes (standalone: no update can come late);
 * otherwise it stays at its version, so a late older update cannot bring the user back.
 * Totals that reach 0 go too, so an empty registry leaves no key on a standalone Redis.
 */
const APPLY_COUNTS_FN = `
local function bump(key, field, by)
  if by ~= 0 and redis.call('HINCRBY', key, field, by) == 0 then redis.call('HDEL', key, field) end
end
local function applyCounts(key, uid, v, t, s, forget)
  local f = 'u:' .. uid
  local oldV, oldT, oldS = 0, 0, 0
  local old = redis.call('HGET', key, f)
  if old then
    local a, b, c = string.match(old, '^(%d+) (%d+) (%d+)$')
    oldV, oldT, oldS = tonumber(a), tonumber(b), tonumber(c)
  end
  if v <= oldV then return 0 end
  if forget and t == 0 and s == 0 then
    redis.call('HDEL', key, f)
  else
    redis.call('HSET', key, f, v .. ' ' .. t .. ' ' .. s)
  end
  bump(key, 'terminals', t - oldT)
  bump(key, 'sockets', s - oldS)
  bump(key, 'users', (t > 0 and 1 or 0) - (oldT > 0 and 1 or 0))
  return 1
end
`;

// Shared helpers. attach/detach keep the four hashes in step.
const PRELUDE = `
local DEV, ST, TS, PRI = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local function list(key, field)
  local v = redis.call('HGET', key, field)
  if not v then return {} end
  return cjson.decode(v)
end
local function save(key, field, t)
  if #t == 0 then redis.call('HDEL', key, field) else redis.call('HSET', key, field, cjson.encode(t)) end
end
local function has(t, x)
  for _, v in ipairs(t) do if v == x then return true end end
  return false
end
local function without(t, x)
  local out = {}
  for _, v in ipairs(t) do if v ~= x then out[#out + 1] = v end end
  return out
end
local function detach(tid, sid)
  local socks = list(TS, tid)
  if not has(socks, sid) then return false end
  socks = without(socks, sid)
  save(TS, tid, socks)
  if redis.call('HGET', PRI, tid) == sid or #socks == 0 then redis.call('HDEL', PRI, tid) end
  local terms = without(list(ST, sid), tid)
  save(ST, sid, terms)
  if #terms == 0 then redis.call('HDEL', DEV, sid) end
  return true
end
local function attach(tid, sid, dev)
  redis.call('HSET', DEV, sid, dev)
  local socks = list(TS, tid)
  if not has(socks, sid) then
    socks[#socks + 1] = sid
    save(TS, tid, socks)
  end
  local terms = list(ST, sid)
  if not has(terms, tid) then
    terms[#terms + 1] = tid
    save(ST, sid, terms)
  end
end
`;

// Mutations: the user id comes first in ARGV, A holds the script's own arguments.
const COUNTED = `${APPLY_COUNTS_FN}
local UID = ARGV[1]
local A = {}
for i = 2, #ARGV do A[i - 1] = ARGV[i] end
local function report(result)
  local v = redis.call('INCR', KEYS[5])
  local t, s = redis.call('HLEN', TS), redis.call('HLEN', DEV)
  if KEYS[6] then
    applyCounts(KEYS[6], UID, v, t, s, true)
    -- An empty user leaves nothing behind (its entry went with it).
    if t == 0 and s == 0 then redis.call('DEL', KEYS[5]) end
  end
  return cjson.encode({ r = result, v = v, t = t, s = s })
end
`;

export interface ScriptDef {
  name: string;
  lua: string;
  readOnly?: boolean;
  /** A mutation: takes the version (and, standalone, the counts) key and the user id too (see above). */
  counted?: boolean;
}

const script = (name: string, body: string, readOnly = false): ScriptDef => ({ name, lua: PRELUDE + body, readOnly });
const mutation = (name: string, body: string): ScriptDef => ({ name, lua: PRELUDE + COUNTED + body, counted: true });

/** A: tid, sid, device JSON. */
export const ADD = mutation('ptyhubRegAdd', `attach(A[1], A[2], A[3]) return report(1)`);

/** A: tid, sid. r = 1 if it was attached. */
export const REMOVE = mutation('ptyhubRegRemove', `if detach(A[1], A[2]) then return report(1) end return report(0)`);

/** A: sid. r = the terminal ids it was attached to. */
export const REMOVE_ALL = mutation(
  'ptyhubRegRemoveAll',
  `
local tids = list(ST, A[1])
for _, tid in ipairs(tids) do detach(tid, A[1]) end
return report(tids)`,
);

/** ARGV: sid, at. Only touches a socket that exists (never creates a device). Returns 1 if it did. */
export const UPDATE_PING = script(
  'ptyhubRegPing',
  `
local raw = redis.call('HGET', DEV, ARGV[1])
if not raw then return 0 end
local d = cjson.decode(raw)
d.lastPingAt = ARGV[2]
redis.call('HSET', DEV, ARGV[1], cjson.encode(d))
return 1`,
);

/**
 * ARGV: tid, sid ('' = clear), mode. 'set': error if the socket is not attached.
 * 'force': set if attached, else 0. 'nx': set if attached and no primary yet, else 0.
 */
export const SET_PRIMARY = script(
  'ptyhubRegSetPrimary',
  `
local tid, sid, mode = ARGV[1], ARGV[2], ARGV[3]
if sid == '' then redis.call('HDEL', PRI, tid) return 1 end
if not has(list(TS, tid), sid) then
  if mode == 'set' then return redis.error_reply('PTYHUB_NOT_ATTACHED') end
  return 0
end
if mode == 'nx' then return redis.call('HSETNX', PRI, tid, sid) end
redis.call('HSET', PRI, tid, sid)
return 1`,
);

/** ARGV: tid. Returns { sid, device JSON, sid, device JSON, ... } as one consistent snapshot. */
export const DEVICES = script(
  'ptyhubRegDevices',
  `
local out = {}
for _, sid in ipairs(list(TS, ARGV[1])) do
  local d = redis.call('HGET', DEV, sid)
  if d then
    out[#out + 1] = sid
    out[#out + 1] = d
  end
end
return out`,
  true,
);

/**
 * Make the user's hashes match an instance's own view of one socket.
 * A: sid, device JSON ('' = the instance no longer holds it), tid...
 * Detaches terminals not listed, attaches listed ones (the caller has checked their owners).
 */
export const SYNC_SOCKET = mutation(
  'ptyhubRegSyncSocket',
  `
local sid = A[1]
local want = {}
for i = 3, #A do want[A[i]] = true end
for _, tid in ipairs(list(ST, sid)) do
  if A[2] == '' or not want[tid] then detach(tid, sid) end
end
if A[2] ~= '' then
  for i = 3, #A do attach(A[i], sid, A[2]) end
end
return report(1)`,
);

/**
 * Remove up to `limit` of this user's sockets held by one instance (crash cleanup, or an
 * instance purging itself). A: serverId, limit.
 * r = { remaining, {tid, sid, tid, sid, ...} }.
 */
export const REAP_USER = mutation(
  'ptyhubRegReapUser',
  `
local id, limit = A[1], tonumber(A[2])
local pairs_out, remaining, done = {}, 0, 0
local all = redis.call('HGETALL', DEV)
for i = 1, #all, 2 do
  local sid = all[i]
  if cjson.decode(all[i + 1]).serverId == id then
    if done < limit then
      done = done + 1
      for _, tid in ipairs(list(ST, sid)) do
        if detach(tid, sid) then
          pairs_out[#pairs_out + 1] = tid
          pairs_out[#pairs_out + 1] = sid
        end
      end
    else
      remaining = remaining + 1
    end
  end
end
return report({ remaining, pairs_out })`,
);

/** ARGV: serverId. The user's socket ids held by that instance. */
export const SOCKETS_OF_SERVER = script(
  'ptyhubRegSocketsOfServer',
  `
local out = {}
local all = redis.call('HGETALL', DEV)
for i = 1, #all, 2 do
  if cjson.decode(all[i + 1]).serverId == ARGV[1] then out[#out + 1] = all[i] end
end
return out`,
  true,
);

export const USER_SCRIPTS: ScriptDef[] = [ADD, REMOVE, REMOVE_ALL, UPDATE_PING, SET_PRIMARY, DEVICES, SYNC_SOCKET, REAP_USER, SOCKETS_OF_SERVER];

/**
 * The counts of one user, on a cluster (see the top of this file).
 * KEYS: counts. ARGV: userId, version, terminals, sockets. Returns 1 if applied, 0 if older.
 */
export const APPLY_COUNTS: ScriptDef = {
  name: 'ptyhubRegApplyCounts',
  lua: `${APPLY_COUNTS_FN}
return applyCounts(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), false)`,
};

/**
 * Owner keys (one key, any slot): claim an id for a user, or find that another user holds it.
 * KEYS: owner key. ARGV: userId, ttl ms. Returns 1 (ours, TTL renewed) or 0 (another user's).
 */
export const CLAIM_OWNER: ScriptDef = {
  name: 'ptyhubRegClaimOwner',
  lua: `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`,
};
