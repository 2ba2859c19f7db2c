// Two ptyhub instances as separate processes, one Redis, one database: a device on any
// instance can use any terminal of its user, wherever the pty runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { sessionCacheKey } from '../../server/sessions/session-cache-scripts.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { createTerminal, expectLogoutReaches, signedInDevice } from './scenarios.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { eventually } from '../helpers/eventually.js';
import { redisRecovered, startServer, type TestServer } from '../helpers/server.js';
import { cachedSession, keysMentioning, shellSize } from '../helpers/terminal.js';

const PREFIX = 'ptyhub-cluster:';
let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let c: TestServer | null = null;
const clients: TestClient[] = [];

const env = (redisUrl: string) => ({
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: PREFIX,
  HEARTBEAT_TTL_MS: '2000',
  REDIS_COMMAND_TIMEOUT_MS: '1000',
  LOCK_WAIT_MS: '20000',
});

const device = (server: TestServer, name: string) => signedInDevice(server, name, clients);
const create = createTerminal;

/**
 * Both instances listen on Redis again: each owner-RPC channel has its subscriber, and
 * both socket.io adapters have their channel and pattern subscriptions back.
 */
async function pubsubRecovered(): Promise<void> {
  const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await r.connect();
  try {
    await eventually(
      async () => {
        const counts = (await r.pubsub('NUMSUB', `${PREFIX}rpc:server-a`, `${PREFIX}rpc:server-b`, `${PREFIX}socket.io-request#/#`)) as Array<string | number>;
        const [rpcA, rpcB, requests] = [counts[1], counts[3], counts[5]].map(Number);
        const clients = String(await r.client('LIST')).split('\n');
        const adapterPatterns = clients.filter((l) => /name=\S*socket\.io-adapter/.test(l) && /psub=[1-9]/.test(l)).length;
        return rpcA === 1 && rpcB === 1 && requests! >= 2 && adapterPatterns >= 2;
      },
      20_000,
      'pub/sub subscriptions after the Redis restart',
      50,
    );
  } finally {
    r.disconnect();
  }
}

beforeAll(async () => {
  redis = await startRedis();
  a = await startServer({ serverId: 'server-a', env: env(redis.url) });
  b = await startServer({ serverId: 'server-b', dir: a.dir, env: env(redis.url) });
  await a.addUser('alice', 'alice-password');
});

afterAll(async () => {
  for (const cl of clients) cl.close();
  await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
  await redis?.stop();
});

