import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lockKey, RedisLockManager } from '../../server/locks/redis-locks.js';
import { LockTimeoutError } from '../../server/locks/types.js';
import type { RedisManagerOptions } from '../../server/redis/connection-manager.js';
import { RedisUnavailableError, type RedisClient, type RedisConnectionManager } from '../../server/redis/types.js';
import { CachedSessionStore } from '../../server/sessions/cached-store.js';
import { DbSessionStore } from '../../server/sessions/db-store.js';
import { VersionConflictError } from '../../server/sessions/types.js';
import { openTestDb, sessionFixture, type TestDb } from '../db/helpers.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { lockContract } from './contract.js';
import { connectManager, disabledManager, gate, quietLogger, rejectionOf, uniquePrefix } from './helpers.js';

let server: RedisServer;
let cluster: RedisCluster;
let db: TestDb;
const opened: RedisConnectionManager[] = [];

beforeAll(async () => {
  [server, cluster, db] = await Promise.all([startRedis(), startRedisCluster(), openTestDb()]);
});
afterEach(async () => {
  server.resume(); // in case a test failed while it was paused
  await Promise.all(opened.splice(0).map((m) => m.quit()));
});
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop(), db?.close()]);
});

async function conn(prefix: string, over: Partial<RedisManagerOptions> = {}, target = server.url): Promise<RedisConnectionManager> {
  const m = await connectManager(target, prefix, over);
  opened.push(m);
  return m;
}

function lockManager(redis: RedisConnectionManager, logger = quietLogger()): RedisLockManager {
  return new RedisLockManager({ redis, defaultTtlMs: 5000, defaultTimeoutMs: 2000, logger });
}

/** n lock managers on n connections (as n instances), one key prefix. */
async function instances(n: number, prefix = uniquePrefix('lock'), target?: string): Promise<RedisLockManager[]> {
  // A cluster of six servers on a loaded machine gets more time per command.
  return Promise.all(Array.from({ length: n }, async () => lockManager(await conn(prefix, target ? { commandTimeoutMs: 2000 } : {}, target))));
}

lockContract('RedisLockManager', () => ({ managers: (n) => instances(n) }));
lockContract('RedisLockManager on a Redis Cluster', () => ({ managers: (n) => instances(n, uniquePrefix('lock'), cluster.url), cycles: 200 }));

