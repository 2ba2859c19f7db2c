// Flow control and input backpressure across two instances: the device is on B, the pty
// on A. B reports its devices' state to A (on change); input from B is answered by A only
// once the pty has taken it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
const clients: TestClient[] = [];

const env = (redisUrl: string) => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: 'ptyhub-flow-cluster:', HEARTBEAT_TTL_MS: '2000' });

async function device(server: TestServer, outputAcks: boolean): Promise<TestClient> {
  const token = await login(server.url, 'bob', 'bob-password-1');
  const c = await connect(server.url, { token, outputAcks });
  clients.push(c);
  return c;
}

async function flowPaused(server: TestServer): Promise<number> {
  const res = await fetch(`${server.url}/healthz`);
  return ((await res.json()) as { ptyHost: { flowPaused: number } }).ptyHost.flowPaused;
}

beforeAll(async () => {
  redis = await startRedis();
  a = await startServer({ serverId: 'flow-a', env: env(redis.url) });
  b = await startServer({ serverId: 'flow-b', dir: a.dir, env: env(redis.url) });
  await a.addUser('bob', 'bob-password-1');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

describe('flow control across instances', () => {
  it('pauses the pty on A while its only device, on B, does not ack; resumes when it does', async () => {
    const onA = await device(a, false);
    const onB = await device(b, true);
    const created = await onA.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect((await onB.attach(id)).ok).toBe(true);
    const start = onB.offset(id)!;
    await onB.call('terminal:input', { terminalId: id, data: 'yes\r' });
    await eventually(async () => (await flowPaused(a)) === 1, 20_000, 'the pty on A to be paused');
    // What B received is bounded by what was on its way when B ran out of credit.
    const got = onB.offset(id)! - start;
    expect(got).toBeLessThan(16 * 1024 * 1024);

    // Ctrl-C from B reaches the paused program (owner RPC answered once taken).
    expect(await onB.call('terminal:input', { terminalId: id, data: '\x03' })).toEqual({ ok: true });
    await eventually(async () => {
      const r = await onB.call('terminal:status', { terminalId: id });
      return r.ok && r.status.shellIdle;
    }, 10_000, 'yes to have stopped');

    const stop = onB.ackOutput(id);
    await eventually(async () => (await flowPaused(a)) === 0, 10_000, 'the pty on A to be resumed');
    await onB.call('terminal:input', { terminalId: id, data: 'echo remote-$((6*7))\r' });
    await onB.waitForOutput(id, 'remote-42', 20_000);
    stop();
    await onB.call('terminal:close', { terminalId: id });
  });

  it('answers input from B only once the pty on A has taken it', async () => {
    const onB = await device(b, false);
    const created = await onB.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect(created.terminal.serverId).toBe('flow-b');
    const onA = await device(a, false);
    expect((await onA.attach(id)).ok).toBe(true);
    await onA.call('terminal:input', { terminalId: id, data: 'stty -icanon -echo; sleep 600\r' });
    await onA.waitForOutput(id, 'sleep 600');
    let answered = false;
    const chunk = onA.call('terminal:input', { terminalId: id, data: 'a'.repeat(64 * 1024) }, 60_000).finally(() => (answered = true));
    // Other requests of the socket go on meanwhile, across instances too.
    expect((await onA.call('terminal:status', { terminalId: id })).ok).toBe(true);
    expect(answered).toBe(false);
    expect(await onA.call('terminal:close', { terminalId: id })).toEqual({ ok: true });
    const r = await chunk;
    expect(r.ok === false && r.error.code).toBe('terminal_ended');
  });
});
