// Two ptyhub instances on a 3-master Redis Cluster (REDIS_CLUSTER_NODES): cross-instance
// terminals work over sharded pub/sub, the registry spreads over the masters, and a master
// failover (its process killed, its replica promoted) is something devices ride through.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisManager } from '../../server/redis/connection-manager.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { allKeys } from '../../server/redis/scan.js';
import type { TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { createTerminal, expectLogoutReaches, signedInDevice } from './scenarios.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { redisRecovered, startServer, type TestServer } from '../helpers/server.js';
import { testLogger } from '../redis/support.js';

const PREFIX = 'ptyhub-rc:';
let cluster: RedisCluster;
let observer: RedisConnectionManager;
let a: TestServer;
let b: TestServer;
const clients: TestClient[] = [];

const env = () => ({
  REDIS_CLUSTER_NODES: cluster.nodeList,
  REDIS_KEY_PREFIX: PREFIX,
  // Above a failover on a loaded machine (no instance can refresh its heartbeat while the
  // cluster is down), short enough for the kill -9 case (up to 2 x TTL on a cluster).
  HEARTBEAT_TTL_MS: '5000',
  REDIS_COMMAND_TIMEOUT_MS: '1000',
  LOCK_WAIT_MS: '20000',
});

const device = (server: TestServer, name: string, user = 'alice') => signedInDevice(server, name, clients, user);
const create = createTerminal;

/** Which master (port) holds a key right now. */
async function masterOf(key: string): Promise<number> {
  const slot = Number(await observer.readyClient().cluster('KEYSLOT', key));
  const slots = await observer.readyClient().cluster('SLOTS');
  const range = slots.find(([lo, hi]) => slot >= lo && slot <= hi)!;
  return range[2]![1];
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  a = await startServer({ serverId: 'rc-a', env: env() });
  b = await startServer({ serverId: 'rc-b', dir: a.dir, env: env() });
  await a.addUser('alice', 'alice-password');
  await a.addUser('bob', 'bob-password');
  observer = createRedisManager({
    clusterNodes: cluster.nodeList,
    keyPrefix: PREFIX,
    commandTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    logger: testLogger('observer'),
  });
  await observer.waitReady(10_000);
}, 90_000);

afterAll(async () => {
  for (const cl of clients) cl.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await observer?.quit();
  await cluster?.stop();
});

