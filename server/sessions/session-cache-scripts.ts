// The session cache's Redis layout and Lua (documented in docs/redis-keys.md, section
// "Session cache"). One hash per terminal (its database record):
//
//   <prefix>terminal:<id>   HASH   (was session:<id> before; see the docs on the rename)
//     t  'r' live record | 'x' tombstone (ended) | 'i' invalidation marker
//     v  the database version the entry stands for (integer)
//     d  the record as JSON (live entries only; see session-codec.ts)
//     a  lastActivityAt in epoch ms (live entries only; raised by touch, never lowered)
//
// Every change goes through one of the scripts below, which compare versions inside Redis,
// so a writer holding an older version can never replace a newer entry, whatever order
// the commands arrive in. Loaded with defineCommand (EVALSHA, EVAL on NOSCRIPT).
import type { RedisClient } from '../redis/types.js';

/** The one place the cache key of a terminal is named. */
export const sessionCacheKey = (prefix: string, terminalId: string): string => `${prefix}terminal:${terminalId}`;

/** Fields read by get(), in this order. */
export const READ_FIELDS = ['t', 'v', 'd', 'a'] as const;

// Entries of another type (never written by us) are replaced rather than failing forever.
const HASH_ONLY = `
local ty = redis.call('TYPE', KEYS[1])['ok']
if ty ~= 'hash' and ty ~= 'none' then redis.call('DEL', KEYS[1]) end
`;

/**
 * Store a live record or a tombstone, only if it is newer than what the key holds.
 * KEYS: session key. ARGV: mode ('r' live | 'x' tombstone), version, ttl ms, json, lastActivity ms.
 * Replaces when the key is absent, holds an older version, or holds an invalidation marker
 * of the same or an older version (a marker only guards the versions below its own).
 * An equal or newer live entry or tombstone is kept. Returns 1 if written, 0 if kept.
 */
const WRITE_LUA = `${HASH_ONLY}
local cur = redis.call('HMGET', KEYS[1], 't', 'v', 'a')
local ct, cv = cur[1], tonumber(cur[2])
local v = tonumber(ARGV[2])
if ct and cv then
  if cv > v or (cv == v and ct ~= 'i') then return 0 end
end
redis.call('DEL', KEYS[1])
if ARGV[1] == 'r' then
  local a = ARGV[5]
  local ca = tonumber(cur[3])
  if ct == 'r' and ca and ca > tonumber(a) then a = cur[3] end
  redis.call('HSET', KEYS[1], 't', 'r', 'v', ARGV[2], 'd', ARGV[4], 'a', a)
else
  redis.call('HSET', KEYS[1], 't', 'x', 'v', ARGV[2])
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/**
 * Invalidate without losing the version guard: replace what the key holds by a marker
 * "the truth is at version >= n" that reads treat as a miss and that only a fill or write
 * of version >= n replaces. (A plain DEL would let a fill still in flight with an older
 * version store it again.)
 * KEYS: session key. ARGV: n (0 = unknown), drop ('1': the session is no longer running at
 * the version a live entry holds, so the marker goes one above it), ttl ms.
 * Keeps an entry that is already at least as new (a tombstone always, under drop).
 * Returns 1 if a marker was written.
 */
const INVALIDATE_LUA = `${HASH_ONLY}
local cur = redis.call('HMGET', KEYS[1], 't', 'v')
local ct, cv = cur[1], tonumber(cur[2])
local n = tonumber(ARGV[1])
if ct and cv then
  if ct == 'r' and ARGV[2] == '1' and cv + 1 > n then n = cv + 1 end
  if ct == 'x' and ARGV[2] == '1' then return 0 end
  if cv >= n then return 0 end
end
if n <= 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', 'i', 'v', string.format('%d', n))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`;

/**
 * Raise a live entry's lastActivityAt (not a versioned change: the version is untouched).
 * KEYS: session key. ARGV: at ms. Returns 1 if raised.
 */
const TOUCH_LUA = `
if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return 0 end
local cur = redis.call('HMGET', KEYS[1], 't', 'a')
if cur[1] ~= 'r' then return 0 end
local a = tonumber(cur[2])
if a and a >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'a', ARGV[1])
return 1`;

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

export interface SessionCacheScripts {
  write(key: string, mode: 'r' | 'x', version: number, ttlMs: number, json: string, lastActivityMs: number): Promise<number>;
  invalidate(key: string, atLeastVersion: number, drop: boolean, ttlMs: number): Promise<number>;
  touch(key: string, atMs: number): Promise<number>;
}

const defined = new WeakSet<RedisClient>();

/** The scripts bound to a client (defined on it once). */
export function sessionCacheScripts(client: RedisClient): SessionCacheScripts {
  if (!defined.has(client)) {
    client.defineCommand('ptyhubSessionWrite', { numberOfKeys: 1, lua: WRITE_LUA });
    client.defineCommand('ptyhubSessionInvalidate', { numberOfKeys: 1, lua: INVALIDATE_LUA });
    client.defineCommand('ptyhubSessionTouch', { numberOfKeys: 1, lua: TOUCH_LUA });
    defined.add(client);
  }
  const c = client as unknown as Record<string, ScriptCall>;
  const call = (name: string, args: (string | number)[]) => c[name]!.call(client, ...args) as Promise<number>;
  return {
    write: (key, mode, version, ttlMs, json, lastActivityMs) =>
      call('ptyhubSessionWrite', [key, mode, version, ttlMs, mode === 'r' ? json : '', mode === 'r' ? lastActivityMs : 0]),
    invalidate: (key, n, drop, ttlMs) => call('ptyhubSessionInvalidate', [key, n, drop ? '1' : '0', ttlMs]),
    touch: (key, atMs) => call('ptyhubSessionTouch', [key, atMs]),
  };
}
