// Locks shared by every instance, in Redis: `SET <prefix>lock:<kind>:<resource> <token> NX PX ttl`.
// Only the holder of the token releases (compare-and-delete) or extends (compare-and-
// pexpire), both in Lua. A lock is an optimisation of contention, not the guard of
// correctness: writes made under it still carry the database version they expect, so a
// holder that stalled past its TTL cannot commit a stale change.
//
// Acquire retries with exponential backoff and full jitter until its deadline, then
// throws LockTimeoutError (held by someone else) or the Redis error (unavailable). Waiters
// in this process are woken as soon as a lock of theirs is released here.
//
// Phantom locks (a SET applied by Redis whose reply we never saw, e.g. a command timeout)
// are prevented by using ONE token for every attempt of an acquire:
//   - after an attempt with an unknown outcome, each later attempt first asks "does the key
//     hold our token?" (compare-and-pexpire): if so, that SET did land and the lock is ours;
//   - if the acquire finally fails, a best-effort compare-and-delete with our token removes
//     a SET that landed (commands on one connection run in order, so it runs after any SET
//     of ours still queued on that connection). If even that cannot be sent, the phantom
//     lives at most one TTL, and blocks nobody's correctness (database versions).
import { randomBytes } from 'node:crypto';
import { backoffDelay } from '../redis/backoff.js';
import type { RedisClient } from '../redis/types.js';
import { errorMessage, isRedisUnavailable, redisCall } from '../redis/errors.js';
import type { LoggerLike, RedisConnectionManager } from '../redis/types.js';
import { LockTimeoutError, type AcquireOptions, type LockHandle, type LockKind, type LockManager } from './types.js';

export interface RedisLockManagerOptions {
  redis: RedisConnectionManager;
  /** Key prefix (default: the manager's prefix). */
  prefix?: string;
  defaultTtlMs: number;
  defaultTimeoutMs: number;
  logger: LoggerLike;
  /** Acquire retry backoff: full jitter in [1, min(max, base * 2^attempt)] (defaults 5 / 200 ms). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export const lockKey = (prefix: string, kind: LockKind, resource: string): string => `${prefix}lock:${kind}:${resource}`;

// KEYS: lock. ARGV: token. 1 if it was ours and is now deleted.
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// KEYS: lock. ARGV: token, ttl ms. 1 if it is ours (its TTL is now ttl).
const EXTEND_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;
const defined = new WeakSet<RedisClient>();

function lockScripts(client: RedisClient): { release(key: string, token: string): Promise<unknown>; extend(key: string, token: string, ttlMs: number): Promise<unknown> } {
  if (!defined.has(client)) {
    client.defineCommand('ptyhubLockRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
    client.defineCommand('ptyhubLockExtend', { numberOfKeys: 1, lua: EXTEND_LUA });
    defined.add(client);
  }
  const c = client as unknown as Record<string, ScriptCall>;
  return {
    release: (key, token) => c.ptyhubLockRelease!.call(client, key, token),
    extend: (key, token, ttlMs) => c.ptyhubLockExtend!.call(client, key, token, ttlMs),
  };
}

/** State of one acquire across its attempts. */
interface Attempt {
  readonly key: string;
  readonly token: string;
  readonly ttlMs: number;
  /** A SET of ours may have been applied without our seeing the reply. */
  uncertain: boolean;
}

export class RedisLockManager implements LockManager {
  private readonly redis: RedisConnectionManager;
  private readonly prefix: string;
  private readonly log: LoggerLike;
  private readonly defaultTtlMs: number;
  private readonly defaultTimeoutMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  /** Local waiters per key, woken one at a time when a lock is released by this process. */
  private readonly sleepers = new Map<string, Set<() => void>>();

  constructor(opts: RedisLockManagerOptions) {
    this.redis = opts.redis;
    this.prefix = opts.prefix ?? opts.redis.prefix;
    this.log = opts.logger;
    this.defaultTtlMs = opts.defaultTtlMs;
    this.defaultTimeoutMs = opts.defaultTimeoutMs;
    this.retryBaseMs = opts.retryBaseMs ?? 5;
    this.retryMaxMs = opts.retryMaxMs ?? 200;
  }

