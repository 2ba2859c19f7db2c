// SessionStore with a Redis read-through / write-through cache in front of the database.
//
// The database stays the source of truth: every write goes to it first (it checks the
// version), and Redis only ever holds what the database produced, tagged with the
// database's integer version. Every cache change is one Lua script that compares versions
// inside Redis (session-cache-scripts.ts), so:
//   - a fill that read the database before a concurrent update or end can never replace
//     the newer entry or the tombstone that write left (no stale fill, no resurrection);
//   - cache writes may land in any order, or late (a reply that timed out), and the newest
//     version still wins.
//
// Redis trouble never fails a call. Reads fall back to the database (counted in
// stats().errors). A cache write that could not be done after a database write leaves an
// entry that may be stale; the store remembers that id ("pending invalidation"), reads it
// from the database until then, and retries with backoff (and on every 'ready') to replace
// the entry by a version-guarded marker (or the tombstone). See addPending() for why this
// is safe, and what other instances can see in the meantime.
//
// Not cached: the lists and counts (always the database). touch() raises the cached
// lastActivityAt when cheap (one script, no version change), never creates an entry.
import { backoffDelay } from '../redis/backoff.js';
import { errorMessage, isRedisUnavailable, redisCall } from '../redis/errors.js';
import type { LoggerLike, RedisConnectionManager } from '../redis/types.js';
import { decodeSession, encodeSession, SessionDecodeError } from './session-codec.js';
import { READ_FIELDS, sessionCacheKey, sessionCacheScripts, type SessionCacheScripts } from './session-cache-scripts.js';
import { VersionConflictError } from './types.js';
import type {
  EndInfo,
  NewSession,
  SessionPatch,
  SessionStore,
  SessionStoreStats,
  TerminalSessionRecord,
} from './types.js';

export interface CachedSessionStoreOptions {
  /** The database store (the truth), normally DbSessionStore. */
  db: SessionStore;
  redis: RedisConnectionManager;
  /** Lifetime of a live entry and of an invalidation marker. */
  ttlSeconds: number;
  /** Lifetime of the tombstone an end leaves (default 3600). */
  tombstoneTtlSeconds?: number;
  logger: LoggerLike;
  /** Test seams. afterDbRead runs between get()'s database read and its cache fill. */
  hooks?: { afterDbRead?: (id: string) => Promise<void> };
  /** Backoff of pending-invalidation retries (defaults 100 / 5000 ms). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Most pending invalidations remembered (default 10000; beyond, the oldest are dropped). */
  maxPending?: number;
}

/** What a cache write that failed still owes Redis for one session. */
interface Pending {
  /** Write this tombstone (the session ended at this version). */
  tomb: number | null;
  /** Otherwise: the truth is at version >= floor... */
  floor: number;
  /** ...and a live entry, whatever its version, is no longer running. */
  drop: boolean;
}

type Entry = { kind: 'live'; record: TerminalSessionRecord } | { kind: 'tomb' } | { kind: 'miss' };

const FLUSH_CHUNK = 200;

export class CachedSessionStore implements SessionStore {
  private readonly db: SessionStore;
  private readonly redis: RedisConnectionManager;
  private readonly log: LoggerLike;
  private readonly ttlMs: number;
  private readonly tombTtlMs: number;
  private readonly afterDbRead: ((id: string) => Promise<void>) | undefined;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly maxPending: number;
  private hits = 0;
  private misses = 0;
  private errors = 0;
  /** Logged a cache failure at warn since the last success (later ones go to debug). */
  private failing = false;
  private readonly pending = new Map<string, Pending>();
  private retryTimer: NodeJS.Timeout | null = null;
  private retryAttempt = 0;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly onReady = (): void => {
    this.retryAttempt = 0;
    void this.flushPending();
  };

