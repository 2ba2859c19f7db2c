// Two instances, one Redis, one database, under attack and outage: sign-in counters
// shared by both instances, a logout whose broadcast is lost in a Redis outage, and
// health that forgets Redis's old error once it is back.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { redisRecovered, startServer, type TestServer } from '../helpers/server.js';
import { expectTerminalCapHolds } from './scenarios.js';

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
const clients: TestClient[] = [];

const env = (redisUrl: string) => ({
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: 'ptyhub-harden:',
  HEARTBEAT_TTL_MS: '5000',
  // Generous: on a loaded machine a timed-out count would fall back to per-instance memory.
  REDIS_COMMAND_TIMEOUT_MS: '3000',
  TRUST_PROXY: 'true',
  // Long, so that only the re-check on Redis's return can find the revoked token in time.
  TOKEN_RECHECK_MS: '600000',
  MAX_TERMINALS_PER_USER: '3',
  MAX_SOCKETS_PER_USER: '4',
});

beforeAll(async () => {
  redis = await startRedis();
  a = await startServer({ serverId: 'harden-a', env: env(redis.url) });
  b = await startServer({ serverId: 'harden-b', dir: a.dir, env: env(redis.url) });
  await a.addUser('alice', 'alice-password');
  await a.addUser('bob', 'bob-password');
  await a.addUser('carol', 'carol-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

function signIn(server: TestServer, username: string, password: string, address: string) {
  return fetch(`${server.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ username, password }),
  });
}

describe('sign-in throttling across instances', () => {
  it('checks at most a dozen of 300 concurrent guesses for one user spread over both instances', async () => {
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => signIn(i % 2 ? a : b, 'alice', `wrong-guess-${i}`, '10.9.0.1')),
    );
    const checked = replies.filter((r) => r.status === 401).length;
    expect(checked).toBeGreaterThan(0);
    expect(checked).toBeLessThanOrEqual(12);
    expect(replies.filter((r) => r.status === 429).length).toBe(300 - checked);
  });
});

describe('revocation during a Redis outage', () => {
  it('a logout on A while Redis is down disconnects the token\'s socket on B once Redis is back', async () => {
    const token = await login(a.url, 'alice', 'alice-password');
    const onB = await connect(b.url, { token });
    clients.push(onB);
    let disconnectedAt = 0;
    onB.socket.once('disconnect', () => (disconnectedAt = Date.now()));

    redis.kill9();
    await eventually(async () => ((await (await fetch(`${a.url}/healthz`)).json()) as { redis: { state: string } }).redis.state !== 'ready', 15_000, 'A to see Redis down');
    const res = await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(204);
    await redis.restart();
    const back = Date.now();
    await redisRecovered(b);
    await eventually(() => disconnectedAt > 0, 15_000, 'the socket on B to be disconnected');
    expect(disconnectedAt - back).toBeLessThan(15_000);
    await expect(connect(b.url, { token })).rejects.toThrow('unauthorized');
  });

  it('/healthz drops Redis\'s last error once Redis is ready again', async () => {
    await redisRecovered(a);
    const h = (await (await fetch(`${a.url}/healthz`)).json()) as { redis: { state: string; lastError: string | null } };
    expect(h.redis.state).toBe('ready');
    expect(h.redis.lastError).toBeNull();
  });
});

describe('the per-user terminal cap', () => {
  it('holds when both instances create at once', async () => {
    await expectTerminalCapHolds(a, b, clients, 'bob', 3);
  });
});

describe('the per-user socket limit', () => {
  it('counts the sockets of both instances together', async () => {
    const token = await login(a.url, 'carol', 'carol-password');
    const held: TestClient[] = [];
    for (const server of [a, b, a, b]) held.push(await connect(server.url, { token }));
    clients.push(...held);
    await expect(connect(a.url, { token })).rejects.toThrow('rate_limited');
    await expect(connect(b.url, { token })).rejects.toThrow('rate_limited');
    // A socket that leaves gives its place back, to any instance.
    held[0]!.close();
    await eventually(
      () => connect(b.url, { token }).then((c) => (clients.push(c), true)),
      10_000,
      'a place to free up on B',
      100,
    );
  });
});

describe('owner loss', () => {
  it('a kill -9 of the owner reaches devices elsewhere as owner_lost within the heartbeat TTL + 3 s', async () => {
    const c = await startServer({ serverId: 'harden-c', dir: a.dir, env: env(redis.url) });
    try {
      const token = await login(c.url, 'alice', 'alice-password');
      const onC = await connect(c.url, { token });
      const onB = await connect(b.url, { token });
      clients.push(onC, onB);
      const created = await onC.call('terminal:create', { cols: 80, rows: 24 });
      if (!created.ok) throw new Error(created.error.message);
      const id = created.terminal.id;
      await onC.attach(id);
      await onB.attach(id);
      await onB.call('terminal:input', { terminalId: id, data: 'echo alive-$((2*3))\r' });
      await onB.waitForOutput(id, 'alive-6');

      const killedAt = Date.now();
      await c.kill9();
      const exit = await onB.waitForEvent('terminal:exit', (p) => p.terminalId === id, 30_000);
      expect(exit.reason).toBe('owner_lost');
      expect(Date.now() - killedAt).toBeLessThan(5000 + 3000);
    } finally {
      await c.stop();
    }
  });
});

describe('output between instances', () => {
  it('devices on an instance whose broadcast subscriber reconnected are told where the output stands', async () => {
    const token = await login(a.url, 'alice', 'alice-password');
    const onA = await connect(a.url, { token });
    const onB = await connect(b.url, { token });
    clients.push(onA, onB);
    const created = await onA.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    await onA.attach(id);
    await onB.attach(id);
    await onA.call('terminal:input', { terminalId: id, data: 'echo before-$((3*3))\r' });
    await onB.waitForOutput(id, 'before-9');
    const markers: Array<{ offset: number }> = [];
    onB.socket.on('terminal:output', (e) => {
      if (e.terminalId === id && e.data.length === 0) markers.push(e);
    });

    // Cut B's broadcast subscriber (as Redis does to a subscriber over its output-buffer limit).
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const list = (await admin.client('LIST')) as string;
      const line = list.split('\n').find((l) => l.includes('name=ptyhub:harden-b:socket.io-adapter'));
      expect(line, 'B\'s adapter subscriber').toBeDefined();
      await admin.client('KILL', 'ID', line!.match(/id=(\d+)/)![1]!);
    } finally {
      admin.disconnect();
    }
    await eventually(() => markers.length > 0, 15_000, 'a re-sync marker on B');
    // The end of the output so far: "before-9" and its prompt are behind it.
    expect(markers[0]!.offset).toBeGreaterThanOrEqual(onB.output(id).length);
  });
});
