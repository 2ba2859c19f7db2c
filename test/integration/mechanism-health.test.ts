// A background mechanism that keeps failing is visible: one warn line per run of failures
// (rate-limited), its state in /healthz (status degraded), and its recovery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { connect, login } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { redisRecovered, startServer, type TestServer } from '../helpers/server.js';

let redis: RedisServer;
let server: TestServer;

beforeAll(async () => {
  redis = await startRedis();
  server = await startServer({ env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'ptyhub-mechanisms:', HEARTBEAT_TTL_MS: '2000' } });
});

afterAll(async () => {
  await server?.stop();
  await redis?.stop();
});

async function health(): Promise<{ status: string; mechanisms: Record<string, { failing: boolean; failures: number; consecutive: number; lastError: string | null }> }> {
  return (await (await fetch(`${server.url}/healthz`)).json()) as never;
}

describe('background mechanisms', () => {
  it('a failing owner-loss sweep (database table gone) is logged once per run, shown in /healthz, and recovers', async () => {
    expect((await health()).status).toBe('ok');
    // A real database failure: the sessions table disappears under the running server.
    const prisma = createPrismaClient(server.databaseUrl);
    try {
      await prisma.$executeRawUnsafe('ALTER TABLE "TerminalSession" RENAME TO "TerminalSession_away"');
      await eventually(async () => ((await health()).mechanisms.ownerLossSweep?.consecutive ?? 0) >= 3, 20_000, 'three failed sweeps');
      const h = await health();
      expect(h.status).toBe('degraded');
      expect(h.mechanisms.ownerLossSweep).toMatchObject({ failing: true });
      expect(h.mechanisms.ownerLossSweep!.lastError).toMatch(/TerminalSession/);
      await server.waitForLog((l) => l.msg === 'owner-loss sweep failed', 5000); // logs arrive through a pipe
      const warned = server.logs.filter((l) => l.msg === 'owner-loss sweep failed');
      expect(warned).toHaveLength(1); // rate-limited: not one line per sweep
      expect(warned[0]).toMatchObject({ level: 40, mechanism: 'owner-loss sweep', consecutive: 1 });
    } finally {
      await prisma.$executeRawUnsafe('ALTER TABLE "TerminalSession_away" RENAME TO "TerminalSession"');
      await prisma.$disconnect();
    }
    await server.waitForLog((l) => l.msg === 'owner-loss sweep working again', 10_000);
    const h = await health();
    expect(h.mechanisms.ownerLossSweep).toMatchObject({ failing: false, consecutive: 0 });
    expect(h.status).toBe('ok');
  });

  it('cross-instance broadcasts dropped during a Redis outage are counted, shown in /healthz, and recover', async () => {
    await server.addUser('alice', 'alice-password');
    const c = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password') });
    try {
      const created = await c.call('terminal:create', { cols: 80, rows: 24 });
      if (!created.ok) throw new Error('create failed');
      const id = created.terminal.id;
      expect((await c.attach(id)).ok).toBe(true);
      redis.kill9();
      // The owner still serves its local device. Output no other instance reads is not
      // published at all; a resize is broadcast to every instance, and that copy is dropped.
      await c.call('terminal:input', { terminalId: id, data: 'echo down-$((1+1))\r' });
      await c.waitForOutput(id, 'down-2');
      await c.call('terminal:resize', { terminalId: id, cols: 90, rows: 30 });
      await eventually(async () => (await health()).mechanisms.crossInstanceBroadcast?.failing === true, 10_000, 'publisher failing');
      await server.waitForLog((l) => l.msg === 'cross-instance broadcast failed', 5000); // logs arrive through a pipe
      expect(server.logs.filter((l) => l.msg === 'cross-instance broadcast failed')).toHaveLength(1);

      await redis.restart();
      await redisRecovered(server);
      await c.call('terminal:input', { terminalId: id, data: 'echo up-$((2+2))\r' });
      await c.waitForOutput(id, 'up-4');
      await c.call('terminal:resize', { terminalId: id, cols: 100, rows: 30 });
      await eventually(async () => (await health()).mechanisms.crossInstanceBroadcast?.failing === false, 10_000, 'publisher working again');
      expect((await health()).mechanisms.crossInstanceBroadcast!.failures).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });
});
