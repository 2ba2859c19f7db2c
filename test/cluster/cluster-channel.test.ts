// The cluster channel between two instances, on a standalone Redis and on a 3-master Redis
// Cluster (sharded pub/sub): owner RPC reaches the owner and its reply comes back, cluster
// events reach every other instance (the everyone channel) but not the sender, and
// malformed messages are dropped by validation.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterChannel, type ClusterEvent } from '../../server/cluster/cluster-channel.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import type { TerminalSessionRecord } from '../../server/sessions/types.js';
import { eventually } from '../helpers/eventually.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { TEST_CLUSTER_SECRET } from '../helpers/server.js';
import { testManager, uniquePrefix } from '../redis/support.js';

let server: RedisServer;
let cluster: RedisCluster;

beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

for (const [name, target] of [
  ['standalone Redis', () => server.url],
  ['Redis Cluster', () => cluster.url],
] as const) {
  describe(`cluster channel on ${name}`, () => {
    it('forwards operations to the owner and broadcasts events to every other instance', async () => {
      const prefix = uniquePrefix('channel');
      const managers: RedisConnectionManager[] = [
        testManager(target(), prefix, { commandTimeoutMs: 2000 }),
        testManager(target(), prefix, { commandTimeoutMs: 2000 }),
      ];
      await Promise.all(managers.map((m) => m.waitReady(5000)));
      const logger = pino({ level: 'silent' });
      const events: Record<string, ClusterEvent[]> = { a: [], b: [] };
      const [a, b] = (['a', 'b'] as const).map(
        (id, i) =>
          new ClusterChannel({
            redis: managers[i]!,
            serverId: `srv-${id}`,
            logger,
            timeoutMs: 2000,
            secret: TEST_CLUSTER_SECRET,
            onEvent: (e) => events[id]!.push(e),
            handle: async (op) => (op.op === 'replay' ? { data: Buffer.from(`screen of ${id} ${op.terminalId} é`), start: 3, end: 21 } : undefined),
          }),
      ) as [ClusterChannel, ClusterChannel];
      await Promise.all([a.start(), b.start()]);
      try {
        const onB = { id: 't1', serverId: 'srv-b' } as TerminalSessionRecord;
        // Bytes cross the channel exactly (base64 in its JSON).
        expect(await a.replay(onB)).toEqual({ data: Buffer.from('screen of b t1 é'), start: 3, end: 21 });

        // Not valid for the schema: dropped without an answer or an event.
        await managers[0]!.readyClient()[managers[0]!.isCluster ? 'spublish' : 'publish'](`${prefix}rpc`, JSON.stringify({ kind: 'event', from: 'x', event: { type: 'nope' } }));

        a.broadcast({ type: 'terminal-ended', terminalId: 't1' });
        await eventually(() => events.b!.length > 0, 5000, 'event received by the other instance');
        expect(events.b).toEqual([{ type: 'terminal-ended', terminalId: 't1' }]);
        // A round trip later, the sender has still not received its own event.
        expect(await b.replay({ id: 't2', serverId: 'srv-a' } as TerminalSessionRecord)).toEqual({ data: Buffer.from('screen of a t2 é'), start: 3, end: 21 });
        expect(events.a).toEqual([]);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
        await Promise.all(managers.map((m) => m.quit()));
      }
    }, 30_000);

    it('input waits for the pty once the owner has it, but input lost on the way is answered unavailable at once', async () => {
      const prefix = uniquePrefix('receipt');
      const managers = [testManager(target(), prefix, { commandTimeoutMs: 2000 }), testManager(target(), prefix, { commandTimeoutMs: 2000 })];
      await Promise.all(managers.map((m) => m.waitReady(5000)));
      const logger = pino({ level: 'silent' });
      let takeInput!: () => void;
      const taken = new Promise<void>((r) => (takeInput = r));
      const [caller, owner] = ['caller', 'owner'].map(
        (id, i) =>
          new ClusterChannel({
            redis: managers[i]!,
            serverId: `srv-${id}`,
            logger,
            timeoutMs: 500,
            secret: TEST_CLUSTER_SECRET,
            onEvent: () => undefined,
            // The pty takes the input only when the test says so (a program not reading).
            handle: async (op) => (op.op === 'input' ? taken : undefined),
          }),
      ) as [ClusterChannel, ClusterChannel];
      // A subscriber on another owner's channel that never answers: the request is lost.
      const silent = managers[1]!.duplicate('silent', { offlineQueue: true });
      await Promise.all([caller.start(), owner.start()]);
      try {
        await (managers[1]!.isCluster ? silent.ssubscribe(`${prefix}rpc:srv-silent`) : silent.subscribe(`${prefix}rpc:srv-silent`));
        const lost = caller.input({ id: 't1', serverId: 'srv-silent' } as TerminalSessionRecord, 'x');
        await expect(lost).rejects.toMatchObject({ code: 'unavailable' });

        let settled = false;
        const waiting = caller.input({ id: 't2', serverId: 'srv-owner' } as TerminalSessionRecord, 'y').finally(() => (settled = true));
        // Four times the short timeout: still waiting for the pty, not refused.
        await new Promise((r) => setTimeout(r, 2000));
        expect(settled).toBe(false);
        takeInput();
        await waiting;
      } finally {
        await silent.quit().catch(() => undefined);
        await Promise.all([caller.stop(), owner.stop()]);
        await Promise.all(managers.map((m) => m.quit()));
      }
    }, 30_000);
  });
}
