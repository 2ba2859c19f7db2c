// Sharded pub/sub on a real 3-master Redis Cluster: a subscription that stops delivering
// while the library still counts it (what a failover under load once left behind) is
// found by the probe and subscribed again; a healthy one is left alone, and probes never
// reach the application.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPubSub } from '../../server/redis/pubsub.js';
import { eventually } from '../helpers/eventually.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { testLogger, testManager, uniquePrefix } from './support.js';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** ioredis' own per-master sharded subscriber connections (internal: only to inject the fault). */
function shardedConnections(subscriber: unknown): Array<{ sunsubscribe(...channels: string[]): Promise<unknown> }> {
  const group = (subscriber as { shardedSubscribers: { shardedSubscribers: Map<string, { getInstance(): unknown }> } }).shardedSubscribers;
  return [...group.shardedSubscribers.values()].map((s) => s.getInstance() as { sunsubscribe(...channels: string[]): Promise<unknown> }).filter(Boolean);
}

describe('sharded pub/sub on a Redis Cluster', () => {
  it('a subscription lost behind the library\'s back is found by the probe and restored', async () => {
    const prefix = uniquePrefix('pubsub');
    const manager = testManager(cluster.url, prefix, { commandTimeoutMs: 2000 });
    const logger = testLogger('pubsub');
    const ps = createPubSub(manager, 'test-bus', { logger, pingTimeoutMs: 1000, pingEveryMs: 3_600_000 });
    try {
      await manager.waitReady(5000);
      const got: string[] = [];
      ps.onMessage((_channel, message) => got.push(message));
      const channels = [`${prefix}rpc:srv-a`, `${prefix}rpc`];
      for (const c of channels) await ps.subscribe(c);

      // Healthy: every probe comes back, nothing is subscribed again, and no probe is delivered.
      expect(await ps.checkSubscriptions()).toEqual([]);
      expect(await ps.checkSubscriptions()).toEqual([]);
      expect(await ps.publish(channels[0]!, 'm1')).toBe(1);
      await eventually(() => got.includes('m1'), 5000, 'm1 delivered');

      // The fault: the subscriber connection of the channel's master drops the channel (the
      // other masters answer MOVED).
      await Promise.all(shardedConnections(ps.subscriber).map((c) => c.sunsubscribe(channels[0]!).catch(() => undefined)));
      expect(await ps.publish(channels[0]!, 'lost')).toBe(0);

      expect(await ps.checkSubscriptions()).toEqual([channels[0]]);
      expect(logger.entries.some((e) => e.msg.includes('sharded subscription lost'))).toBe(true);
      await eventually(async () => (await ps.publish(channels[0]!, 'm2')) === 1, 5000, 'subscribed again');
      await eventually(() => got.includes('m2'), 5000, 'm2 delivered');
      expect(await ps.checkSubscriptions()).toEqual([]);
      expect(got.every((m) => m === 'm1' || m === 'm2')).toBe(true);
    } finally {
      await ps.close();
      await manager.quit();
    }
  }, 30_000);
});