describe('two instances', () => {
  it('a device on B attaches to a terminal on A, types, and both see the output', async () => {
    const onA = await device(a, 'laptop-on-a');
    const onB = await device(b, 'phone-on-b');
    const id = await create(onA);
    expect((await onA.attach(id)).ok).toBe(true);
    await onA.call('terminal:input', { terminalId: id, data: 'echo first-$((20+1))\r' });
    await onA.waitForOutput(id, 'first-21');

    const listB = await onB.call('terminal:list', {});
    expect(listB.ok && listB.terminals.find((t) => t.id === id)).toMatchObject({ serverId: 'server-a', deviceCount: 1 });
    const attach = await onB.attach(id);
    expect(attach.ok).toBe(true);
    if (!attach.ok) return;
    expect(Buffer.from(attach.replay.data).toString('utf8')).toContain('first-21');
    expect(attach.devices.map((d) => d.serverId).sort()).toEqual(['server-a', 'server-b']);

    await onB.call('terminal:input', { terminalId: id, data: 'echo from-b-$((40+2))\r' });
    await onB.waitForOutput(id, 'from-b-42');
    await onA.waitForOutput(id, 'from-b-42');
    // B's input keeps the order B sent it in.
    for (const ch of 'echo ordered-abc\r') await onB.call('terminal:input', { terminalId: id, data: ch });
    await onA.waitForOutput(id, 'ordered-abc\r\n');
  });

  it('a 5 MB output stream arrives byte-exact and in order on both instances', async () => {
    const onA = await device(a, 'a');
    const onB = await device(b, 'b');
    const id = await create(onA);
    await onA.attach(id);
    await onB.attach(id);
    const script = [
      'stty -echo -onlcr',
      'f=$(mktemp)',
      'head -c 3900000 /dev/urandom | base64 -w 120 > $f',
      // Markers with "-", which base64 never contains, so they cannot occur in the data.
      'printf -- "-BEGIN-\\n"; cat $f; printf -- "-END-\\n"; sha256sum < $f | cut -c1-64 | sed "s/^/SUM=/"',
    ].join('; ');
    await onA.call('terminal:input', { terminalId: id, data: `${script}\r` });
    const doneRe = /SUM=([0-9a-f]{64})/;
    const outA = await onA.waitForOutput(id, doneRe, 60_000);
    const outB = await onB.waitForOutput(id, doneRe, 60_000);
    const sum = outA.match(doneRe)![1];
    for (const out of [outA, outB]) {
      const body = out.slice(out.indexOf('-BEGIN-\n') + 8, out.indexOf('-END-\n'));
      expect(body.length).toBeGreaterThan(5_000_000);
      expect(createHash('sha256').update(body).digest('hex')).toBe(sum);
    }
  });

  it('a resize from B is applied to the pty on A, with one version everywhere; concurrent resizes converge', async () => {
    const onA = await device(a, 'a');
    const onB = await device(b, 'b');
    const id = await create(onA);
    await onA.attach(id);
    await onB.attach(id);
    const r = await onB.call('terminal:resize', { terminalId: id, cols: 91, rows: 37 });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(await shellSize(onA, id)).toEqual([91, 37]);
    const seenA = await onA.waitForEvent('terminal:resized', (p) => p.terminalId === id && p.version === r.version);
    expect(seenA).toMatchObject({ cols: 91, rows: 37 });
    const primary = await onA.waitForEvent('terminal:primary', (p) => p.terminalId === id && p.socketId === onB.id);
    expect(primary.version).toBeLessThanOrEqual(r.version);

    const more = [await device(a, 'a2'), await device(b, 'b2'), await device(b, 'b3')];
    for (const m of more) await m.attach(id);
    const all = [onA, onB, ...more];
    const replies = await Promise.all(
      all.flatMap((cl, d) => Array.from({ length: 20 }, (_, i) => cl.call('terminal:resize', { terminalId: id, cols: 60 + d, rows: 15 + i }, 60_000))),
    );
    expect(replies.every((x) => x.ok)).toBe(true);
    const versions = replies.map((x) => (x.ok ? x.version : -1));
    expect(new Set(versions).size).toBe(replies.length);
    const top = Math.max(...versions);
    const final = replies.find((x) => x.ok && x.version === top)!;
    if (!final.ok) return;
    for (const cl of all) {
      await cl.waitForEvent('terminal:resized', (p) => p.terminalId === id && p.version === top);
    }
    expect(await shellSize(onB, id)).toEqual([final.cols, final.rows]);
    expect(await cachedSession(redis.url, PREFIX, id)).toMatchObject({ version: top, record: { cols: final.cols, rows: final.rows } });
  });

  it('redis-server restarted mid-session: cross-instance input and output work again', async () => {
    const onA = await device(a, 'a');
    const onB = await device(b, 'b');
    const id = await create(onA);
    await onA.attach(id);
    await onB.attach(id);
    await onB.call('terminal:input', { terminalId: id, data: 'echo before-$((1+1))\r' });
    await onB.waitForOutput(id, 'before-2');

    await redis.restart();
    // Recovered means both connections ready and every subscription re-made (ioredis does
    // that after the reconnect; a request sent before may be refused as 'unavailable').
    await Promise.all([redisRecovered(a), redisRecovered(b), pubsubRecovered()]);
    // Then the very first input from B works (no retry), and it is applied exactly once.
    expect(await onB.call('terminal:input', { terminalId: id, data: 'echo after-$((2+2))\r' })).toMatchObject({ ok: true });
    await onB.waitForOutput(id, 'after-4');
    await onB.call('terminal:input', { terminalId: id, data: 'echo done-$((3+3))\r' });
    await onA.waitForOutput(id, 'done-6');
    for (const cl of [onA, onB]) expect(cl.output(id).split('after-4').length - 1).toBe(1);
    const list = await onB.call('terminal:list', {});
    expect(list.ok && list.terminals.find((t) => t.id === id)?.deviceCount).toBe(2);
  });

  it('refuses to start a second instance with a SERVER_ID held by a live one', async () => {
    await expect(startServer({ serverId: 'server-a', dir: a.dir, env: env(redis.url) })).rejects.toThrow(
      /SERVER_ID server-a is in use by a live instance/,
    );
  });

  it('signing out on one instance disconnects that token\'s sockets on every instance', async () => {
    await expectLogoutReaches(a, b, clients);
  });

  it('a resize the owner cannot apply is refused and changes nothing, even when the owner wakes up later', async () => {
    const f = await startServer({ serverId: 'server-f', dir: a.dir, env: env(redis.url) });
    try {
      const onF = await device(f, 'on-f');
      const onB = await device(b, 'on-b');
      const id = await create(onF);
      await onF.attach(id);
      await onB.attach(id);
      const before = await onB.call('terminal:resize', { terminalId: id, cols: 90, rows: 30 });
      if (!before.ok) throw new Error('resize failed');

      f.process.kill('SIGSTOP'); // the owner stops answering
      const failed = await onB.call('terminal:resize', { terminalId: id, cols: 50, rows: 10 });
      f.process.kill('SIGCONT');
      expect(failed.ok).toBe(false);
      expect(!failed.ok && failed.error.code).toBe('unavailable');

      const list = await onB.call('terminal:list', {});
      const t = list.ok ? list.terminals.find((x) => x.id === id) : undefined;
      expect(t).toMatchObject({ cols: 90, rows: 30, version: before.version });
      // The owner, awake again, drops the request its caller gave up on.
      expect(await shellSize(onB, id)).toEqual([90, 30]);
      await f.waitForLog((l) => l.msg === 'expired rpc request dropped');
    } finally {
      await f.stop();
    }
  });

  it('a planned restart of the owner ends nothing: devices elsewhere are never told owner_lost and get output again', async () => {
    const d = await startServer({ serverId: 'server-d', dir: a.dir, env: env(redis.url) });
    const onD = await device(d, 'on-d');
    const onB = await device(b, 'on-b');
    const id = await create(onD);
    await onD.attach(id);
    await onB.attach(id);
    await onB.call('terminal:input', { terminalId: id, data: 'echo before-$((1+1))\r' });
    await onB.waitForOutput(id, 'before-2');

    expect(await d.stop({ keepHost: true })).toBe(0);
    expect(onD.events.find((e) => e.event === 'server:shutdown')?.payload).toMatchObject({ reason: 'restart' });
    expect(onB.events.some((e) => e.event === 'server:shutdown')).toBe(false);
    expect(onB.socket.connected).toBe(true);
    // B's owner-loss sweep (every 500 ms) sees server-d's heartbeat missing for longer
    // than its TTL (2 s), which after a crash ends its terminals; the notice keeps them.
    const kept = () => b.logs.filter((l) => l.msg === 'owner is restarting; its terminals are kept' && l.owner === 'server-d').length;
    await eventually(() => kept() >= 7, 20_000, 'B to skip server-d for longer than a heartbeat TTL', 100);

    const back = await startServer({ serverId: 'server-d', dir: a.dir, env: env(redis.url) });
    try {
      expect(back.logs.find((l) => l.msg === 'pty host found; terminals adopted')).toMatchObject({ adopted: 1 });
      await onB.call('terminal:input', { terminalId: id, data: 'echo after-$((2+1))\r' });
      await onB.waitForOutput(id, 'after-3');
      expect(onB.events.some((e) => e.event === 'terminal:exit')).toBe(false);
      const list = await onB.call('terminal:list', {});
      expect(list.ok && list.terminals.find((t) => t.id === id)?.status).toBe('running');
    } finally {
      await back.stop();
    }
  }, 120_000);

  it('kill -9 of the owner: devices elsewhere get owner_lost, and nothing of its terminals is left in Redis', async () => {
    c = await startServer({ serverId: 'server-c', dir: a.dir, env: env(redis.url) });
    const onC = await device(c, 'on-c');
    const onB = await device(b, 'on-b');
    const id = await create(onC);
    await onC.attach(id);
    await onB.attach(id);
    await onB.call('terminal:input', { terminalId: id, data: 'echo alive\r' });
    await onB.waitForOutput(id, 'alive');

    const killedAt = Date.now();
    await c.kill9();
    const exit = await onB.waitForEvent('terminal:exit', (p) => p.terminalId === id, 20_000);
    expect(exit.reason).toBe('owner_lost');
    expect(Date.now() - killedAt).toBeLessThan(15_000);

    const list = await onB.call('terminal:list', {});
    expect(list.ok && list.terminals.some((t) => t.id === id)).toBe(false);
    // Registry entries of the dead instance are reaped; the cache holds only a tombstone.
    // (The terminal's owner key stays until its TTL ends: another instance could still be attaching.)
    const leftOver = (k: string): boolean => k === sessionCacheKey(PREFIX, id) || k === `${PREFIX}term-owner:${id}`;
    await eventually(async () => (await keysMentioning(redis.url, PREFIX, id)).every(leftOver), 20_000, 'registry cleanup', 100);
    expect(await cachedSession(redis.url, PREFIX, id)).toMatchObject({ kind: 'x' });
    await eventually(async () => (await keysMentioning(redis.url, PREFIX, 'server-c')).length === 0, 20_000, 'server-c keys gone', 100);
  });
});
