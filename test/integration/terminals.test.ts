// Terminals end to end over socket.io against a real server, real ptys and SQLite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let token: string;
const clients: TestClient[] = [];

async function client(deviceName = 'test'): Promise<TestClient> {
  const c = await connect(server.url, { token, deviceName });
  clients.push(c);
  return c;
}

async function createTerminal(c: TestClient, cols = 80, rows = 24): Promise<string> {
  const reply = await c.call('terminal:create', { cols, rows });
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.terminal.id;
}

beforeAll(async () => {
  server = await startServer({ env: { TERMINAL_IDLE_TIMEOUT_MS: '1500', MAX_TERMINALS_PER_USER: '10' } });
  await server.addUser('alice', 'alice-password');
  token = await login(server.url, 'alice', 'alice-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('terminals', () => {
  it('creates a terminal, runs a command and streams its output', async () => {
    const c = await client();
    const created = await c.call('terminal:create', { cols: 100, rows: 30, title: 'build' });
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.terminal).toMatchObject({ title: 'build', cols: 100, rows: 30, serverId: server.serverId, status: 'running' });
    expect(typeof created.terminal.version).toBe('number');
    const id = created.terminal.id;
    expect((await c.attach(id)).ok).toBe(true);
    expect(await c.call('terminal:input', { terminalId: id, data: 'stty size; echo hello-$((6*7))\r' })).toEqual({ ok: true });
    const out = await c.waitForOutput(id, 'hello-42');
    expect(out).toContain('30 100');
  });

  it('shares one terminal between two devices: both see output and device changes', async () => {
    const a = await client('laptop');
    const b = await client('phone');
    const id = await createTerminal(a);
    const attachA = await a.attach(id);
    expect(attachA.ok && attachA.devices.length).toBe(1);
    const attachB = await b.attach(id);
    expect(attachB.ok && attachB.devices.map((d) => d.deviceName).sort()).toEqual(['laptop', 'phone']);
    await a.waitForEvent('terminal:devices', (p) => p.terminalId === id && p.devices.length === 2);

    await b.call('terminal:input', { terminalId: id, data: 'echo from-$((1+1))-b\r' });
    await a.waitForOutput(id, 'from-2-b');
    await b.waitForOutput(id, 'from-2-b');

    const list = await a.call('terminal:list', {});
    expect(list.ok && list.terminals.find((t) => t.id === id)?.deviceCount).toBe(2);
    // Devices learn of terminals created elsewhere; the creator is not told twice.
    const other = await createTerminal(b);
    await a.waitForEvent('terminal:created', (p) => p.terminal.id === other);
    expect(b.events.some((e) => e.event === 'terminal:created' && e.payload.terminal.id === other)).toBe(false);

    await b.call('terminal:detach', { terminalId: id });
    await a.waitForEvent('terminal:devices', (p) => p.terminalId === id && p.devices.length === 1);
    // A detached device gets no more output and cannot type.
    const input = await b.call('terminal:input', { terminalId: id, data: 'x' });
    expect(input.ok).toBe(false);
  });

  it('keeps the pty running across a disconnect and restores it with the replay', async () => {
    const a = await client();
    const id = await createTerminal(a);
    await a.attach(id);
    await a.call('terminal:input', { terminalId: id, data: 'export MARK=before-$((2*2))\r' });
    await a.call('terminal:input', { terminalId: id, data: 'echo $MARK\r' });
    await a.waitForOutput(id, 'before-4\r\n');
    a.close();

    const again = await client();
    const list = await again.call('terminal:list', {});
    expect(list.ok && list.terminals.some((t) => t.id === id)).toBe(true);
    const reply = await again.attach(id);
    expect(reply.ok).toBe(true);
    if (!reply.ok) return;
    expect(Buffer.from(reply.replay.data).toString('utf8')).toContain('before-4');
    await again.call('terminal:input', { terminalId: id, data: 'echo still-$MARK\r' });
    await again.waitForOutput(id, 'still-before-4');
  });

  it('delivers output byte-exact and in order to every device', async () => {
    const a = await client();
    const b = await client();
    const id = await createTerminal(a);
    await a.attach(id);
    await b.attach(id);
    await a.call('terminal:input', { terminalId: id, data: "stty -echo; seq 1 20000 | tr '\\n' ' '; echo; echo END-$((3*3))\r" });
    const outA = await a.waitForOutput(id, 'END-9', 20_000);
    const outB = await b.waitForOutput(id, 'END-9', 20_000);
    const expected = Array.from({ length: 20000 }, (_, i) => i + 1).join(' ');
    expect(outA).toContain(expected);
    expect(outB.slice(outB.indexOf('1 2 3 4 '))).toBe(outA.slice(outA.indexOf('1 2 3 4 ')));
  });

  it('closes a terminal: every device gets terminal:exit and it leaves the list', async () => {
    const a = await client();
    const b = await client();
    const id = await createTerminal(a);
    await a.attach(id);
    await b.attach(id);
    expect(await a.call('terminal:close', { terminalId: id })).toEqual({ ok: true });
    const exit = await b.waitForEvent('terminal:exit', (p) => p.terminalId === id);
    expect(exit.reason).toBe('closed');
    const list = await a.call('terminal:list', {});
    expect(list.ok && list.terminals.some((t) => t.id === id)).toBe(false);
    const attach = await a.call('terminal:attach', { terminalId: id });
    expect(attach.ok).toBe(false);
  });

  it('reports the exit of the shell itself with its code', async () => {
    const a = await client();
    const id = await createTerminal(a);
    await a.attach(id);
    await a.call('terminal:input', { terminalId: id, data: 'exit 3\r' });
    const exit = await a.waitForEvent('terminal:exit', (p) => p.terminalId === id);
    expect(exit).toMatchObject({ reason: 'exited', exitCode: 3 });
  });

  it('ends a terminal that has had no device for the idle timeout', async () => {
    const a = await client();
    const id = await createTerminal(a);
    await a.attach(id);
    await a.call('terminal:detach', { terminalId: id });
    const watcher = await client();
    await server.waitForLog((l) => l.msg === 'terminal ended' && l.terminalId === id && l.reason === 'idle', 15_000);
    const list = await watcher.call('terminal:list', {});
    expect(list.ok && list.terminals.some((t) => t.id === id)).toBe(false);
  });

  it('caps terminals per user, counted across sockets', async () => {
    await server.addUser('carol', 'carol-password');
    const carol = await login(server.url, 'carol', 'carol-password');
    const a = await connect(server.url, { token: carol });
    const b = await connect(server.url, { token: carol });
    clients.push(a, b);
    const results = await Promise.all(
      Array.from({ length: 13 }, (_, i) => (i % 2 ? a : b).call('terminal:create', { cols: 80, rows: 24 })),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(10);
    for (const r of results.filter((r) => !r.ok)) expect(!r.ok && r.error.code).toBe('limit_reached');
    const after = await a.call('terminal:list', {});
    expect(after.ok && after.terminals.length).toBe(10);
  });
});
