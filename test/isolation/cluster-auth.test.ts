// Messages between instances are authenticated: whoever can publish into Redis (without
// CLUSTER_SECRET) cannot type into, or end, a terminal of another instance, and a
// captured genuine message published again is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PREFIX = 'ptyhub-auth:';
let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let onA: TestClient;
let onB: TestClient;
let spy: Redis;
let terminalId: string;
let mark = 0;

const env = (redisUrl: string) => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: PREFIX, HEARTBEAT_TTL_MS: '2000' });

/** Runs a harmless command through A and waits for it: every earlier input has been applied. */
async function settled(): Promise<string> {
  const m = `settled-${++mark}`;
  await onA.call('terminal:input', { terminalId, data: `echo ${m}-$((1+1))\r` });
  return onA.waitForOutput(terminalId, `${m}-2`);
}

beforeAll(async () => {
  redis = await startRedis();
  a = await startServer({ serverId: 'auth-a', env: env(redis.url) });
  b = await startServer({ serverId: 'auth-b', dir: a.dir, env: env(redis.url) });
  await a.addUser('alice', 'alice-password');
  onA = await connect(a.url, { token: await login(a.url, 'alice', 'alice-password'), deviceName: 'a' });
  onB = await connect(b.url, { token: await login(b.url, 'alice', 'alice-password'), deviceName: 'b' });
  const created = await onA.call('terminal:create', { cols: 80, rows: 24 });
  if (!created.ok) throw new Error(created.error.message);
  terminalId = created.terminal.id;
  expect((await onA.attach(terminalId)).ok).toBe(true);
  expect((await onB.attach(terminalId)).ok).toBe(true);
  spy = new Redis(redis.url);
});

afterAll(async () => {
  spy?.disconnect();
  onA?.close();
  onB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

describe('owner RPC between instances', () => {
  it('a web server with Redis and no CLUSTER_SECRET refuses to start, naming it', async () => {
    await expect(startServer({ env: { REDIS_URL: 'redis://127.0.0.1:1', CLUSTER_SECRET: '' } })).rejects.toThrow(/CLUSTER_SECRET: required/);
  });

  it('still works between instances that share the secret', async () => {
    await onB.call('terminal:input', { terminalId, data: 'echo via-b-$((40+2))\r' });
    await onA.waitForOutput(terminalId, 'via-b-42');
  });

  it('a forged request published straight into Redis changes nothing and is logged', async () => {
    const channel = `${PREFIX}rpc:auth-a`;
    const req = (op: object) => ({ kind: 'req', id: `forged-${Math.random()}`, from: 'auth-b', deadline: Date.now() + 10_000, body: { terminalId, ...op } });
    // Unsigned, signed with a wrong key, and an unsigned close.
    await spy.publish(channel, JSON.stringify(req({ op: 'input', data: 'echo forged-$((6*7))\r' })));
    await spy.publish(channel, `${'ab'.repeat(32)}.${JSON.stringify(req({ op: 'input', data: 'echo forged-$((6*7))\r' }))}`);
    await spy.publish(channel, JSON.stringify(req({ op: 'close', reason: 'closed' })));
    await a.waitForLog((l) => l.msg === 'cluster message with a bad or missing signature dropped');
    const out = await settled();
    expect(out).not.toContain('forged-42');
    expect(a.logs.filter((l) => l.msg === 'cluster message with a bad or missing signature dropped').length).toBeGreaterThanOrEqual(3);
    const list = await onA.call('terminal:list', {});
    expect(list.ok && list.terminals.find((t) => t.id === terminalId)?.status).toBe('running');
  });

  it('a genuine request captured and published again is refused as a replay', async () => {
    const sub = new Redis(redis.url);
    const captured: string[] = [];
    try {
      await sub.subscribe(`${PREFIX}rpc:auth-a`);
      sub.on('message', (_c: string, raw: string) => captured.push(raw));
      await onB.call('terminal:input', { terminalId, data: 'echo once-$((3*3))\r' });
      await onA.waitForOutput(terminalId, 'once-9');
      const genuine = captured.find((raw) => raw.includes('once-$((3*3))'));
      expect(genuine).toBeDefined();
      await spy.publish(`${PREFIX}rpc:auth-a`, genuine!);
      // The same message to another instance's channel does not verify there either.
      await spy.publish(`${PREFIX}rpc:auth-b`, genuine!);
      await a.waitForLog((l) => l.msg === 'cluster message refused (replay window)' && l.refused === 'replayed');
      await b.waitForLog((l) => l.msg === 'cluster message with a bad or missing signature dropped');
      const out = await settled();
      expect(out.split('once-9').length - 1).toBe(1);
    } finally {
      sub.disconnect();
    }
  });
});
