import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RedisManagerOptions } from '../../server/redis/connection-manager.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { CachedSessionStore, type CachedSessionStoreOptions } from '../../server/sessions/cached-store.js';
import { sessionCacheKey, sessionCacheScripts } from '../../server/sessions/session-cache-scripts.js';
import { encodeSession } from '../../server/sessions/session-codec.js';
import { DbSessionStore } from '../../server/sessions/db-store.js';
import { VersionConflictError, type NewSession, type SessionStore, type TerminalSessionRecord } from '../../server/sessions/types.js';
import { openTestDb, sessionFixture, type TestDb } from '../db/helpers.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { connectManager, disabledManager, gate, quietLogger, rejectionOf, stateReached, uniquePrefix } from '../locks/helpers.js';

let server: RedisServer;
let cluster: RedisCluster;
/** Where setup() connects: the standalone server, or the cluster for the suite run on it. */
let target: () => string = () => server.url;
let db: TestDb;
let dbStore: DbSessionStore;
const managers: RedisConnectionManager[] = [];
const stores: CachedSessionStore[] = [];

beforeAll(async () => {
  [server, cluster, db] = await Promise.all([startRedis(), startRedisCluster(), openTestDb()]);
  dbStore = new DbSessionStore(db.prisma);
});
afterEach(async () => {
  server.resume();
  for (const s of stores.splice(0)) s.close();
  await Promise.all(managers.splice(0).map((m) => m.quit()));
});
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop(), db?.close()]);
});

/** The database store, counting get() calls; `lagging` makes get() answer from a snapshot. */
class SpyDb implements SessionStore {
  gets = 0;
  lagging = new Map<string, TerminalSessionRecord>();
  constructor(private readonly inner: SessionStore) {}
  create = (i: NewSession) => this.inner.create(i);
  get = async (id: string) => {
    this.gets++;
    const old = this.lagging.get(id);
    return old ? { ...old } : this.inner.get(id);
  };
  listRunningForUser = (u: string) => this.inner.listRunningForUser(u);
  countRunningForUser = (u: string) => this.inner.countRunningForUser(u);
  listRunningForServer = (s: string) => this.inner.listRunningForServer(s);
  update = (id: string, v: number, p: Parameters<SessionStore['update']>[2]) => this.inner.update(id, v, p);
  end = (id: string, info: Parameters<SessionStore['end']>[1]) => this.inner.end(id, info);
  touch = (id: string, at: Date) => this.inner.touch(id, at);
  stats = () => this.inner.stats();
}

interface Setup {
  redis: RedisConnectionManager;
  prefix: string;
  spy: SpyDb;
  store: CachedSessionStore;
  logger: ReturnType<typeof quietLogger>;
  key(id: string): string;
  raw(id: string): Promise<Record<string, string>>;
}

async function setup(
  opts: { redis?: Partial<RedisManagerOptions>; store?: Partial<CachedSessionStoreOptions>; manager?: RedisConnectionManager } = {},
): Promise<Setup> {
  const prefix = uniquePrefix('sess');
  const clusterTime = target() === server.url ? {} : { commandTimeoutMs: 2000 };
  const redis = opts.manager ?? (await connectManager(target(), prefix, { ...clusterTime, ...opts.redis }));
  managers.push(redis);
  const spy = new SpyDb(dbStore);
  const logger = quietLogger();
  const store = new CachedSessionStore({ db: spy, redis, ttlSeconds: 60, tombstoneTtlSeconds: 3600, logger, ...opts.store });
  stores.push(store);
  return {
    redis,
    prefix,
    spy,
    store,
    logger,
    key: (id) => sessionCacheKey(redis.prefix, id),
    raw: (id) => redis.client().hgetall(sessionCacheKey(redis.prefix, id)),
  };
}

/** A get() that stops between its database read and its cache fill until `hold` opens. */
function pausedRead() {
  const hold = gate();
  const reached = gate();
  const hooks = {
    afterDbRead: async () => {
      reached.open();
      await hold.promise;
    },
  };
  return { hold, reached, hooks };
}

async function newSession(): Promise<NewSession> {
  return sessionFixture(await db.addUser(), { serverId: 'srv-1' });
}