  constructor(opts: CachedSessionStoreOptions) {
    this.db = opts.db;
    this.redis = opts.redis;
    this.log = opts.logger;
    this.ttlMs = Math.round(opts.ttlSeconds * 1000);
    this.tombTtlMs = Math.round((opts.tombstoneTtlSeconds ?? 3600) * 1000);
    this.afterDbRead = opts.hooks?.afterDbRead;
    this.retryBaseMs = opts.retryBaseMs ?? 100;
    this.retryMaxMs = opts.retryMaxMs ?? 5000;
    this.maxPending = opts.maxPending ?? 10_000;
    if (!(this.ttlMs > 0) || !(this.tombTtlMs > 0)) throw new RangeError('session cache TTLs must be positive');
    if (this.redis.enabled) this.redis.on('ready', this.onReady);
  }

  // --- SessionStore ------------------------------------------------------------------

  async create(input: NewSession): Promise<TerminalSessionRecord> {
    const rec = await this.db.create(input);
    await this.cacheLive(rec);
    return rec;
  }

  async get(id: string): Promise<TerminalSessionRecord | null> {
    if (!this.redis.enabled) return this.db.get(id);
    let fill = false;
    if (this.pending.has(id)) {
      // The entry may be stale and could not be invalidated yet: the database answers.
      this.misses++;
      this.scheduleRetry();
    } else {
      if (this.readyScripts()) {
        try {
          const entry = await this.readEntry(id);
          if (entry.kind === 'tomb') {
            this.hits++;
            return null;
          }
          if (entry.kind === 'live') {
            this.hits++;
            return entry.record;
          }
          fill = true;
          this.cacheOk();
        } catch (err) {
          this.cacheFailed('read', id, err);
        }
      }
      this.misses++;
    }
    const record = await this.db.get(id);
    if (this.afterDbRead) await this.afterDbRead(id);
    if (record && fill) {
      // Version-guarded: kept out by any newer entry or tombstone written meanwhile. A fill
      // that fails is not retried; if it lands late, the same guard applies in Redis.
      const scripts = this.readyScripts(false);
      if (scripts) {
        try {
          await this.writeLive(scripts, record);
          this.cacheOk();
        } catch (err) {
          this.cacheFailed('fill', id, err);
        }
      }
    }
    return record;
  }

  listRunningForUser(userId: string): Promise<TerminalSessionRecord[]> {
    return this.db.listRunningForUser(userId);
  }

  countRunningForUser(userId: string): Promise<number> {
    return this.db.countRunningForUser(userId);
  }

  listRunningForServer(serverId: string): Promise<TerminalSessionRecord[]> {
    return this.db.listRunningForServer(serverId);
  }

  async update(id: string, expectedVersion: number, patch: SessionPatch): Promise<TerminalSessionRecord> {
    let rec: TerminalSessionRecord;
    try {
      rec = await this.db.update(id, expectedVersion, patch);
    } catch (err) {
      if (err instanceof VersionConflictError && this.redis.enabled) {
        // The caller's version may have come from a stale entry: make the next read go to
        // the database. actual === null: no longer running (ended or missing).
        await this.cacheChange(
          id,
          err.actual === null ? { tomb: null, floor: 0, drop: true } : { tomb: null, floor: err.actual, drop: false },
        );
      }
      throw err;
    }
    await this.cacheLive(rec);
    return rec;
  }

  async end(id: string, info: EndInfo): Promise<TerminalSessionRecord | null> {
    const rec = await this.db.end(id, info);
    if (this.redis.enabled) {
      // A tombstone carrying the ended version: a fill that read the row before the end
      // holds an older version and is refused. Already ended/missing: make sure no live
      // entry survives (another instance's tombstone write may have failed).
      await this.cacheChange(id, rec ? { tomb: rec.version, floor: 0, drop: false } : { tomb: null, floor: 0, drop: true });
    }
    return rec;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.db.touch(id, at);
    if (!this.redis.enabled) return;
    const scripts = this.readyScripts();
    if (!scripts) return;
    try {
      // Not versioned: only raises lastActivityAt of a live entry; never creates one.
      await redisCall('session cache touch', () => scripts.touch(sessionCacheKey(this.redis.prefix, id), at.getTime()));
      this.cacheOk();
    } catch (err) {
      this.cacheFailed('touch', id, err);
    }
  }

