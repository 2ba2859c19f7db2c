// Concurrent resizes from many devices, with Redis locks and the session cache:
// the shell, the database, the cache and every device end up agreeing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { redisRecovered, startServer, type TestServer } from '../helpers/server.js';
import { cachedSession, shellSize } from '../helpers/terminal.js';

const PREFIX = 'ptyhub-resize:';
let redis: RedisServer;
let server: TestServer;
let token: string;
const clients: TestClient[] = [];

async function dbRow(id: string) {
  const prisma = createPrismaClient(server.databaseUrl);
  try {
    return await prisma.terminalSession.findUniqueOrThrow({ where: { id } });
  } finally {
    await prisma.$disconnect();
  }
}

async function attachedClients(n: number, terminalId: string): Promise<TestClient[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => connect(server.url, { token, deviceName: `dev-${i}` })));
  clients.push(...list);
  for (const c of list) expect((await c.attach(terminalId)).ok).toBe(true);
  return list;
}

function lastResized(c: TestClient, terminalId: string) {
  const events = c.events.filter((e) => e.event === 'terminal:resized' && e.payload.terminalId === terminalId);
  return events.reduce((a, b) => (b.payload.version > a.payload.version ? b : a)).payload;
}

beforeAll(async () => {
  redis = await startRedis();
  server = await startServer({
    env: {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: PREFIX,
      REDIS_COMMAND_TIMEOUT_MS: '500',
      LOCK_WAIT_MS: '20000',
      // 10 devices of one user sending 500 resizes at once: above the default per-user rate
      // (and, with Redis, above what one instance holds of a 1000/s budget at once).
      USER_EVENTS_PER_SECOND: '2000',
    },
  });
  await server.addUser('alice', 'alice-password');
  token = await login(server.url, 'alice', 'alice-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
  await redis?.stop();
});

describe('concurrent resize', () => {
  it('10 sockets x 50 resizes at once: shell, database, cache and devices agree', async () => {
    const creator = await connect(server.url, { token });
    clients.push(creator);
    const created = await creator.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    const id = created.terminal.id;
    const devices = await attachedClients(10, id);

    const replies = await Promise.all(
      devices.flatMap((c, d) =>
        Array.from({ length: 50 }, (_, i) => c.call('terminal:resize', { terminalId: id, cols: 40 + d * 10 + (i % 7), rows: 10 + i }, 60_000)),
      ),
    );
    // Every request got a reply, all succeeded, and each has its own version.
    expect(replies).toHaveLength(500);
    const failed = replies.filter((r) => !r.ok);
    expect(failed).toEqual([]);
    const versions = replies.map((r) => (r.ok ? r.version : -1));
    expect(new Set(versions).size).toBe(500);
    const maxVersion = Math.max(...versions);
    const final = replies.find((r) => r.ok && r.version === maxVersion)!;
    if (!final.ok) throw new Error('unreachable');

    // Every device saw versions strictly increasing, ending at the final one.
    for (const c of devices) {
      await c.waitForEvent('terminal:resized', (p) => p.terminalId === id && p.version === maxVersion);
      const seen = c.events.filter((e) => e.event === 'terminal:resized' && e.payload.terminalId === id).map((e) => e.payload.version);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
      expect(lastResized(c, id)).toMatchObject({ cols: final.cols, rows: final.rows, version: maxVersion });
    }

    expect(await shellSize(devices[0]!, id)).toEqual([final.cols, final.rows]);
    const row = await dbRow(id);
    expect({ cols: row.cols, rows: row.rows, version: row.version }).toEqual({ cols: final.cols, rows: final.rows, version: maxVersion });
    const cached = await cachedSession(redis.url, PREFIX, id);
    expect(cached).toMatchObject({ kind: 'r', version: maxVersion, record: { cols: final.cols, rows: final.rows } });
  });

  it('Redis killed during a stream of resizes: every request answered; afterwards all agree', async () => {
    const creator = await connect(server.url, { token });
    clients.push(creator);
    const created = await creator.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    const id = created.terminal.id;
    const devices = await attachedClients(4, id);

    const stream = Promise.all(
      devices.flatMap((c, d) =>
        Array.from({ length: 40 }, (_, i) => c.call('terminal:resize', { terminalId: id, cols: 50 + d, rows: 10 + i }, 60_000)),
      ),
    );
    await devices[0]!.waitForEvent('terminal:resized', (p) => p.terminalId === id && p.version >= 10);
    redis.kill9();
    const replies = await stream;
    expect(replies).toHaveLength(160);
    for (const r of replies) {
      if (!r.ok) expect(['busy', 'unavailable', 'conflict']).toContain(r.error.code);
    }
    expect(replies.filter((r) => r.ok).length).toBeGreaterThan(0);

    await redis.restart();
    await redisRecovered(server);
    // One more resize after recovery; then the shell, database, cache and devices agree.
    const last = await devices[1]!.call('terminal:resize', { terminalId: id, cols: 77, rows: 33 });
    if (!last.ok) throw new Error(`resize after recovery failed: ${JSON.stringify(last)}`);
    expect(await shellSize(devices[1]!, id)).toEqual([77, 33]);
    const row = await dbRow(id);
    expect({ cols: row.cols, rows: row.rows, version: row.version }).toEqual({ cols: 77, rows: 33, version: last.version });
    for (const c of devices) {
      await c.waitForEvent('terminal:resized', (p) => p.terminalId === id && p.version === last.version);
    }
    // The resize after recovery wrote through to the (emptied) cache before it replied:
    // the entry is there, live, at the new version.
    expect(await cachedSession(redis.url, PREFIX, id)).toMatchObject({ kind: 'r', version: last.version, record: { cols: 77, rows: 33 } });
  });
});