describe.each(['standalone', 'cluster'] as const)('CachedSessionStore with Redis (%s)', (kind) => {
  beforeAll(() => {
    target = kind === 'cluster' ? () => cluster.url : () => server.url;
  });
  afterAll(() => {
    target = () => server.url;
  });

  it('reads through: a miss fills the cache, the next read is a hit', async () => {
    const s = await setup();
    const created = await dbStore.create(await newSession()); // behind the cache's back
    expect(await s.store.get(created.id)).toEqual(created);
    expect(s.store.stats()).toEqual({ cache: 'redis', hits: 0, misses: 1, errors: 0 });
    expect(await s.raw(created.id)).toMatchObject({ t: 'r', v: '1' });
    expect(await s.store.get(created.id)).toEqual(created);
    expect(s.store.stats()).toEqual({ cache: 'redis', hits: 1, misses: 1, errors: 0 });
    expect(s.spy.gets).toBe(1);
    const ttl = await s.redis.client().pttl(s.key(created.id));
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);

    // Unknown ids are not cached (no negative entries).
    const unknown = randomUUID();
    expect(await s.store.get(unknown)).toBeNull();
    expect(await s.redis.client().exists(s.key(unknown))).toBe(0);
    expect(s.store.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  it('keys entries terminal:<id> and ignores what an older version left under session:<id>', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    expect(s.key(created.id)).toBe(`${s.prefix}terminal:${created.id}`);
    expect(await s.redis.client().hget(`${s.prefix}terminal:${created.id}`, 't')).toBe('r');
    // An old instance's tombstone under the former name: never read, the entry is still live.
    await s.redis.client().hset(`${s.prefix}session:${created.id}`, { t: 'x', v: '99' });
    expect(await s.store.get(created.id)).toEqual(created);
    expect(s.spy.gets).toBe(0); // served from terminal:<id>
  });

  it('writes through: create and update put the new version in the cache', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    expect(await s.raw(created.id)).toMatchObject({ t: 'r', v: '1' });
    const updated = await s.store.update(created.id, 1, { cols: 100, primarySocketId: 'sock-1' });
    expect(updated).toMatchObject({ cols: 100, version: 2 });
    expect(await s.raw(created.id)).toMatchObject({ t: 'r', v: '2' });
    expect(await s.store.get(created.id)).toEqual(updated);
    expect(s.spy.gets).toBe(0); // served by the cache
    expect(s.store.stats()).toMatchObject({ hits: 1, misses: 0, errors: 0 });
  });

  it('the cache compare-and-set never lets an older version replace a newer one', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    const v2 = await s.store.update(created.id, 1, { cols: 90 });
    const scripts = sessionCacheScripts(s.redis.client());
    const key = s.key(created.id);
    const write = (r: TerminalSessionRecord) => scripts.write(key, 'r', r.version, 60_000, encodeSession(r), r.lastActivityAt.getTime());

    expect(await write(created)).toBe(0); // v1 over v2: refused
    expect(await write(v2)).toBe(0); // same version: kept
    expect(await s.raw(created.id)).toMatchObject({ v: '2' });
    const v3 = { ...v2, cols: 91, version: 3 };
    expect(await write(v3)).toBe(1);
    // A tombstone at v4 wins; nothing older comes back over it.
    expect(await scripts.write(key, 'x', 4, 60_000, '', 0)).toBe(1);
    expect(await write(v3)).toBe(0);
    expect(await scripts.write(key, 'x', 3, 60_000, '', 0)).toBe(0);
    expect(await s.raw(created.id)).toEqual({ t: 'x', v: '4' });
    // An invalidation marker guards the versions below it, lets its own version in.
    const other = await s.store.create(await newSession());
    const okey = s.key(other.id);
    expect(await scripts.invalidate(okey, 2, false, 60_000)).toBe(1);
    expect(await s.raw(other.id)).toEqual({ t: 'i', v: '2' });
    expect(await scripts.write(okey, 'r', 1, 60_000, encodeSession(other), 0)).toBe(0);
    const other2 = { ...other, version: 2 };
    expect(await scripts.write(okey, 'r', 2, 60_000, encodeSession(other2), 0)).toBe(1);
    expect(await scripts.invalidate(okey, 2, false, 60_000)).toBe(0); // already there
    expect(await scripts.invalidate(okey, 0, true, 60_000)).toBe(1); // drop: live v2 -> marker v3
    expect(await s.raw(other.id)).toEqual({ t: 'i', v: '3' });
  });

  it('after end a tombstone answers null, even when the database read would be late', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    s.spy.lagging.set(created.id, created); // a database read that still sees it running
    const ended = await s.store.end(created.id, { exitCode: 0, reason: 'exit' });
    expect(ended).toMatchObject({ status: 'ended', version: 2 });
    expect(await s.raw(created.id)).toEqual({ t: 'x', v: '2' });
    const ttl = await s.redis.client().pttl(s.key(created.id));
    expect(ttl).toBeGreaterThan(3_500_000);
    expect(await s.store.get(created.id)).toBeNull();
    expect(s.spy.gets).toBe(0);
    expect(s.store.stats()).toMatchObject({ hits: 1, misses: 0 });
    // Updates after the end conflict; the tombstone stays.
    expect(await rejectionOf(s.store.update(created.id, 2, { cols: 1 }))).toBeInstanceOf(VersionConflictError);
    expect(await s.store.end(created.id, { exitCode: 0, reason: 'again' })).toBeNull();
    expect(await s.raw(created.id)).toEqual({ t: 'x', v: '2' });
  });

  it('a read that raced an update never leaves the older version in the cache', async () => {
    const { hold, reached, hooks } = pausedRead();
    const s = await setup({ store: { hooks } });
    const created = await dbStore.create(await newSession()); // not cached: get() will miss
    const reading = s.store.get(created.id);
    await reached.promise; // the reader holds version 1 from the database
    const v2 = await s.store.update(created.id, 1, { cols: 120 });
    hold.open();
    expect(await reading).toMatchObject({ version: 1 }); // its read happened before the update
    expect(await s.raw(created.id)).toMatchObject({ t: 'r', v: '2' });
    expect(await s.store.get(created.id)).toEqual(v2);
  });

  it('a read that raced an end never resurrects the session', async () => {
    const { hold, reached, hooks } = pausedRead();
    const s = await setup({ store: { hooks } });
    const created = await dbStore.create(await newSession());
    const reading = s.store.get(created.id);
    await reached.promise;
    await s.store.end(created.id, { exitCode: null, reason: 'killed' });
    hold.open();
    expect(await reading).toMatchObject({ version: 1, status: 'running' });
    expect(await s.raw(created.id)).toEqual({ t: 'x', v: '2' });
    expect(await s.store.get(created.id)).toBeNull();
  });

  it('a version conflict invalidates a stale entry so the next read refreshes', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    const v2 = await dbStore.update(created.id, 1, { cols: 150 }); // another writer; the cache still says v1
    expect(await s.store.get(created.id)).toMatchObject({ version: 1 });
    const err = await rejectionOf(s.store.update(created.id, 1, { cols: 1 }));
    expect(err).toMatchObject({ name: 'VersionConflictError', expected: 1, actual: 2 });
    expect(await s.raw(created.id)).toEqual({ t: 'i', v: '2' });
    expect(await s.store.get(created.id)).toEqual(v2);
    expect(await s.raw(created.id)).toMatchObject({ t: 'r', v: '2' });

    // Ended elsewhere (actual: null): the live entry is dropped too.
    await dbStore.end(created.id, { exitCode: 0, reason: 'exit' });
    expect(await s.store.get(created.id)).toMatchObject({ version: 2 }); // stale hit...
    expect(await rejectionOf(s.store.update(created.id, 2, {}))).toMatchObject({ actual: null });
    expect(await s.store.get(created.id)).toBeNull(); // ...gone after the conflict
    expect(await s.raw(created.id)).toEqual({ t: 'i', v: '3' });
  });

  it('touch raises the cached lastActivityAt without a new version', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    const later = new Date(created.lastActivityAt.getTime() + 60_000);
    await s.store.touch(created.id, later);
    expect(await s.store.get(created.id)).toMatchObject({ version: 1, lastActivityAt: later });
    await s.store.touch(created.id, created.lastActivityAt); // never lowered
    expect((await s.store.get(created.id))?.lastActivityAt).toEqual(later);
    expect(await dbStore.get(created.id)).toMatchObject({ version: 1 });
  });

  it('drops an unreadable entry and answers from the database', async () => {
    const s = await setup();
    const created = await s.store.create(await newSession());
    await s.redis.client().hset(s.key(created.id), 'd', '{"broken":');
    expect(await s.store.get(created.id)).toEqual(created);
    expect(s.store.stats()).toMatchObject({ errors: 1, misses: 1 });
    expect(await s.raw(created.id)).toMatchObject({ t: 'r', v: '1' }); // refilled
    expect(await s.store.get(created.id)).toEqual(created);
  });

  it('lists and counts come from the database', async () => {
    const s = await setup();
    const input = await newSession();
    const created = await s.store.create(input);
    expect((await s.store.listRunningForUser(input.userId)).map((r) => r.id)).toEqual([created.id]);
    expect(await s.store.countRunningForUser(input.userId)).toBe(1);
    expect((await s.store.listRunningForServer('srv-1')).map((r) => r.id)).toContain(created.id);
  });
});

