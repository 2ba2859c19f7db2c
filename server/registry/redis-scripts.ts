// Lua for every registry mutation, so each multi-key change is atomic. Scripts build key
// names from the prefix (ARGV[1]) like keys.ts does: fine on a standalone Redis, not
// Redis Cluster compatible. Loaded with defineCommand (EVALSHA, EVAL on NOSCRIPT).

// Shared helpers. attach/detach keep every index in step:
// term sockets/user/primary, socket device/terms, user terms, server sockets, registry:* sets.
const PRELUDE = `
local P = ARGV[1]
local function detach(tid, sid)
  if redis.call('SREM', P..'term:'..tid..':sockets', sid) == 0 then return false end
  redis.call('SREM', P..'socket:'..sid..':terms', tid)
  local primKey = P..'term:'..tid..':primary'
  if redis.call('GET', primKey) == sid then redis.call('DEL', primKey) end
  if redis.call('SCARD', P..'term:'..tid..':sockets') == 0 then
    local userKey = P..'term:'..tid..':user'
    local uid = redis.call('GET', userKey)
    if uid then
      local ut = P..'user:'..uid..':terms'
      redis.call('SREM', ut, tid)
      if redis.call('SCARD', ut) == 0 then redis.call('SREM', P..'registry:users', uid) end
    end
    redis.call('DEL', userKey, primKey)
    redis.call('SREM', P..'registry:terminals', tid)
  end
  if redis.call('SCARD', P..'socket:'..sid..':terms') == 0 then
    local devKey = P..'socket:'..sid..':device'
    local srv = redis.call('HGET', devKey, 'serverId')
    if srv then redis.call('SREM', P..'server:'..srv..':sockets', sid) end
    redis.call('DEL', devKey)
    redis.call('SREM', P..'registry:sockets', sid)
  end
  return true
end
-- returns nil on success, an error tag on conflict (nothing written then)
local function attach(tid, sid, deviceId, deviceName, serverId, userId, connectedAt, lastPingAt)
  local userKey = P..'term:'..tid..':user'
  local owner = redis.call('GET', userKey)
  if owner and owner ~= userId then return 'PTYHUB_TERMINAL_OWNER' end
  local devKey = P..'socket:'..sid..':device'
  local prev = redis.call('HMGET', devKey, 'serverId', 'userId')
  if prev[2] and prev[2] ~= userId then return 'PTYHUB_SOCKET_OWNER' end
  if prev[1] and prev[1] ~= serverId then redis.call('SREM', P..'server:'..prev[1]..':sockets', sid) end
  redis.call('HSET', devKey, 'deviceId', deviceId, 'deviceName', deviceName, 'serverId', serverId,
    'userId', userId, 'connectedAt', connectedAt, 'lastPingAt', lastPingAt)
  redis.call('SADD', P..'term:'..tid..':sockets', sid)
  redis.call('SET', userKey, userId)
  redis.call('SADD', P..'socket:'..sid..':terms', tid)
  redis.call('SADD', P..'user:'..userId..':terms', tid)
  redis.call('SADD', P..'server:'..serverId..':sockets', sid)
  redis.call('SADD', P..'registry:terminals', tid)
  redis.call('SADD', P..'registry:sockets', sid)
  redis.call('SADD', P..'registry:users', userId)
  return nil
end
`;

export interface ScriptDef {
  name: string;
  lua: string;
  readOnly?: boolean;
}

const script = (name: string, body: string, readOnly = false): ScriptDef => ({
  name,
  lua: PRELUDE + body,
  readOnly,
});

/** ARGV: P, tid, sid, deviceId, deviceName, serverId, userId, connectedAt, lastPingAt. */
export const ADD = script(
  'ptyhubRegAdd',
  `
local err = attach(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9])
if err then return redis.error_reply(err) end
return 1`,
);

/** ARGV: P, tid, sid. Returns 1 if it was attached. */
export const REMOVE = script('ptyhubRegRemove', `if detach(ARGV[2], ARGV[3]) then return 1 end return 0`);

/** ARGV: P, sid. Returns the terminal ids it was attached to. */
export const REMOVE_ALL = script(
  'ptyhubRegRemoveAll',
  `
local tids = redis.call('SMEMBERS', P..'socket:'..ARGV[2]..':terms')
for _, tid in ipairs(tids) do detach(tid, ARGV[2]) end
return tids`,
);

