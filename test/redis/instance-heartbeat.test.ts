import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  claimServerId,
  heartbeatKey,
  listServers,
  serversKey,
  ServerIdInUseError,
  startHeartbeat,
  type InstanceHeartbeat,
} from '../../server/redis/instance-heartbeat.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { eventually, testLogger, testManager, timed, uniquePrefix } from './support.js';

let server: RedisServer;
let manager: RedisConnectionManager;
const beats: InstanceHeartbeat[] = [];
const logger = testLogger('heartbeat');

beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(beats.splice(0).map((b) => b.stop()));
  await manager?.quit();
});

async function freshManager(): Promise<RedisConnectionManager> {
  manager = testManager(server.url, uniquePrefix('hb'));
  await manager.waitReady(3000);
  return manager;
}

async function claim(id: string, ttlMs: number, waitForStaleMs?: number): Promise<InstanceHeartbeat> {
  const hb = await claimServerId(manager, id, ttlMs, { logger, ...(waitForStaleMs !== undefined ? { waitForStaleMs } : {}) });
  beats.push(hb);
  return hb;
}

describe('instance heartbeat', () => {
  it('claims the id, lists it, and keeps it alive past its TTL', async () => {
    const m = await freshManager();
    const hb = await claim('alpha', 300);
    const redis = m.readyClient();
    expect(await redis.get(heartbeatKey(m.prefix, 'alpha'))).toBe(hb.token);
    expect(await redis.smembers(serversKey(m.prefix))).toEqual(['alpha']);
    await new Promise((r) => setTimeout(r, 700)); // > 2 TTLs: only refreshing keeps it
    expect(await hb.isAlive('alpha')).toBe(true);
    const [info] = await hb.listServers();
    expect(info?.serverId).toBe('alpha');
    expect(info?.alive).toBe(true);
    expect(info?.ttlMs).toBeGreaterThan(0);
  });

  it('refuses an id held by a live instance, with a clear message', async () => {
    await freshManager();
    await claim('alpha', 300);
    const r = await timed(() => claimServerId(manager, 'alpha', 300, { logger }));
    expect(r.error).toBeInstanceOf(ServerIdInUseError);
    expect(String(r.error)).toContain('SERVER_ID alpha is in use by a live instance; set a different SERVER_ID');
    expect(r.ms).toBeLessThan(1000); // waited at most about one TTL for a stale holder
  });

  it("takes over a crashed predecessor's id once its key expires", async () => {
    await freshManager();
    const old = await claim('alpha', 300);
    await old.stop({ release: false }); // a crash: the key is left to expire
    const fresh = await claim('alpha', 300);
    expect(fresh.token).not.toBe(old.token);
    expect(await fresh.isAlive('alpha')).toBe(true);
  });

  it('rejects malformed ids', async () => {
    await freshManager();
    await expect(claimServerId(manager, 'a:b', 300, { logger })).rejects.toThrow(/invalid SERVER_ID/);
  });

  it('re-creates its key after it vanished and says so', async () => {
    const m = await freshManager();
    const hb = await claim('alpha', 3000);
    let reclaimed = 0;
    hb.on('reclaimed', () => reclaimed++);
    await m.readyClient().del(heartbeatKey(m.prefix, 'alpha'), serversKey(m.prefix)); // e.g. Redis lost its data
    expect(await hb.refresh()).toBe('reclaimed');
    expect(reclaimed).toBe(1);
    expect(await m.readyClient().get(heartbeatKey(m.prefix, 'alpha'))).toBe(hb.token);
    expect(await m.readyClient().smembers(serversKey(m.prefix))).toEqual(['alpha']);
    expect(await hb.refresh()).toBe('refreshed');
  });

  it('reports losing its id to another holder', async () => {
    const m = await freshManager();
    const hb = await claim('alpha', 3000);
    const lost: Error[] = [];
    hb.on('lost', (e) => lost.push(e));
    await m.readyClient().set(heartbeatKey(m.prefix, 'alpha'), 'someone-else');
    await expect(hb.refresh()).rejects.toBeInstanceOf(ServerIdInUseError);
    expect(lost).toHaveLength(1);
  });

  it('release deletes only its own key; a stopped one expires; listServers shows both', async () => {
    const m = await freshManager();
    const a = await claim('alpha', 300);
    const b = await claim('beta', 300);
    await a.stop(); // release
    expect(await m.readyClient().exists(heartbeatKey(m.prefix, 'alpha'))).toBe(0);
    await b.stop({ release: false });
    await eventually(async () => !(await listServers(m)).find((s) => s.serverId === 'beta')?.alive, 2000, 'beta to expire');
    expect(await listServers(m)).toEqual([
      { serverId: 'alpha', alive: false, ttlMs: null },
      { serverId: 'beta', alive: false, ttlMs: null },
    ]);
  });

  it('startHeartbeat claims the id once Redis appears, and reports a taken id as lost', async () => {
    const port = await freePort();
    manager = testManager(`redis://127.0.0.1:${port}`, uniquePrefix('hb-late'));
    const hb = startHeartbeat(manager, 'alpha', 3000, { logger });
    beats.push(hb);
    const claimed = new Promise<void>((resolve) => hb.on('reclaimed', resolve));
    const local = await startRedis({ port });
    try {
      await claimed;
      expect(await hb.isAlive('alpha')).toBe(true);
      expect(await manager.readyClient().get(heartbeatKey(manager.prefix, 'alpha'))).toBe(hb.token);

      const taken = startHeartbeat(manager, 'alpha', 3000, { logger }); // same id, other process
      beats.push(taken);
      const lost = new Promise<Error>((resolve) => taken.on('lost', resolve));
      expect(await lost).toBeInstanceOf(ServerIdInUseError);
      await expect(taken.refresh()).rejects.toBeInstanceOf(ServerIdInUseError);
    } finally {
      await Promise.all(beats.splice(0).map((b) => b.stop()));
      await manager.quit();
      await local.stop();
    }
  });

  it('puts its key back as soon as Redis is ready again after a restart', async () => {
    const local = await startRedis();
    try {
      manager = testManager(local.url, uniquePrefix('hb-restart'));
      await manager.waitReady(3000);
      const hb = await claim('alpha', 5000); // refresh period far longer than this test
      const reclaimed = new Promise<void>((resolve) => hb.on('reclaimed', resolve));
      local.kill9();
      await local.restart(); // empty data set
      await reclaimed;
      expect(await hb.isAlive('alpha')).toBe(true);
    } finally {
      await Promise.all(beats.splice(0).map((b) => b.stop()));
      await manager.quit();
      await local.stop();
    }
  });
});