  async acquire(kind: LockKind, resource: string, opts: AcquireOptions = {}): Promise<LockHandle> {
    const ttlMs = Math.max(1, Math.round(opts.ttlMs ?? this.defaultTtlMs));
    const timeoutMs = Math.max(0, opts.timeoutMs ?? this.defaultTimeoutMs);
    const a: Attempt = { key: lockKey(this.prefix, kind, resource), token: randomBytes(16).toString('hex'), ttlMs, uncertain: false };
    const started = Date.now();
    const deadline = started + timeoutMs;
    let lastError: unknown = null;
    for (let attempt = 0; ; attempt++) {
      try {
        if (await this.tryOnce(a)) return this.handle(kind, resource, a.key, a.token, ttlMs);
        lastError = null; // Redis answered: held by someone else
      } catch (err) {
        if (!isRedisUnavailable(err)) {
          await this.cleanup(a);
          throw err;
        }
        lastError = err;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await this.sleep(a.key, Math.min(remaining, backoffDelay(attempt, { baseMs: this.retryBaseMs, maxMs: this.retryMaxMs, minMs: 1 })));
    }
    await this.cleanup(a);
    if (lastError) throw lastError; // RedisUnavailableError: we could not even ask
    throw new LockTimeoutError(kind, resource, Date.now() - started);
  }

  async withLock<T>(kind: LockKind, resource: string, fn: (lock: LockHandle) => Promise<T>, opts?: AcquireOptions): Promise<T> {
    return runWithLock(this.log, await this.acquire(kind, resource, opts), fn);
  }

  /**
   * One attempt. True if the lock is ours. Throws on a Redis failure; `a.uncertain` tells
   * whether a SET may have been applied anyway.
   */
  private async tryOnce(a: Attempt): Promise<boolean> {
    const client = this.redis.readyClient(); // throws at once while not ready: nothing sent
    if (a.uncertain) {
      // An earlier SET of ours may have landed: the same token tells.
      const mine = await redisCall('lock confirm', () => lockScripts(client).extend(a.key, a.token, a.ttlMs));
      if (mine === 1) {
        this.log.debug({ key: a.key }, 'lock: an earlier attempt had acquired it (reply lost)');
        return true;
      }
    }
    try {
      const reply = await redisCall('lock acquire', () => client.set(a.key, a.token, 'PX', a.ttlMs, 'NX'));
      return reply === 'OK';
    } catch (err) {
      a.uncertain = true; // sent, outcome unknown (stays set: it may still land later)
      throw err;
    }
  }

  /** After a failed acquire: remove a SET of ours that may have landed (best effort). */
  private async cleanup(a: Attempt): Promise<void> {
    if (!a.uncertain) return;
    try {
      const client = this.redis.client(); // also while degraded: it may still get through
      // Plain EVAL, not EVALSHA: a NOSCRIPT answer arriving after our timeout would never be
      // retried as EVAL, and this must run even if it is only read after a stall.
      const removed = await redisCall('lock cleanup', () => client.eval(RELEASE_LUA, 1, a.key, a.token));
      if (removed === 1) this.log.info({ key: a.key }, 'lock: removed a lock acquired by a lost reply');
    } catch (err) {
      this.log.warn({ key: a.key, ttlMs: a.ttlMs, err: errorMessage(err) }, 'lock: could not clean up after a failed acquire; a stray lock would lapse after its TTL');
    }
  }

  private handle(kind: LockKind, resource: string, key: string, token: string, ttlMs: number): LockHandle {
    return {
      kind,
      resource,
      token,
      extend: async (ms = ttlMs) => {
        const client = this.redis.readyClient();
        return (await redisCall('lock extend', () => lockScripts(client).extend(key, token, Math.max(1, Math.round(ms))))) === 1;
      },
      release: async () => {
        const client = this.redis.readyClient();
        const released = (await redisCall('lock release', () => lockScripts(client).release(key, token))) === 1;
        if (released) this.wakeOne(key);
        return released;
      },
    };
  }

  /** Wait ms, or less if a lock on key is released by this process meanwhile. */
  private sleep(key: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.sleepers.get(key);
      if (!set) this.sleepers.set(key, (set = new Set()));
      const waiters = set;
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.sleepers.get(key) === waiters) this.sleepers.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
    });
  }

  private wakeOne(key: string): void {
    const first = this.sleepers.get(key)?.values().next().value;
    first?.();
  }
}

/**
 * Run fn under an acquired lock and release it in finally. A release that fails or finds
 * the lock gone is logged, not thrown: fn's outcome (already committed, version-checked)
 * stands, and a lock we could not release lapses after its TTL.
 */
export async function runWithLock<T>(log: LoggerLike, lock: LockHandle, fn: (lock: LockHandle) => Promise<T>): Promise<T> {
  try {
    return await fn(lock);
  } finally {
    try {
      if (!(await lock.release())) {
        log.warn({ kind: lock.kind, resource: lock.resource }, 'lock: lapsed before release (held longer than its TTL)');
      }
    } catch (err) {
      log.warn({ kind: lock.kind, resource: lock.resource, err: errorMessage(err) }, 'lock: release failed; it lapses after its TTL');
    }
  }
}