/** ARGV: P, sid, at. Only touches a socket that exists (never creates a stray hash). */
export const UPDATE_PING = script(
  'ptyhubRegPing',
  `
local devKey = P..'socket:'..ARGV[2]..':device'
if redis.call('EXISTS', devKey) == 0 then return 0 end
redis.call('HSET', devKey, 'lastPingAt', ARGV[3])
return 1`,
);

/**
 * ARGV: P, tid, sid ('' = clear), mode. 'set': error if the socket is not attached.
 * 'force': set if attached, else 0. 'nx': set if attached and no primary yet, else 0.
 */
export const SET_PRIMARY = script(
  'ptyhubRegSetPrimary',
  `
local key = P..'term:'..ARGV[2]..':primary'
local sid, mode = ARGV[3], ARGV[4]
if sid == '' then redis.call('DEL', key) return 1 end
if redis.call('SISMEMBER', P..'term:'..ARGV[2]..':sockets', sid) == 0 then
  if mode == 'set' then return redis.error_reply('PTYHUB_NOT_ATTACHED') end
  return 0
end
if mode == 'nx' then
  if redis.call('SET', key, sid, 'NX') then return 1 end
  return 0
end
redis.call('SET', key, sid)
return 1`,
);

/** ARGV: P, tid. Returns { {sid, field, value, ...}, ... } as one consistent snapshot. */
export const DEVICES = script(
  'ptyhubRegDevices',
  `
local out = {}
for _, sid in ipairs(redis.call('SMEMBERS', P..'term:'..ARGV[2]..':sockets')) do
  local h = redis.call('HGETALL', P..'socket:'..sid..':device')
  if #h > 0 then
    table.insert(h, 1, sid)
    out[#out + 1] = h
  end
end
return out`,
  true,
);

/**
 * Make Redis match an instance's own view of one socket.
 * ARGV: P, sid, hasDevice ('1'/'0'), deviceId, deviceName, serverId, userId, connectedAt,
 * lastPingAt, tid... Detaches terminals not listed, attaches listed ones.
 * Returns the terminal ids that could not be attached (owned by another user).
 */
export const SYNC_SOCKET = script(
  'ptyhubRegSyncSocket',
  `
local sid = ARGV[2]
local want = {}
for i = 10, #ARGV do want[ARGV[i]] = true end
for _, tid in ipairs(redis.call('SMEMBERS', P..'socket:'..sid..':terms')) do
  if not want[tid] then detach(tid, sid) end
end
local conflicts = {}
if ARGV[3] == '1' then
  for i = 10, #ARGV do
    if attach(ARGV[i], sid, ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]) then
      conflicts[#conflicts + 1] = ARGV[i]
    end
  end
end
return conflicts`,
);

/**
 * Remove up to `limit` sockets of an instance whose heartbeat key is gone (force = '1'
 * skips that check: an instance purging itself on shutdown). Idempotent; two reapers may
 * race safely. ARGV: P, serverId, limit, force.
 * Returns {-1} if the instance is alive, else {remaining, {tid, sid, tid, sid, ...}}.
 */
export const REAP = script(
  'ptyhubRegReap',
  `
local id = ARGV[2]
if ARGV[4] ~= '1' and redis.call('EXISTS', P..'server:'..id) == 1 then return {-1} end
local setKey = P..'server:'..id..':sockets'
local out = {}
for _, sid in ipairs(redis.call('SPOP', setKey, tonumber(ARGV[3]))) do
  local devKey = P..'socket:'..sid..':device'
  local srv = redis.call('HGET', devKey, 'serverId')
  -- a socket that moved to another instance is that instance's business
  if (not srv) or srv == id then
    for _, tid in ipairs(redis.call('SMEMBERS', P..'socket:'..sid..':terms')) do
      if detach(tid, sid) then
        out[#out + 1] = tid
        out[#out + 1] = sid
      end
    end
    if redis.call('SCARD', P..'socket:'..sid..':terms') == 0 then
      redis.call('DEL', devKey)
      redis.call('SREM', P..'registry:sockets', sid)
    end
  end
end
local remaining = redis.call('SCARD', setKey)
if remaining == 0 then redis.call('SREM', P..'servers', id) end
return {remaining, out}`,
);

export const ALL_SCRIPTS: ScriptDef[] = [ADD, REMOVE, REMOVE_ALL, UPDATE_PING, SET_PRIMARY, DEVICES, SYNC_SOCKET, REAP];
