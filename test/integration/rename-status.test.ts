// Renaming a terminal (a versioned change every device sees), what runs in it
// (`terminal:status`, read on the owner even from another instance), and default titles.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let token: string;
const clients: TestClient[] = [];

async function client(server: TestServer, t = token): Promise<TestClient> {
  const c = await connect(server.url, { token: t });
  clients.push(c);
  return c;
}

async function create(c: TestClient): Promise<{ id: string; title: string; version: number }> {
  const r = await c.call('terminal:create', { cols: 80, rows: 24 });
  if (!r.ok) throw new Error(r.error.message);
  return { id: r.terminal.id, title: r.terminal.title, version: r.terminal.version };
}

async function dbTitle(id: string) {
  const prisma = createPrismaClient(a.databaseUrl);
  try {
    const row = await prisma.terminalSession.findUniqueOrThrow({ where: { id } });
    return { title: row.title, version: row.version };
  } finally {
    await prisma.$disconnect();
  }
}

beforeAll(async () => {
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'ptyhub-rename:' };
  a = await startServer({ serverId: 'rename-a', env });
  b = await startServer({ serverId: 'rename-b', dir: a.dir, env });
  await a.addUser('alice', 'alice-password');
  await a.addUser('bob', 'bob-password');
  token = await login(a.url, 'alice', 'alice-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await b?.stop();
  await a?.stop();
  await redis?.stop();
});

describe('terminal:rename', () => {
  it('bumps the version, is stored, and reaches every device on every instance', async () => {
    const owner = await client(a);
    const { id, version } = await create(owner);
    const attached = await client(b); // another instance, attached
    expect((await attached.attach(id)).ok).toBe(true);
    const listing = await client(b); // not attached: its tab bar still lists the terminal

    const r = await owner.call('terminal:rename', { terminalId: id, title: '  build\tlogs \u0007 ' });
    expect(r).toEqual({ ok: true, title: 'build logs', version: expect.any(Number) });
    if (!r.ok) return;
    expect(r.version).toBeGreaterThan(version);
    for (const c of [attached, listing]) {
      const e = await c.waitForEvent('terminal:renamed', (p) => p.terminalId === id);
      expect(e).toEqual({ terminalId: id, title: 'build logs', version: r.version });
    }
    expect(await dbTitle(id)).toEqual({ title: 'build logs', version: r.version });
    const list = await listing.call('terminal:list', {});
    expect(list.ok && list.terminals.find((t) => t.id === id)?.title).toBe('build logs');

    // Resizes and renames share one version sequence.
    const resized = await attached.call('terminal:resize', { terminalId: id, cols: 90, rows: 30 });
    expect(resized.ok && resized.version).toBeGreaterThan(r.version);
  });

  it('refuses empty, too long and foreign titles', async () => {
    const owner = await client(a);
    const { id } = await create(owner);
    for (const title of ['', '   ', '\u0001', 'x'.repeat(101)]) {
      const r = await owner.call('terminal:rename', { terminalId: id, title });
      expect(r.ok ? 'ok' : r.error.code).toBe('bad_request');
    }
    const bob = await client(a, await login(a.url, 'bob', 'bob-password'));
    const r = await bob.call('terminal:rename', { terminalId: id, title: 'mine' });
    expect(r.ok ? 'ok' : r.error.code).toBe('not_found');
    expect((await dbTitle(id)).title).toMatch(/^Terminal \d+$/);
  });
});

describe('device:rename', () => {
  it('renames a device without reconnecting it: its terminals list the new name, it stays primary', async () => {
    const tablet = await client(a);
    const { id } = await create(tablet);
    expect((await tablet.attach(id)).ok).toBe(true);
    const other = await client(b);
    expect((await other.attach(id)).ok).toBe(true);
    const claimed = await tablet.call('terminal:claim', { terminalId: id });
    expect(claimed.ok).toBe(true);
    const socketId = tablet.socket.id;

    const r = await tablet.call('device:rename', { deviceName: ' Tablet\u0007 ' });
    expect(r).toEqual({ ok: true, deviceName: 'Tablet' });
    const e = await other.waitForEvent('terminal:devices', (p) => p.terminalId === id && p.devices.some((d: { deviceName: string }) => d.deviceName === 'Tablet'));
    expect(e.devices.find((d: { socketId: string }) => d.socketId === socketId)).toMatchObject({ deviceName: 'Tablet', primary: true });
    expect(tablet.socket.connected && tablet.socket.id).toBe(socketId);

    const tooLong = await tablet.call('device:rename', { deviceName: 'x'.repeat(101) });
    expect(tooLong.ok ? 'ok' : tooLong.error.code).toBe('bad_request');
  });
});

describe('terminal:status', () => {
  it('names the foreground program, also through another instance', async () => {
    const owner = await client(a);
    const { id } = await create(owner);
    const remote = await client(b);
    expect((await owner.attach(id)).ok).toBe(true);

    const statusOf = async () => {
      const r = await remote.call('terminal:status', { terminalId: id });
      return r.ok ? r.status : r.error.code;
    };
    // The foreground process changes without an event: poll it.
    await eventually(async () => JSON.stringify(await statusOf()) === JSON.stringify({ foreground: 'bash', shellIdle: true }), 10_000, 'bash in the foreground');
    await owner.call('terminal:input', { terminalId: id, data: 'sleep 30\r' });
    await eventually(async () => JSON.stringify(await statusOf()) === JSON.stringify({ foreground: 'sleep', shellIdle: false }), 10_000, 'sleep in the foreground');
    const bob = await client(b, await login(a.url, 'bob', 'bob-password'));
    const r = await bob.call('terminal:status', { terminalId: id });
    expect(r.ok ? 'ok' : r.error.code).toBe('not_found');
  });
});

describe('default titles', () => {
  it('reuses the lowest free "Terminal N", never a title still in use', async () => {
    const carol = 'carol';
    await a.addUser(carol, 'carol-password');
    const c = await client(a, await login(a.url, carol, 'carol-password'));
    const t1 = await create(c);
    const t2 = await create(c);
    expect([t1.title, t2.title]).toEqual(['Terminal 1', 'Terminal 2']);
    expect((await c.call('terminal:close', { terminalId: t1.id })).ok).toBe(true);
    const t3 = await create(c);
    expect(t3.title).toBe('Terminal 1');
    const t4 = await create(c);
    expect(t4.title).toBe('Terminal 3');
  });
});
