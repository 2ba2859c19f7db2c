// The primary device: the one whose size the pty follows.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { shellSize } from '../helpers/terminal.js';

let server: TestServer;
const clients: TestClient[] = [];

beforeAll(async () => {
  server = await startServer();
  await server.addUser('alice', 'alice-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

async function device(name: string): Promise<TestClient> {
  const c = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password'), deviceName: name });
  clients.push(c);
  return c;
}

const primaryOf = async (c: TestClient, id: string) => {
  const list = await c.call('terminal:list', {});
  return list.ok ? list.terminals.find((t) => t.id === id)?.primarySocketId : undefined;
};

it('first to attach, last to resize, most recently active after a leave, or whoever claims', async () => {
  const a = await device('a');
  const b = await device('b');
  const c = await device('c');
  const created = await a.call('terminal:create', { cols: 80, rows: 24 });
  if (!created.ok) throw new Error('create failed');
  const id = created.terminal.id;

  // The first device to attach becomes primary.
  const attachA = await a.attach(id);
  expect(attachA.ok && attachA.terminal.primarySocketId).toBe(a.id);
  const attachB = await b.attach(id);
  expect(attachB.ok && attachB.devices.find((d) => d.primary)?.deviceName).toBe('a');
  await c.attach(id);

  // A device that resizes becomes primary; everyone is told, with the version.
  const resized = await b.call('terminal:resize', { terminalId: id, cols: 100, rows: 30 });
  if (!resized.ok) throw new Error('resize failed');
  const ev = await a.waitForEvent('terminal:primary', (p) => p.terminalId === id && p.socketId === b.id);
  expect(ev.deviceId).toBe(b.socket.auth && (b.socket.auth as { deviceId: string }).deviceId);
  expect(await primaryOf(a, id)).toBe(b.id);
  expect(await shellSize(a, id)).toEqual([100, 30]);

  // When the primary leaves, the most recently active remaining device takes over
  // (a typed last, in shellSize above; c has done nothing since it attached).
  b.close();
  await a.waitForEvent('terminal:primary', (p) => p.terminalId === id && p.socketId === a.id && p.version > resized.version);
  expect(await primaryOf(c, id)).toBe(a.id);

  // A device can claim primary explicitly; the size stays until it resizes.
  const claim = await c.call('terminal:claim', { terminalId: id });
  expect(claim.ok && claim.socketId).toBe(c.id);
  const claimed = await a.waitForEvent('terminal:primary', (p) => p.terminalId === id && p.socketId === c.id);
  expect(claim.ok && claimed.version).toBe(claim.ok ? claim.version : -1);
  expect(claimed.version).toBeGreaterThan(resized.version);
  expect(await shellSize(c, id)).toEqual([100, 30]);

  // Detaching the primary hands it on as well; the last one leaving leaves none.
  await c.call('terminal:detach', { terminalId: id });
  await a.waitForEvent('terminal:primary', (p) => p.terminalId === id && p.socketId === a.id && p.version > claimed.version);
  await a.call('terminal:detach', { terminalId: id });
  expect(await primaryOf(c, id)).toBeNull();
});
