// Redis-specific registry behaviour beyond the shared contract.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisUnavailableError } from '../../server/redis/types.js';
import { RedisRegistry } from '../../server/registry/redis-registry.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { device, testManager, uniquePrefix } from '../redis/support.js';
import { invariantErrors, snapshot } from './redis-snapshot.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

describe('RedisRegistry', () => {
  it('clear() removes registry keys only, and only under its prefix (glob characters included)', async () => {
    const prefix = `${uniquePrefix('clear')}[x]*?:`;
    const manager = testManager(server.url, prefix);
    const neighbour = testManager(server.url, uniquePrefix('neighbour'));
    try {
      await manager.waitReady(3000);
      await neighbour.waitReady(3000);
      const reg = new RedisRegistry(manager);
      const other = new RedisRegistry(neighbour);
      await reg.addSocket('t1', device('s1'));
      await reg.setPrimarySocket('t1', 's1');
      await other.addSocket('t1', device('s1'));
      const redis = manager.readyClient();
      await redis.set(`${prefix}server:srv-a`, 'heartbeat-token'); // not a registry key
      await redis.set(`${prefix}terminal:abc`, 'cache'); // someone else's key (the session cache)
      await reg.clear();
      expect((await snapshot(manager)).keyCount).toBe(0);
      expect(await redis.get(`${prefix}server:srv-a`)).toBe('heartbeat-token');
      expect(await redis.get(`${prefix}terminal:abc`)).toBe('cache');
      expect(await other.getSocketsForTerminal('t1')).toEqual(['s1']);
      expect(invariantErrors(await snapshot(neighbour))).toEqual([]);
    } finally {
      await manager.quit();
      await neighbour.quit();
    }
  });

  it('fails with RedisUnavailableError when Redis is unreachable, never with an empty answer', async () => {
    const manager = testManager(`redis://127.0.0.1:${await freePort()}`, uniquePrefix('down'));
    try {
      const reg = new RedisRegistry(manager);
      await expect(reg.getPrimarySocket('t1')).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(reg.getSocketsForTerminal('t1')).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(reg.isSocketConnected('s1')).rejects.toBeInstanceOf(RedisUnavailableError);
      await expect(reg.addSocket('t1', device('s1'))).rejects.toBeInstanceOf(RedisUnavailableError);
    } finally {
      await manager.quit();
    }
  });

  it('moves a socket between instances without leaving it in the old instance set', async () => {
    const prefix = uniquePrefix('move');
    const manager = testManager(server.url, prefix);
    try {
      await manager.waitReady(3000);
      const reg = new RedisRegistry(manager);
      await reg.addSocket('t1', device('s1', { serverId: 'srv-a' }));
      await reg.addSocket('t2', device('s1', { serverId: 'srv-b' }));
      const snap = await snapshot(manager);
      expect(invariantErrors(snap)).toEqual([]);
      expect(snap.servers.get('srv-a') ?? []).toEqual([]);
      expect(snap.servers.get('srv-b')).toEqual(['s1']);
    } finally {
      await manager.quit();
    }
  });
});
