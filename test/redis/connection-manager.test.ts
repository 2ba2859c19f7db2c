import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedisManager } from '../../server/redis/connection-manager.js';
import { RedisUnavailableError, type RedisConnectionManager, type RedisState } from '../../server/redis/types.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { eventually, nextEvent, testLogger, testManager, timed, uniquePrefix } from './support.js';

const managers: RedisConnectionManager[] = [];
function track(m: RedisConnectionManager): RedisConnectionManager {
  managers.push(m);
  return m;
}
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.quit()));
});

describe('manager without Redis configured', () => {
  it('is disabled and fails fast', async () => {
    const m = track(createRedisManager({ keyPrefix: 'p:', commandTimeoutMs: 100, connectTimeoutMs: 100, logger: testLogger() }));
    expect(m.state).toBe('disabled');
    expect(m.enabled).toBe(false);
    expect(() => m.client()).toThrow(RedisUnavailableError);
    expect(() => m.duplicate('sub')).toThrow(RedisUnavailableError);
    await expect(m.waitReady(1000)).rejects.toBeInstanceOf(RedisUnavailableError);
    expect(m.health()).toEqual({ state: 'disabled', lastPingMs: null, lastError: null });
  });
});

describe('URL handling', () => {
  it('passes rediss://, password and db through to ioredis', async () => {
    const port = await freePort();
    const m = track(testManager(`rediss://:s3cret@127.0.0.1:${port}/2`, 'p:'));
    const o = (m.client() as Redis).options;
    expect(o.tls).toBeDefined();
    expect(o.password).toBe('s3cret');
    expect(o.db).toBe(2);
    expect(o.enableOfflineQueue).toBe(false);
    expect(o.commandTimeout).toBe(300);
  });
});

describe('manager against a real redis-server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('connects, pings and reports health', async () => {
    const m = track(testManager(server.url, uniquePrefix('cm')));
    const states: RedisState[] = [];
    m.on('state', (s) => states.push(s));
    await m.waitReady(3000);
    expect(m.state).toBe('ready');
    expect(states).toEqual(['ready']);
    expect(await m.readyClient().set(`${m.prefix}k`, 'v')).toBe('OK');
    await eventually(() => m.health().lastPingMs !== null, 2000, 'a PING');
    expect(m.health().lastPingMs).toBeGreaterThanOrEqual(0);
  });

  it('shares one waitReady promise and times out clearly when Redis is absent', async () => {
    const port = await freePort();
    const m = track(testManager(`redis://127.0.0.1:${port}`, 'p:'));
    const [a, b] = await Promise.all([timed(() => m.waitReady(300)), timed(() => m.waitReady(300))]);
    expect(a.error).toBeInstanceOf(RedisUnavailableError);
    expect(String(a.error)).toMatch(/not ready within 300 ms/);
    expect(b.error).toBeInstanceOf(RedisUnavailableError);
    expect(a.ms).toBeLessThan(1000);
    expect(m.state).toBe('degraded');
    expect(() => m.readyClient()).toThrow(RedisUnavailableError);
    // Commands fail fast (offline queue disabled) with the ioredis error, not a hang.
    const r = await timed(() => m.client().get('x'));
    expect(r.error).toBeInstanceOf(Error);
    expect(r.ms).toBeLessThan(250); // well before the 300 ms command timeout
  });

  it('authenticates with a password from the URL', async () => {
    const secured = await startRedis({ password: 'pa ss@word' });
    try {
      const m = track(testManager(secured.url, uniquePrefix('auth')));
      await m.waitReady(3000);
      expect(await m.readyClient().ping()).toBe('PONG');
      const wrong = track(testManager(secured.url.replace('pa%20ss%40word', 'nope'), 'p:'));
      await expect(wrong.waitReady(500)).rejects.toBeInstanceOf(RedisUnavailableError);
      expect(wrong.health().lastError).toMatch(/WRONGPASS|NOAUTH|invalid/i);
    } finally {
      await secured.stop();
    }
  });

  it('goes degraded on kill -9 and comes back after a restart on the same port', async () => {
    const local = await startRedis();
    try {
      const m = track(testManager(local.url, uniquePrefix('kill')));
      await m.waitReady(3000);
      const down = nextEvent(m, 'down', 3000);
      local.kill9();
      await down;
      expect(m.state).toBe('degraded');
      expect(() => m.readyClient()).toThrow(RedisUnavailableError);
      const r = await timed(() => m.client().get('x'));
      expect(r.error).toBeDefined();
      expect(r.ms).toBeLessThan(250); // fails fast, not after the 300 ms command timeout
      const up = nextEvent(m, 'ready', 5000);
      await local.restart();
      await up;
      expect(m.state).toBe('ready');
      expect(await m.readyClient().ping()).toBe('PONG');
    } finally {
      await local.stop();
    }
  });

  it('notices a frozen server (SIGSTOP) by PING, fails commands within the timeout, recovers on SIGCONT', async () => {
    const local = await startRedis();
    try {
      const m = track(testManager(local.url, uniquePrefix('stop')));
      await m.waitReady(3000);
      const down = nextEvent(m, 'down', 3000);
      local.pause();
      const r = await timed(() => m.client().get('x'));
      expect(String(r.error)).toMatch(/timed out/i);
      expect(r.ms).toBeLessThan(600); // commandTimeout 300
      await down;
      expect(m.state).toBe('degraded');
      expect(() => m.readyClient()).toThrow(RedisUnavailableError);
      // Stay frozen long enough for the unresponsive connection to be dropped and redialled.
      await eventually(() => m.client().status !== 'ready', 3000, 'a forced reconnect');
      const up = nextEvent(m, 'ready', 5000);
      local.resume();
      await up;
      expect(await m.readyClient().ping()).toBe('PONG');
    } finally {
      await local.stop();
    }
  });

  it('duplicates reconnect and resubscribe on their own', async () => {
    const local = await startRedis();
    try {
      const m = track(testManager(local.url, uniquePrefix('dup')));
      await m.waitReady(3000);
      const sub = m.duplicate('sub', { offlineQueue: true });
      const got: string[] = [];
      sub.on('message', (_ch: string, msg: string) => got.push(msg));
      await sub.subscribe(`${m.prefix}ch`);
      await m.readyClient().publish(`${m.prefix}ch`, 'one');
      await eventually(() => got.includes('one'), 2000, 'first message');
      local.kill9();
      await local.restart();
      await m.waitReady(5000);
      await eventually(async () => {
        await m.readyClient().publish(`${m.prefix}ch`, 'two');
        return got.includes('two');
      }, 5000, 'message after restart');
    } finally {
      await local.stop();
    }
  });

  it('quits within its bound even when the server is frozen', async () => {
    const local = await startRedis();
    try {
      const m = testManager(local.url, uniquePrefix('quit'));
      await m.waitReady(3000);
      m.duplicate('extra');
      local.pause();
      const r = await timed(() => m.quit());
      expect(r.ms).toBeLessThan(1000);
      expect(m.state).toBe('closed');
      expect(() => m.client()).toThrow(RedisUnavailableError);
      await expect(m.waitReady(100)).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      local.resume();
      await local.stop();
    }
  });
});
