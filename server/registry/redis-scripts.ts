// Lua for every registry mutation, so each change to a user's part of the registry is
// atomic. Every script takes the same four KEYS, the hashes of ONE user (keys.ts: they
// share the hash tag `{u:<userId>}`, so they live in one slot of a Redis Cluster), and
// builds no key names. Loaded with defineCommand (EVALSHA, EVAL on NOSCRIPT).
//
//   KEYS[1] devices       sid -> device JSON (all values strings)
//   KEYS[2] socket-terms  sid -> JSON array of terminal ids
//   KEYS[3] term-sockets  tid -> JSON array of socket ids
//   KEYS[4] primary       tid -> sid
//
// A field exists only while its list is non-empty. Mutations return a JSON report of the
// transitions (terminals/sockets that appeared or went, and whether the user did), which
// the caller applies to the global index sets used by getStats().

// Shared helpers. attach/detach keep the four hashes in step.
const PRELUDE = `
local DEV, ST, TS, PRI = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local rep = { bt = {}, et = {}, bs = {}, es = {}, u = 0 }
local userBefore = redis.call('HLEN', TS) > 0
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
  if #socks == 0 then rep.et[#rep.et + 1] = tid end
  local terms = without(list(ST, sid), tid)
  save(ST, sid, terms)
  if #terms == 0 then
    redis.call('HDEL', DEV, sid)
    rep.es[#rep.es + 1] = sid
  end
  return true
end
local function attach(tid, sid, dev)
  if redis.call('HSET', DEV, sid, dev) == 1 then rep.bs[#rep.bs + 1] = sid end
  local socks = list(TS, tid)
  if #socks == 0 then rep.bt[#rep.bt + 1] = tid end
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
local function report(result)
  local after = redis.call('HLEN', TS) > 0
  if after and not userBefore then rep.u = 1 elseif userBefore and not after then rep.u = -1 end
  rep.r = result
  return cjson.encode(rep)
end
`;

export interface ScriptDef {
  name: string;
  lua: string;
  readOnly?: boolean;
}

const script = (name: string, body: string, readOnly = false): ScriptDef => ({ name, lua: PRELUDE + body, readOnly });

/** ARGV: tid, sid, device JSON. */
export const ADD = script('ptyhubRegAdd', `attach(ARGV[1], ARGV[2], ARGV[3]) return report(1)`);

/** ARGV: tid, sid. r = 1 if it was attached. */
export const REMOVE = script('ptyhubRegRemove', `if detach(ARGV[1], ARGV[2]) then return report(1) end return report(0)`);

/** ARGV: sid. r = the terminal ids it was attached to. */
export const REMOVE_ALL = script(
  'ptyhubRegRemoveAll',
  `
local tids = list(ST, ARGV[1])
for _, tid in ipairs(tids) do detach(tid, ARGV[1]) end
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
 * ARGV: sid, device JSON ('' = the instance no longer holds it), tid...
 * Detaches terminals not listed, attaches listed ones (the caller has checked their owners).
 */
export const SYNC_SOCKET = script(
  'ptyhubRegSyncSocket',
  `
local sid = ARGV[1]
local want = {}
for i = 3, #ARGV do want[ARGV[i]] = true end
for _, tid in ipairs(list(ST, sid)) do
  if ARGV[2] == '' or not want[tid] then detach(tid, sid) end
end
if ARGV[2] ~= '' then
  for i = 3, #ARGV do attach(ARGV[i], sid, ARGV[2]) end
end
return report(1)`,
);

/**
 * Remove up to `limit` of this user's sockets held by one instance (crash cleanup, or an
 * instance purging itself). ARGV: serverId, limit.
 * r = { remaining, {tid, sid, tid, sid, ...} }.
 */
export const REAP_USER = script(
  'ptyhubRegReapUser',
  `
local id, limit = ARGV[1], tonumber(ARGV[2])
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