describe('RedisLockManager', () => {
  it('keeps the lock as <prefix>lock:<kind>:<resource> = token with a PX TTL', async () => {
    const prefix = uniquePrefix('lock');
    const redis = await conn(prefix);
    const locks = lockManager(redis);
    const lock = await locks.acquire('resize', 'term-1', { ttlMs: 3000 });
    const key = lockKey(prefix, 'resize', 'term-1');
    expect(key).toBe(`${prefix}lock:resize:term-1`);
    const raw = redis.client();
    expect(await raw.get(key)).toBe(lock.token);
    expect(lock.token).toMatch(/^[0-9a-f]{32}$/);
    const pttl = await raw.pttl(key);
    expect(pttl).toBeGreaterThan(2000);
    expect(pttl).toBeLessThanOrEqual(3000);

    expect(await lock.extend(20_000)).toBe(true);
    expect(await raw.pttl(key)).toBeGreaterThan(10_000);

    // Somebody else's token in the key: neither release nor extend touches it.
    await raw.set(key, 'someone-else', 'PX', 5000);
    expect(await lock.release()).toBe(false);
    expect(await lock.extend(60_000)).toBe(false);
    expect(await raw.get(key)).toBe('someone-else');
    expect(await raw.pttl(key)).toBeLessThanOrEqual(5000);
    await raw.del(key);
  });

  it('a non-owner release leaves the holder’s lock in place', async () => {
    const prefix = uniquePrefix('lock');
    const [a, b] = await instances(2, prefix);
    const raw = opened.at(-1)!.client();
    const first = await a!.acquire('primary', 'term-2', { ttlMs: 50 });
    const second = await b!.acquire('primary', 'term-2', { ttlMs: 5000, timeoutMs: 2000 }); // after the lapse
    expect(await first.release()).toBe(false);
    expect(await raw.get(lockKey(prefix, 'primary', 'term-2'))).toBe(second.token);
    expect(await second.release()).toBe(true);
    expect(await raw.exists(lockKey(prefix, 'primary', 'term-2'))).toBe(0);
  });

  it('a holder paused past its TTL cannot commit a stale write', async () => {
    const prefix = uniquePrefix('lock');
    const [ra, rb] = [await conn(prefix), await conn(prefix)];
    const [locksA, locksB] = [lockManager(ra), lockManager(rb)];
    const logger = quietLogger();
    const storeA = new CachedSessionStore({ db: new DbSessionStore(db.prisma), redis: ra, ttlSeconds: 60, logger });
    const storeB = new CachedSessionStore({ db: new DbSessionStore(db.openClient()), redis: rb, ttlSeconds: 60, logger });
    const session = await storeA.create(sessionFixture(await db.addUser(), { serverId: 'srv-a' }));

    const pause = gate();
    const readA = gate();
    const holderA = locksA.withLock(
      'resize',
      session.id,
      async (lock) => {
        const before = (await storeA.get(session.id))!;
        readA.open();
        await pause.promise; // a GC pause, a frozen VM...: longer than the TTL
        const update = await rejectionOf(storeA.update(session.id, before.version, { cols: 10 }));
        return { lock, before, update, released: await lock.release() };
      },
      { ttlMs: 100 },
    );
    await readA.promise;

    // B waits for A's lock to lapse, then makes its change.
    const t0 = Date.now();
    const afterB = await locksB.withLock('resize', session.id, async () => {
      const cur = (await storeB.get(session.id))!;
      return storeB.update(session.id, cur.version, { cols: 132 });
    }, { timeoutMs: 5000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(afterB).toMatchObject({ cols: 132, version: session.version + 1 });

    pause.open();
    const a = await holderA;
    expect(a.before.version).toBe(session.version);
    expect(a.update).toBeInstanceOf(VersionConflictError);
    expect(a.update).toMatchObject({ expected: session.version, actual: session.version + 1 });
    expect(a.released).toBe(false); // not its lock any more
    expect(await storeB.get(session.id)).toMatchObject({ cols: 132, version: session.version + 1 });
    expect(await storeA.get(session.id)).toMatchObject({ cols: 132, version: session.version + 1 });
    storeA.close();
    storeB.close();
  });

  it('throws LockTimeoutError only after the deadline, with backoff in between', async () => {
    const [a, b] = await instances(2);
    const held = await a!.acquire('resize', 'term-3');
    const t0 = Date.now();
    const err = await rejectionOf(b!.acquire('resize', 'term-3', { timeoutMs: 400 }));
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(395);
    expect(await held.release()).toBe(true);
  });

  it('without Redis, acquire fails with RedisUnavailableError (never a silent no-lock)', async () => {
    const locks = lockManager(disabledManager());
    const err = await rejectionOf(locks.acquire('resize', 'term-4', { timeoutMs: 50 }));
    expect(err).toBeInstanceOf(RedisUnavailableError);
  });

  describe('phantom locks (a SET applied whose reply was lost)', () => {
    /**
     * The same manager, but its client's SET (and optionally the confirm script) runs for
     * real and then reports a lost reply: what a command timeout after the server applied
     * it looks like.
     */
    function lossy(real: RedisConnectionManager, opts: { lostSets: number; lostConfirms?: number }): RedisConnectionManager & { sets: number } {
      let lostSets = opts.lostSets;
      let lostConfirms = opts.lostConfirms ?? 0;
      const counters = { sets: 0 };
      const lost = () => Object.assign(new Error('Command timed out'), { name: 'Error' });
      const wrap = (client: RedisClient): RedisClient =>
        new Proxy(client, {
          get(target, prop, receiver) {
            const value = Reflect.get(target, prop, receiver) as unknown;
            if (prop === 'set') {
              return async (...args: unknown[]) => {
                counters.sets++;
                const reply = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
                if (lostSets > 0) {
                  lostSets--;
                  throw lost();
                }
                return reply;
              };
            }
            if (prop === 'ptyhubLockExtend' && lostConfirms > 0) {
              return async (...args: unknown[]) => {
                await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
                lostConfirms--;
                throw lost();
              };
            }
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
      return new Proxy(real, {
        get(target, prop, receiver) {
          if (prop === 'sets') return counters.sets;
          if (prop === 'readyClient') return () => wrap(target.readyClient());
          if (prop === 'client') return () => wrap(target.client());
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }) as RedisConnectionManager & { sets: number };
    }

    it('a retry recognises its own token and owns the lock (TTL refreshed)', async () => {
      const prefix = uniquePrefix('lock');
      const real = await conn(prefix);
      // Define the scripts on the real client first (the proxy forwards to it).
      await (await lockManager(real).acquire('resize', 'warm-up')).release();
      const redis = lossy(real, { lostSets: 1 });
      const logger = quietLogger();
      const locks = lockManager(redis, logger);
      const lock = await locks.acquire('resize', 'term-5', { ttlMs: 4000, timeoutMs: 2000 });
      const key = lockKey(prefix, 'resize', 'term-5');
      expect(redis.sets).toBe(1); // the confirm found it: no second SET
      expect(await real.client().get(key)).toBe(lock.token);
      expect(await real.client().pttl(key)).toBeGreaterThan(3000);
      expect(logger.lines.some((l) => /earlier attempt had acquired it/.test(l.msg ?? ''))).toBe(true);
      expect(await lock.release()).toBe(true);
      expect(await real.client().exists(key)).toBe(0);
    });

    it('an acquire that fails after a lost SET removes it (no phantom left behind)', async () => {
      const prefix = uniquePrefix('lock');
      const real = await conn(prefix);
      await (await lockManager(real).acquire('resize', 'warm-up')).release();
      const redis = lossy(real, { lostSets: 1_000, lostConfirms: 1_000 });
      const logger = quietLogger();
      const err = await rejectionOf(lockManager(redis, logger).acquire('resize', 'term-6', { timeoutMs: 150 }));
      expect(err).toBeInstanceOf(RedisUnavailableError);
      expect(await real.client().exists(lockKey(prefix, 'resize', 'term-6'))).toBe(0);
      expect(logger.lines.some((l) => /removed a lock acquired by a lost reply/.test(l.msg ?? ''))).toBe(true);
      // Free for the next one at once.
      await (await lockManager(real).acquire('resize', 'term-6', { timeoutMs: 0 })).release();
    });

    it('a frozen Redis that applies the SETs late keeps no phantom', async () => {
      const prefix = uniquePrefix('lock');
      // Short command timeout; health pings far apart so the connection stays put.
      const redis = await conn(prefix, { commandTimeoutMs: 100, pingIntervalMs: 60_000 });
      await (await lockManager(redis).acquire('resize', 'warm-up')).release();
      const locks = lockManager(redis);
      server.pause();
      try {
        const err = await rejectionOf(locks.acquire('resize', 'term-7', { ttlMs: 30_000, timeoutMs: 300 }));
        expect(err).toBeInstanceOf(RedisUnavailableError);
      } finally {
        server.resume();
      }
      // The queued SET is applied now, and then (same connection, in order) the cleanup.
      await redis.client().ping();
      expect(await redis.client().exists(lockKey(prefix, 'resize', 'term-7'))).toBe(0);
      const other = lockManager(await conn(prefix));
      await (await other.acquire('resize', 'term-7', { timeoutMs: 0 })).release();
    });
  });
});