describe('two instances on a Redis Cluster', () => {
  it('a device on B uses a terminal on A: input, output, devices, resize', async () => {
    const onA = await device(a, 'laptop-on-a');
    const onB = await device(b, 'phone-on-b');
    const id = await create(onA);
    expect((await onA.attach(id)).ok).toBe(true);
    const attach = await onB.attach(id);
    expect(attach.ok && attach.devices.map((d) => d.serverId).sort()).toEqual(['rc-a', 'rc-b']);
    await onB.call('terminal:input', { terminalId: id, data: 'echo from-b-$((40+2))\r' });
    await onB.waitForOutput(id, 'from-b-42');
    await onA.waitForOutput(id, 'from-b-42');
    const r = await onB.call('terminal:resize', { terminalId: id, cols: 91, rows: 37 });
    expect(r.ok).toBe(true);
    await onA.waitForEvent('terminal:resized', (p) => p.terminalId === id && p.cols === 91);
  });

  it('keeps each user in one hash slot, and different users spread over the masters', async () => {
    const onA = await device(a, 'alice-dev');
    const bobB = await device(b, 'bob-dev', 'bob');
    const t1 = await create(onA);
    const t2 = await create(bobB);
    await onA.attach(t1);
    await bobB.attach(t2);
    const keys = await allKeys(observer, `${PREFIX}{u:*`);
    const byUser = new Map<string, Set<number>>();
    for (const key of keys) {
      const uid = /\{u:(.*)\}/.exec(key)![1]!;
      const slots = byUser.get(uid) ?? new Set<number>();
      slots.add(Number(await observer.readyClient().cluster('KEYSLOT', key)));
      byUser.set(uid, slots);
    }
    expect(byUser.size).toBeGreaterThanOrEqual(2);
    for (const slots of byUser.values()) expect(slots.size).toBe(1);
  });

  it('signing out on one instance disconnects that token\'s sockets on the other', async () => {
    await expectLogoutReaches(a, b, clients);
  });

  it('kill -9 of an instance: devices elsewhere get owner_lost, and its registry entries are reaped', async () => {
    const c = await startServer({ serverId: 'rc-c', dir: a.dir, env: env() });
    const onC = await device(c, 'on-c');
    const onB = await device(b, 'on-b');
    const id = await create(onC);
    await onC.attach(id);
    await onB.attach(id);
    await onB.call('terminal:input', { terminalId: id, data: 'echo alive\r' });
    await onB.waitForOutput(id, 'alive');
    await c.kill9();
    const exit = await onB.waitForEvent('terminal:exit', (p) => p.terminalId === id, 30_000);
    expect(exit.reason).toBe('owner_lost');
    await eventually(async () => (await allKeys(observer, `${PREFIX}server:rc-c*`)).length === 0, 20_000, 'rc-c keys gone', 100);
    const devices = await observer.readyClient().hgetall(`${PREFIX}{u:${(await ownerOf(id))}}:devices`);
    expect(Object.values(devices).some((d) => d.includes('"rc-c"'))).toBe(false);
  }, 90_000);

  it('failover: the master holding the owner\'s RPC channel is killed; devices stay connected and work again', async () => {
    const onA = await device(a, 'a');
    const onB = await device(b, 'b');
    const id = await create(onA);
    await onA.attach(id);
    await onB.attach(id);
    await onB.call('terminal:input', { terminalId: id, data: 'echo before-$((1+1))\r' });
    await onB.waitForOutput(id, 'before-2');

    // The master serving rc-a's RPC channel carries B's input to the pty on A.
    const port = await masterOf(`${PREFIX}rpc:rc-a`);
    const slot = Number(await observer.readyClient().cluster('KEYSLOT', `${PREFIX}rpc:rc-a`));
    const killed = await cluster.failover(slot);
    expect(killed.port).toBe(port);

    // What devices see: their sockets stay up (no disconnect, no terminal:exit); a request
    // in the failover window may be refused as `unavailable`, and works once the replica
    // has taken over.
    await Promise.all([redisRecovered(a), redisRecovered(b)]);
    const replies: string[] = [];
    await eventually(
      async () => {
        const r = await onB.call('terminal:input', { terminalId: id, data: 'echo after-$((2+2))\r' });
        replies.push(r.ok ? 'ok' : r.error.code);
        return r.ok;
      },
      20_000,
      'input from B after the failover',
      200,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; replies ${replies.join(' ')}; logs: ${JSON.stringify(warnings())}`);
    });
    expect(replies.filter((r) => r !== 'ok' && r !== 'unavailable')).toEqual([]);
    await onB.waitForOutput(id, 'after-4');
    await onA.waitForOutput(id, 'after-4');
    expect(onA.socket.connected && onB.socket.connected).toBe(true);
    expect([...onA.events, ...onB.events].some((e) => e.event === 'terminal:exit')).toBe(false);
    const list = await onB.call('terminal:list', {});
    expect(list.ok && list.terminals.find((t) => t.id === id)?.deviceCount).toBe(2);
  });
});

/** The instances' warnings and errors (what a failure message shows). */
function warnings(): unknown[] {
  return [a, b].flatMap((s) => s.logs.filter((l) => Number(l.level) >= 40).map((l) => ({ server: s.serverId, msg: l.msg, err: l.err, channel: l.channel }))).slice(-40);
}

async function ownerOf(terminalId: string): Promise<string> {
  return (await observer.readyClient().get(`${PREFIX}term-owner:${terminalId}`)) ?? '';
}
