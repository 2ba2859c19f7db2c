// Locks that work with or without Redis.
//
// Every acquire first takes an in-process lock (MemoryLockManager: FIFO, no polling), then,
// while the Redis manager is ready, the shared Redis lock (RedisLockManager) with what is
// left of the wait budget. So:
//   - Redis ready: exclusive across instances; waiters of this instance queue locally and
//     only one of them at a time competes in Redis.
//   - No Redis configured, or Redis down/degraded (an acquire that meets an outage, too):
//     the lock is instance-local only. Two instances may then both "hold" the same lock;
//     correctness is kept by the database version check on every write made under it
//     (VersionConflictError), the lock only spares pointless conflicts.
//   - Switching between the two never breaks exclusion inside one instance, since the
//     local lock is always taken.
import { errorMessage } from '../redis/errors.js';
import { RedisUnavailableError, type LoggerLike, type RedisConnectionManager } from '../redis/types.js';
import { MemoryLockManager } from './memory-locks.js';
import { RedisLockManager, runWithLock, type RedisLockManagerOptions } from './redis-locks.js';
import type { AcquireOptions, LockHandle, LockKind, LockManager } from './types.js';

/** The same options as the Redis locks it wraps. */
export type FallbackLockManagerOptions = RedisLockManagerOptions;

export class FallbackLockManager implements LockManager {
  private readonly redis: RedisConnectionManager;
  private readonly log: LoggerLike;
  private readonly local: MemoryLockManager;
  private readonly remote: RedisLockManager | null;
  private readonly defaultTtlMs: number;
  private readonly defaultTimeoutMs: number;
  /** Last mode logged, to log switches once. */
  private mode: 'redis' | 'local' | null = null;

  constructor(opts: FallbackLockManagerOptions) {
    this.redis = opts.redis;
    this.log = opts.logger;
    this.defaultTtlMs = opts.defaultTtlMs;
    this.defaultTimeoutMs = opts.defaultTimeoutMs;
    this.local = new MemoryLockManager({ ttlMs: opts.defaultTtlMs, timeoutMs: opts.defaultTimeoutMs });
    this.remote = opts.redis.enabled
      ? new RedisLockManager({
          redis: opts.redis,
          ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
          defaultTtlMs: opts.defaultTtlMs,
          defaultTimeoutMs: opts.defaultTimeoutMs,
          logger: opts.logger,
          ...(opts.retryBaseMs !== undefined ? { retryBaseMs: opts.retryBaseMs } : {}),
          ...(opts.retryMaxMs !== undefined ? { retryMaxMs: opts.retryMaxMs } : {}),
        })
      : null;
  }

  async acquire(kind: LockKind, resource: string, opts: AcquireOptions = {}): Promise<LockHandle> {
    const ttlMs = opts.ttlMs ?? this.defaultTtlMs;
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const started = Date.now();
    const local = await this.local.acquire(kind, resource, { ttlMs, timeoutMs });
    if (!this.remote || this.redis.state !== 'ready') {
      this.noteMode('local');
      return local;
    }
    let remote: LockHandle;
    try {
      remote = await this.remote.acquire(kind, resource, { ttlMs, timeoutMs: Math.max(0, timeoutMs - (Date.now() - started)) });
    } catch (err) {
      // (RedisLockManager reports every connection-type failure as RedisUnavailableError.)
      if (err instanceof RedisUnavailableError) {
        // An outage met while acquiring: what we can offer is the instance-local lock.
        this.noteMode('local', err);
        return local;
      }
      await local.release();
      throw err; // LockTimeoutError (held elsewhere) or a real Redis error
    }
    this.noteMode('redis');
    return combine(local, remote);
  }

  async withLock<T>(kind: LockKind, resource: string, fn: (lock: LockHandle) => Promise<T>, opts?: AcquireOptions): Promise<T> {
    return runWithLock(this.log, await this.acquire(kind, resource, opts), fn);
  }

  private noteMode(mode: 'redis' | 'local', err?: unknown): void {
    if (mode === this.mode) return;
    const first = this.mode === null;
    this.mode = mode;
    if (mode === 'local' && this.remote) {
      this.log.warn(
        { redis: this.redis.state, ...(err ? { err: errorMessage(err) } : {}) },
        'locks: Redis unavailable; locks are instance-local (database versions keep writes correct)',
      );
    } else if (mode === 'redis' && !first) {
      this.log.info({}, 'locks: using Redis again');
    }
  }
}

/** The Redis lock's identity, both locks' lifetimes. */
function combine(local: LockHandle, remote: LockHandle): LockHandle {
  return {
    kind: remote.kind,
    resource: remote.resource,
    token: remote.token,
    async extend(ttlMs?: number) {
      const ours = await remote.extend(ttlMs);
      if (ours) await local.extend(ttlMs);
      return ours;
    },
    async release() {
      try {
        return await remote.release();
      } finally {
        await local.release();
      }
    },
  };
}