  stats(): SessionStoreStats {
    return { cache: this.redis.enabled ? 'redis' : 'none', hits: this.hits, misses: this.misses, errors: this.errors };
  }

  // --- extras ------------------------------------------------------------------------

  /** Sessions whose cache entry still has to be invalidated (see addPending). */
  pendingInvalidations(): number {
    return this.pending.size;
  }

  /** Apply pending invalidations now (also runs on every 'ready' and on a backoff timer). */
  flushPending(): Promise<void> {
    this.flushing ??= this.flush().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Stop retrying and listening to the manager (the database and Redis stay open). */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.redis.off('ready', this.onReady);
  }

  // --- cache internals ---------------------------------------------------------------

  /** The scripts on the ready client, or null (counted as an error) when Redis is not ready. */
  private readyScripts(count = true): SessionCacheScripts | null {
    if (this.redis.state === 'ready') {
      try {
        return sessionCacheScripts(this.redis.readyClient());
      } catch {
        /* became unavailable in between */
      }
    }
    if (count) this.errors++;
    return null;
  }

  private async readEntry(id: string): Promise<Entry> {
    const key = sessionCacheKey(this.redis.prefix, id);
    const [t, v, d, a] = await redisCall('session cache read', () => this.redis.readyClient().hmget(key, ...READ_FIELDS));
    if (t === 'x') return { kind: 'tomb' };
    if (t !== 'r') return { kind: 'miss' }; // absent, or an invalidation marker
    try {
      const record = decodeSession(d ?? '');
      if (String(record.version) !== v) throw new SessionDecodeError(`version ${record.version} != field v ${v}`);
      const touched = Number(a);
      if (Number.isFinite(touched) && touched > record.lastActivityAt.getTime()) record.lastActivityAt = new Date(touched);
      // Only running sessions are written as live entries; anything else is not served.
      return record.status === 'running' ? { kind: 'live', record } : { kind: 'miss' };
    } catch (err) {
      if (!(err instanceof SessionDecodeError)) throw err;
      // Never written like this by us. Delete it so a fill can replace it (the database
      // answers this read); counted as an error.
      this.errors++;
      this.log.warn({ terminalId: id, err: err.message }, 'session cache: dropping an unreadable entry');
      await redisCall('session cache delete', () => this.redis.readyClient().del(key));
      return { kind: 'miss' };
    }
  }

  private writeLive(scripts: SessionCacheScripts, rec: TerminalSessionRecord): Promise<unknown> {
    const key = sessionCacheKey(this.redis.prefix, rec.id);
    return redisCall('session cache write', () =>
      scripts.write(key, 'r', rec.version, this.ttlMs, encodeSession(rec), rec.lastActivityAt.getTime()),
    );
  }

  /** Write-through of a record the database just returned. */
  private async cacheLive(rec: TerminalSessionRecord): Promise<void> {
    if (!this.redis.enabled) return;
    const scripts = this.readyScripts();
    if (!scripts) {
      this.addPending(rec.id, { tomb: null, floor: rec.version, drop: false });
      return;
    }
    try {
      await this.writeLive(scripts, rec);
      this.cacheOk();
    } catch (err) {
      this.cacheFailed('write', rec.id, err);
      this.addPending(rec.id, { tomb: null, floor: rec.version, drop: false });
    }
  }

  /** A tombstone or an invalidation, remembered as pending if it cannot be done now. */
  private async cacheChange(id: string, p: Pending): Promise<void> {
    const scripts = this.readyScripts();
    if (!scripts) {
      this.addPending(id, p);
      return;
    }
    try {
      await this.applyPending(scripts, id, p);
      this.cacheOk();
    } catch (err) {
      this.cacheFailed(p.tomb !== null ? 'tombstone' : 'invalidate', id, err);
      this.addPending(id, p);
    }
  }