describe('CachedSessionStore when Redis fails', () => {
  it('a frozen Redis: reads and writes use the database, errors are counted, the stale entry is fixed later', async () => {
    const s = await setup({ redis: { commandTimeoutMs: 150, pingIntervalMs: 60_000 }, store: { retryBaseMs: 60_000 } });
    const created = await s.store.create(await newSession());
    server.pause();
    let v2: TerminalSessionRecord;
    try {
      expect(await s.store.get(created.id)).toEqual(created); // from the database
      expect(s.store.stats()).toMatchObject({ hits: 0, misses: 1, errors: 1 });
      v2 = await s.store.update(created.id, 1, { cols: 99 }); // the cache write times out
      expect(v2.version).toBe(2);
      expect(s.store.stats().errors).toBe(2);
      expect(s.store.pendingInvalidations()).toBe(1);
      // This instance no longer trusts the entry: straight to the database.
      expect(await s.store.get(created.id)).toEqual(v2);
      expect(s.store.stats()).toMatchObject({ errors: 2, misses: 2 });
    } finally {
      server.resume();
    }
    // The timed-out write may have landed after all (same version: kept); either way the
    // pending invalidation leaves no entry older than v2.
    await s.store.flushPending();
    expect(s.store.pendingInvalidations()).toBe(0);
    expect(Number((await s.raw(created.id)).v)).toBe(2);
    expect(await s.store.get(created.id)).toEqual(v2);
  });

  it('a write another instance could not mirror: the old entry may be read, never committed from', async () => {
    const s = await setup();
    const other = await setup({ manager: await connectManager(server.url, s.prefix) });
    const created = await s.store.create(await newSession());
    // Instance `other` writes while its Redis connection is down: the shared cache keeps v1.
    managers.splice(managers.indexOf(other.redis), 1);
    await other.redis.quit();
    const v2 = await other.store.update(created.id, 1, { cols: 42 });
    expect(other.store.stats()).toMatchObject({ errors: 1 });
    expect(other.store.pendingInvalidations()).toBe(1);
    // Another instance still sees v1 (bounded by the TTL) but cannot commit from it.
    expect(await s.store.get(created.id)).toMatchObject({ version: 1 });
    expect(await rejectionOf(s.store.update(created.id, 1, { cols: 7 }))).toBeInstanceOf(VersionConflictError);
    expect(await s.store.get(created.id)).toEqual(v2);
  });

  it('Redis killed: the same API on the database, errors counted; pending work flushed on ready', async () => {
    const s = await setup({ redis: { commandTimeoutMs: 300, pingIntervalMs: 100 } });
    const created = await s.store.create(await newSession());
    server.kill9();
    await stateReached(s.redis, 'degraded');
    expect(await s.store.get(created.id)).toEqual(created);
    const v2 = await s.store.update(created.id, 1, { rows: 50 });
    const ended = await s.store.end(created.id, { exitCode: 1, reason: 'exit' });
    expect(ended?.version).toBe(3);
    expect(await s.store.get(created.id)).toBeNull();
    expect(v2.version).toBe(2);
    expect(s.store.stats()).toMatchObject({ cache: 'redis', hits: 0, misses: 2 });
    expect(s.store.stats().errors).toBe(3); // the first get, the update's and the end's cache writes
    expect(s.store.pendingInvalidations()).toBe(1);

    await server.restart();
    await s.redis.waitReady(10_000);
    await vi.waitFor(() => expect(s.store.pendingInvalidations()).toBe(0), { timeout: 5000, interval: 20 });
    expect(await s.raw(created.id)).toEqual({ t: 'x', v: '3' });
    expect(await s.store.get(created.id)).toBeNull();
  });
});

describe('CachedSessionStore without Redis', () => {
  it('works on the database alone and reports no cache', async () => {
    const spy = new SpyDb(dbStore);
    const store = new CachedSessionStore({ db: spy, redis: disabledManager(), ttlSeconds: 60, logger: quietLogger() });
    stores.push(store);
    const created = await store.create(await newSession());
    expect(await store.get(created.id)).toEqual(created);
    const v2 = await store.update(created.id, 1, { title: 'vim' });
    expect(await store.get(created.id)).toEqual(v2);
    await store.touch(created.id, new Date());
    expect(await rejectionOf(store.update(created.id, 1, {}))).toBeInstanceOf(VersionConflictError);
    expect(await store.end(created.id, { exitCode: 0, reason: 'exit' })).toMatchObject({ version: 3 });
    expect(await store.get(created.id)).toBeNull();
    expect(spy.gets).toBe(3);
    expect(store.stats()).toEqual({ cache: 'none', hits: 0, misses: 0, errors: 0 });
    expect(store.pendingInvalidations()).toBe(0);
  });
});
