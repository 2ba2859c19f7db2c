// Accounts, tokens, origins, and the wall between users, for every event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../server/auth/tokens.js';
import { createPrismaClient } from '../../server/db/client.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const clients: TestClient[] = [];
const track = (c: TestClient) => (clients.push(c), c);

beforeAll(async () => {
  server = await startServer();
  await server.addUser('alice', 'alice-password');
  await server.addUser('mallory', 'mallory-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

describe('sign-in over HTTP', () => {
  it('answers 200 with a token and the user for the right password', async () => {
    const res = await post('/api/login', { username: 'alice', password: 'alice-password' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; user: { username: string } };
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.user.username).toBe('alice');
    const me = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${body.token}` } });
    expect(me.status).toBe(200);
  });

  it('answers 401 for a wrong password or an unknown user, 400 for a bad body', async () => {
    expect((await post('/api/login', { username: 'alice', password: 'nope-nope' })).status).toBe(401);
    expect((await post('/api/login', { username: 'nobody', password: 'whatever1' })).status).toBe(401);
    expect((await post('/api/login', { username: 42 })).status).toBe(400);
  });

  it('never logs passwords or tokens', async () => {
    const token = await login(server.url, 'alice', 'alice-password');
    await post('/api/login', { username: 'alice', password: 'secret-typo-123' });
    const c = track(await connect(server.url, { token }));
    await c.call('terminal:list', {});
    const text = JSON.stringify(server.logs);
    expect(text).not.toContain(token);
    expect(text).not.toContain('alice-password');
    expect(text).not.toContain('secret-typo-123');
  });

  it('revokes a token on logout and disconnects its sockets', async () => {
    const token = await login(server.url, 'alice', 'alice-password');
    const c = track(await connect(server.url, { token }));
    const disconnected = new Promise((resolve) => c.socket.once('disconnect', resolve));
    const res = await post('/api/logout', {}, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(204);
    await disconnected;
    const me = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(401);
    await expect(connect(server.url, { token })).rejects.toThrow('unauthorized');
  });
});

describe('sign-in throttling and token expiry', () => {
  it('refuses further attempts with 429 after repeated failures for one username', async () => {
    for (let i = 0; i < 10; i++) expect((await post('/api/login', { username: 'victim', password: `guess-${i}` })).status).toBe(401);
    const throttled = await post('/api/login', { username: 'victim', password: 'guess-final' });
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another account from the same address is not locked out by it.
    expect((await post('/api/login', { username: 'alice', password: 'alice-password' })).status).toBe(200);
  });

  it('disconnects a socket when its token expires', async () => {
    const token = await login(server.url, 'alice', 'alice-password');
    const prisma = createPrismaClient(server.databaseUrl);
    await prisma.authToken.update({ where: { tokenHash: hashToken(token) }, data: { expiresAt: new Date(Date.now() + 1500) } });
    await prisma.$disconnect();
    const c = track(await connect(server.url, { token }));
    const reason = await new Promise((resolve) => c.socket.once('disconnect', resolve));
    expect(reason).toBe('io server disconnect');
    await expect(connect(server.url, { token })).rejects.toThrow('unauthorized');
  });
});

describe('socket handshake', () => {
  it('refuses connections without a token, with a bad token, or with a bad device id', async () => {
    await expect(connect(server.url, { token: '' })).rejects.toThrow('unauthorized');
    await expect(connect(server.url, { token: 'x'.repeat(43) })).rejects.toThrow('unauthorized');
    const token = await login(server.url, 'alice', 'alice-password');
    await expect(connect(server.url, { token, deviceId: 'bad id with spaces' })).rejects.toThrow('unauthorized');
  });

  it('refuses WebSocket upgrades from a foreign Origin and accepts its own', async () => {
    const token = await login(server.url, 'alice', 'alice-password');
    await expect(connect(server.url, { token, origin: 'http://evil.example' })).rejects.toThrow();
    const own = track(await connect(server.url, { token, origin: server.url }));
    expect(own.socket.connected).toBe(true);
  });
});

describe('one user can never touch another user\'s terminal', () => {
  let aliceId: string;
  let alice: TestClient;
  let mallory: TestClient;

  beforeAll(async () => {
    alice = track(await connect(server.url, { token: await login(server.url, 'alice', 'alice-password') }));
    mallory = track(await connect(server.url, { token: await login(server.url, 'mallory', 'mallory-password') }));
    const created = await alice.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    aliceId = created.terminal.id;
    await alice.attach(aliceId);
  });

  it('does not list it', async () => {
    const list = await mallory.call('terminal:list', {});
    expect(list.ok && list.terminals.map((t) => t.id)).not.toContain(aliceId);
  });

  it('refuses attach, detach, input, resize, claim and close, and leaks no output', async () => {
    const attach = await mallory.call('terminal:attach', { terminalId: aliceId });
    expect(attach).toEqual({ ok: false, error: { code: 'not_found', message: expect.any(String) } });
    for (const [event, payload] of [
      ['terminal:detach', { terminalId: aliceId }],
      ['terminal:input', { terminalId: aliceId, data: 'echo pwned\r' }],
      ['terminal:resize', { terminalId: aliceId, cols: 10, rows: 5 }],
      ['terminal:claim', { terminalId: aliceId }],
      ['terminal:close', { terminalId: aliceId }],
    ] as const) {
      const reply = await mallory.call(event, payload as never);
      expect(reply.ok, event).toBe(false);
    }
    // Alice's terminal is untouched: still running, original size, nothing typed into it.
    await alice.call('terminal:input', { terminalId: aliceId, data: 'stty size; echo alive-$((5*5))\r' });
    const out = await alice.waitForOutput(aliceId, 'alive-25');
    expect(out).toContain('24 80');
    expect(out).not.toContain('pwned');
    expect(mallory.output(aliceId)).toBe('');
    expect(mallory.events.filter((e) => e.payload?.terminalId === aliceId)).toEqual([]);
  });
});