  private applyPending(scripts: SessionCacheScripts, id: string, p: Pending): Promise<unknown> {
    const key = sessionCacheKey(this.redis.prefix, id);
    return redisCall('session cache invalidate', () =>
      p.tomb !== null
        ? scripts.write(key, 'x', p.tomb, this.tombTtlMs, '', 0)
        : scripts.invalidate(key, p.floor, p.drop, this.ttlMs),
    );
  }

  /**
   * Remember that the entry of `id` may be stale: the database has moved on (to p) but
   * Redis could not be told. Why this is safe:
   * - This instance reads such ids from the database until the invalidation is applied.
   * - The invalidation itself is version-guarded (a marker "truth >= floor", or the
   *   tombstone), never a plain DEL: applied late, it cannot hide a newer entry, and fills
   *   still in flight with an older version stay refused. If the failed write did land
   *   after all, the marker leaves it alone (same version).
   * - Until then, other instances may read the stale entry, at most until its TTL. Nothing
   *   stale can be committed from it: every versioned write is checked by the database
   *   (VersionConflictError), and a conflict invalidates the entry (see update()).
   * - Beyond maxPending, the oldest ids are forgotten (logged); the TTL still bounds them.
   */
  private addPending(id: string, p: Pending): void {
    const prev = this.pending.get(id);
    const merged: Pending = prev
      ? {
          tomb: prev.tomb === null ? p.tomb : p.tomb === null ? prev.tomb : Math.max(prev.tomb, p.tomb),
          floor: Math.max(prev.floor, p.floor),
          drop: prev.drop || p.drop,
        }
      : p;
    this.pending.delete(id); // re-insert: Map order is then oldest-first
    this.pending.set(id, merged);
    if (this.pending.size > this.maxPending) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
      this.log.warn({ terminalId: oldest, maxPending: this.maxPending }, 'session cache: too many pending invalidations; forgetting the oldest');
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer || this.pending.size === 0) return;
    // While Redis is not ready, the 'ready' listener takes over.
    if (this.redis.state !== 'ready') return;
    const delay = backoffDelay(this.retryAttempt++, { baseMs: this.retryBaseMs, maxMs: this.retryMaxMs, minMs: 10 });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flushPending();
    }, delay);
    this.retryTimer.unref();
  }

  private async flush(): Promise<void> {
    let failed = false;
    const entries = [...this.pending];
    for (let i = 0; i < entries.length && !failed && !this.closed; i += FLUSH_CHUNK) {
      const scripts = this.readyScripts(false);
      if (!scripts) return; // the 'ready' listener calls us again
      await Promise.all(
        entries.slice(i, i + FLUSH_CHUNK).map(async ([id, p]) => {
          try {
            await this.applyPending(scripts, id, p);
            if (this.pending.get(id) === p) this.pending.delete(id); // unless merged meanwhile
          } catch (err) {
            failed = true;
            this.cacheFailed('invalidate (retry)', id, err);
          }
        }),
      );
    }
    if (!failed) {
      this.retryAttempt = 0;
      if (entries.length) this.cacheOk();
    }
    this.scheduleRetry(); // failures, or entries added meanwhile
  }

  private cacheOk(): void {
    if (this.failing) this.log.info({}, 'session cache: Redis answering again');
    this.failing = false;
  }

  private cacheFailed(op: string, id: string, err: unknown): void {
    this.errors++;
    const fields = { terminalId: id, op, err: errorMessage(err) };
    if (!isRedisUnavailable(err)) {
      this.log.error(fields, 'session cache: Redis error (the database answered)');
    } else if (!this.failing) {
      this.failing = true;
      this.log.warn(fields, 'session cache: Redis unavailable; using the database');
    } else {
      this.log.debug(fields, 'session cache: Redis unavailable');
    }
  }
}
