import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FallbackLockManager } from '../../server/locks/fallback-locks.js';
import { lockKey } from '../../server/locks/redis-locks.js';
import { LockTimeoutError } from '../../server/locks/types.js';
import type { RedisManagerOptions } from '../../server/redis/connection-manager.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { lockContract } from './contract.js';
import { connectManager, disabledManager, quietLogger, rejectionOf, stateReached, uniquePrefix } from './helpers.js';

let server: RedisServer;
const opened: RedisConnectionManager[] = [];

beforeAll(async () => {
  server = await startRedis();
});
afterEach(async () => {
  server.resume();
  await Promise.all(opened.splice(0).map((m) => m.quit()));
});
afterAll(async () => {
  await server?.stop();
});

async function conn(prefix: string, over: Partial<RedisManagerOptions> = {}): Promise<RedisConnectionManager> {
  const m = await connectManager(server.url, prefix, over);
  opened.push(m);
  return m;
}

function fallback(redis: RedisConnectionManager, logger = quietLogger()): FallbackLockManager {
  return new FallbackLockManager({ redis, defaultTtlMs: 5000, defaultTimeoutMs: 2000, logger });
}

lockContract('FallbackLockManager (Redis ready)', () => ({
  managers: async (n) => {
    const prefix = uniquePrefix('fb');
    return Promise.all(Array.from({ length: n }, async () => fallback(await conn(prefix))));
  },
}));

lockContract('FallbackLockManager (no Redis)', () => {
  const m = fallback(disabledManager());
  return { managers: async (n) => Array.from({ length: n }, () => m) };
});

describe('FallbackLockManager', () => {
  it('takes the Redis lock while Redis is ready', async () => {
    const prefix = uniquePrefix('fb');
    const redis = await conn(prefix);
    const lock = await fallback(redis).acquire('resize', 'term-1');
    expect(await redis.client().get(lockKey(prefix, 'resize', 'term-1'))).toBe(lock.token);
    expect(await lock.release()).toBe(true);
    expect(await redis.client().exists(lockKey(prefix, 'resize', 'term-1'))).toBe(0);
  });

  it('a lock held on another instance times out, and frees the local lock it took', async () => {
    const prefix = uniquePrefix('fb');
    const [a, b] = [fallback(await conn(prefix)), fallback(await conn(prefix))];
    const held = await a.acquire('primary', 'term-2');
    expect(await rejectionOf(b.acquire('primary', 'term-2', { timeoutMs: 100 }))).toBeInstanceOf(LockTimeoutError);
    expect(await held.release()).toBe(true);
    await (await b.acquire('primary', 'term-2', { timeoutMs: 0 })).release();
  });

  it('Redis down: locks are instance-local, still exclusive here; Redis again once it is back', async () => {
    const prefix = uniquePrefix('fb');
    const redis = await conn(prefix, { pingIntervalMs: 100, commandTimeoutMs: 300 });
    const logger = quietLogger();
    const locks = fallback(redis, logger);
    server.kill9();
    await stateReached(redis, 'degraded');
    const local = await locks.acquire('resize', 'term-3', { ttlMs: 10_000 });
    expect(await rejectionOf(locks.acquire('resize', 'term-3', { timeoutMs: 50 }))).toBeInstanceOf(LockTimeoutError);
    expect(logger.lines.some((l) => l.level === 'warn' && /instance-local/.test(l.msg ?? ''))).toBe(true);
    expect(await local.release()).toBe(true);

    await server.restart();
    await redis.waitReady(10_000);
    const shared = await locks.acquire('resize', 'term-3', { timeoutMs: 1000 });
    expect(await redis.client().get(lockKey(prefix, 'resize', 'term-3'))).toBe(shared.token);
    expect(await shared.release()).toBe(true);
  });

  it('an acquire that meets an outage falls back to the local lock', async () => {
    const prefix = uniquePrefix('fb');
    const redis = await conn(prefix, { pingIntervalMs: 60_000, commandTimeoutMs: 100 });
    const locks = fallback(redis);
    server.pause();
    try {
      const lock = await locks.acquire('primary', 'term-4', { timeoutMs: 250 });
      expect(await rejectionOf(locks.acquire('primary', 'term-4', { timeoutMs: 30 }))).toBeInstanceOf(LockTimeoutError);
      expect(await lock.release()).toBe(true);
    } finally {
      server.resume();
    }
  });
});
