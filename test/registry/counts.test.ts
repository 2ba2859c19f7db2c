// The registry's global counts (registry:counts, getStats) against the hashes they count,
// on a real redis-server and on a real 3-master Redis Cluster, where they live in another
// slot than the users' hashes and are updated by a second command.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRegistry } from '../../server/registry/redis-registry.js';
import { APPLY_COUNTS } from '../../server/registry/redis-scripts.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { device, testManager, uniquePrefix } from '../redis/support.js';
import { invariantErrors, snapshot } from './redis-snapshot.js';

let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

for (const [name, target] of [
  ['a standalone Redis', () => server.url],
  ['a Redis Cluster', () => cluster.url],
] as const) {
  describe(`registry counts on ${name}`, () => {
    const managers: RedisConnectionManager[] = [];
    const manager = async (prefix: string) => {
      // Generous timeout: hundreds of concurrent scripts on a loaded 2-core machine.
      const m = testManager(target(), prefix, { commandTimeoutMs: 3000 });
      managers.push(m);
      await m.waitReady(5000);
      return m;
    };
    afterAll(async () => {
      await Promise.all(managers.map((m) => m.quit()));
    });

    it('two instances churning the same users and terminals concurrently leave counts equal to the hashes', async () => {
      const prefix = uniquePrefix('counts');
      const [ma, mb] = [await manager(prefix), await manager(prefix)];
      const a = new RedisRegistry(ma);
      const b = new RedisRegistry(mb);
      // 12 users (so several slots), 3 hot terminals each that both sides join and leave at
      // the same moments: the interleaving that used to leave a terminal in the global index.
      const user = (i: number) => `user-${i % 12}`;
      const term = (i: number) => `t-${i % 12}-${i % 3}`;
      const side = (reg: RedisRegistry, tag: string, serverId: string) =>
        Promise.all(
          range(240).map(async (i) => {
            const d = device(`${tag}${i}`, { serverId, userId: user(i) });
            await reg.addSocket(term(i), d);
            if (i % 4 !== 0) await reg.removeSocket(term(i), d.socketId);
            if (i % 8 === 0) await reg.removeSocketFromAllTerminals(d.socketId);
          }),
        );
      await Promise.all([side(a, 'a', 'srv-a'), side(b, 'b', 'srv-b')]);

      const snap = await snapshot(ma);
      expect(invariantErrors(snap)).toEqual([]);
      // Left: sockets i % 8 === 4 on each side, 30 each, on terminals t-<u>-<i % 3>.
      const left = range(240).filter((i) => i % 8 === 4);
      const terms = new Set(left.map(term));
      const users = new Set(left.map(user));
      expect(await a.getStats()).toEqual({ backend: 'redis', terminals: terms.size, sockets: 2 * left.length, users: users.size });
      expect(await b.getStats()).toEqual(await a.getStats());

      // Everything goes: the counts return to zero.
      await Promise.all([...left.map((i) => a.removeSocketFromAllTerminals(`a${i}`)), ...left.map((i) => b.removeSocketFromAllTerminals(`b${i}`))]);
      expect(await a.getStats()).toEqual({ backend: 'redis', terminals: 0, sockets: 0, users: 0 });
      expect(invariantErrors(await snapshot(ma))).toEqual([]);
    });

    it("a user's counts only move to a higher version (a late update is ignored)", async () => {
      const prefix = uniquePrefix('counts-order');
      const m = await manager(prefix);
      const redis = m.readyClient();
      const key = `${prefix}registry:counts`;
      const apply = (v: number, t: number, s: number) => redis.eval(APPLY_COUNTS.lua, 1, key, 'u1', v, t, s);
      expect(await apply(2, 0, 0)).toBe(1);
      expect(await apply(1, 3, 4)).toBe(0); // sent earlier, arrived later
      expect(await redis.hgetall(key)).toEqual({ 'u:u1': '2 0 0' });
      expect(await apply(3, 2, 1)).toBe(1);
      expect(await new RedisRegistry(m).getStats()).toEqual({ backend: 'redis', terminals: 2, sockets: 1, users: 1 });
    });
  });
}
