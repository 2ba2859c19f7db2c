// Hostile and faulty conditions on one instance: floods without acknowledgements, raced
// sign-in guesses, a password reset from the command line, a SQLite file whose write
// lock another process holds, and a database file that turns read-only.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { sqlitePath } from '../../server/db/sqlite.js';
import { PROJECT_ROOT } from '../../server/paths.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startServer, TSX_LOADER, type TestServer } from '../helpers/server.js';

let server: TestServer;
const clients: TestClient[] = [];
const track = (c: TestClient) => (clients.push(c), c);

/** How long one database call may take, busy retries included (kept short for the test). */
const DB_TIMEOUT_MS = 1500;

beforeAll(async () => {
  // TRUST_PROXY lets each test sign in from its own address (X-Forwarded-For).
  server = await startServer({ env: { TRUST_PROXY: 'true', DB_TIMEOUT_MS: String(DB_TIMEOUT_MS), TOKEN_RECHECK_MS: '1000', MAX_SOCKETS_PER_USER: '50' } });
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank']) await server.addUser(u, `${u}-password`);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

function signIn(username: string, password: string, address: string) {
  return fetch(`${server.url}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ username, password }),
  });
}

async function echoRoundTrip(c: TestClient, terminalId: string, mark: string): Promise<number> {
  const t0 = performance.now();
  const sent = await c.call('terminal:input', { terminalId, data: `echo ${mark}-$((6*7))\r` });
  if (!sent.ok) throw new Error(`input ${mark} refused: ${sent.error.code} ${sent.error.message}`);
  await c.waitForOutput(terminalId, `${mark}-42`);
  return performance.now() - t0;
}

describe('events without an acknowledgement callback', () => {
  it('count against the rate limit, a flood of them is cut off, and their log lines are bounded', async () => {
    const token = await login(server.url, 'carol', 'carol-password');
    const c = track(await connect(server.url, { token }));
    const socketId = c.id;
    const reason = new Promise((resolve) => c.socket.once('disconnect', resolve));
    const raw = c.socket as unknown as { emit(event: string, payload: unknown): void };
    for (let i = 0; i < 3000; i++) raw.emit('terminal:list', {});
    expect(await reason).toBe('io server disconnect');
    await server.waitForLog((l) => l.msg === 'socket disconnected' && l.socketId === socketId);
    expect(server.logs.some((l) => l.msg === 'socket kept sending after being rate-limited; disconnecting' && l.socketId === socketId)).toBe(true);
    const dropped = server.logs.filter((l) => l.msg === 'event without acknowledgement callback dropped' && l.socketId === socketId);
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.length).toBeLessThanOrEqual(20);
    // A flooder that reconnects at once is refused for a while (the cooldown is 10 s).
    await expect(connect(server.url, { token })).rejects.toThrow('rate_limited');
  });
});

describe('per-user limits', () => {
  it('one user flooding from 50 sockets neither slows another user nor opens a 51st socket', async () => {
    const alice = track(await connect(server.url, { token: await login(server.url, 'alice', 'alice-password') }));
    const created = await alice.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    const terminalId = created.terminal.id;
    await alice.attach(terminalId);

    // The flood comes from another process, so this one measures the server, not itself.
    const token = await login(server.url, 'bob', 'bob-password');
    const flood = await startFlood(token, 50, '10.5.0.1');
    try {
      await expect(connect(server.url, { token, headers: { 'x-forwarded-for': '10.5.0.2' } })).rejects.toThrow('rate_limited');
      flood.go();
      const times: number[] = [];
      for (let i = 0; i < 30; i++) times.push(await echoRoundTrip(alice, terminalId, `flood${i}`));
      times.sort((x, y) => x - y);
      // A correctness bound with room for a loaded machine; `npm run bench` holds the 50 ms target.
      expect(times[Math.floor(times.length / 2)], `echo round trips (ms): ${times.map(Math.round).join(' ')}`).toBeLessThan(250);
    } finally {
      await flood.stop();
    }
  });
});

/** A child process with `n` sockets of one token that flood `terminal:list` once told to. */
async function startFlood(token: string, n: number, address: string): Promise<{ go(): void; stop(): Promise<void> }> {
  const script = `
    const { io } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'node_modules/socket.io-client'))});
    const sockets = [];
    let connected = 0;
    for (let i = 0; i < ${n}; i++) {
      const s = io(${JSON.stringify(server.url)}, { transports: ['websocket'], reconnection: false, forceNew: true,
        auth: { token: ${JSON.stringify(token)}, deviceId: 'flood-' + i, deviceName: 'flood' },
        extraHeaders: { 'x-forwarded-for': ${JSON.stringify(address)} } });
      s.on('connect', () => { if (++connected === ${n}) console.log('connected'); });
      s.on('connect_error', (e) => console.log('error ' + e.message));
      sockets.push(s);
    }
    const pump = (s) => { if (s.connected) s.emit('terminal:list', {}, () => pump(s)); };
    process.stdin.on('data', () => { for (const s of sockets) for (let k = 0; k < 50; k++) pump(s); });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const first = await new Promise<string>((resolve) => readline.createInterface({ input: child.stdout! }).once('line', resolve));
  if (first !== 'connected') {
    child.kill('SIGKILL');
    throw new Error(`flood: ${first}`);
  }
  return {
    go: () => child.stdin!.write('go\n'),
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('sign-in throttling', () => {
  it('checks at most a dozen of 300 concurrent guesses for one user, and says how long to wait', async () => {
    const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => signIn('dave', `wrong-guess-${i}`, '10.1.0.1')));
    const checked = replies.filter((r) => r.status === 401).length;
    const throttled = replies.filter((r) => r.status === 429);
    expect(checked).toBeGreaterThan(0);
    expect(checked).toBeLessThanOrEqual(12);
    expect(throttled.length + checked).toBe(300);
    const body = (await throttled[0]!.json()) as { error: { code: string; retryAfterSeconds: number } };
    const header = Number(throttled[0]!.headers.get('retry-after'));
    expect(body.error.code).toBe('rate_limited');
    expect(header).toBeGreaterThan(0);
    expect(body.error.retryAfterSeconds).toBe(header);
    // The right password from elsewhere still works: the lock is per address.
    expect((await signIn('dave', 'dave-password', '10.1.0.2')).status).toBe(200);
  });

  it('limits one address across usernames', async () => {
    const replies = await Promise.all(Array.from({ length: 120 }, (_, i) => signIn(`nobody${i}`, 'wrong-guess', '10.2.0.1')));
    const checked = replies.filter((r) => r.status === 401).length;
    expect(checked).toBeLessThanOrEqual(52);
    expect(replies.filter((r) => r.status === 429).length).toBe(120 - checked);
  });
});

describe('password reset', () => {
  it('disconnects every socket of the user within 5 s', async () => {
    const token = await login(server.url, 'erin', 'erin-password');
    const a = track(await connect(server.url, { token }));
    const b = track(await connect(server.url, { token: await login(server.url, 'erin', 'erin-password') }));
    const gone = [a, b].map((c) => new Promise<number>((resolve) => c.socket.once('disconnect', () => resolve(Date.now()))));
    const cli = spawn(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/cli/user-add.ts'), 'erin', '--reset'], {
      cwd: server.dir,
      env: { PATH: process.env.PATH, HOME: server.dir, DATABASE_URL: server.databaseUrl },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    cli.stdin.end('erin-new-password\n');
    const code = await new Promise((resolve) => cli.once('exit', resolve));
    expect(code).toBe(0);
    const resetAt = Date.now();
    const times = await Promise.race([
      Promise.all(gone),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('sockets still connected 5 s after the reset')), 5000)),
    ]);
    for (const t of times) expect(t - resetAt).toBeLessThan(5000);
    await expect(connect(server.url, { token })).rejects.toThrow('unauthorized');
  });
});

/** Another process that holds the SQLite write lock (BEGIN IMMEDIATE) until released. */
async function holdWriteLock(databaseUrl: string): Promise<{ release(): Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(path.join(PROJECT_ROOT, 'node_modules/better-sqlite3'))});
    const db = new Database(${JSON.stringify(sqlitePath(databaseUrl))});
    db.prepare('BEGIN IMMEDIATE').run();
    console.log('locked');
    process.stdin.once('data', () => { db.prepare('COMMIT').run(); db.close(); process.exit(0); });
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
  });
  return {
    release: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.end('release\n');
      await exited;
    },
  };
}

describe('while another process holds the SQLite write lock', () => {
  let frank: TestClient;
  let terminalId: string;

  beforeAll(async () => {
    frank = track(await connect(server.url, { token: await login(server.url, 'frank', 'frank-password') }));
    const created = await frank.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    terminalId = created.terminal.id;
    await frank.attach(terminalId);
    await echoRoundTrip(frank, terminalId, 'warm');
    // Warm-up: the first error thrown through Prisma's frames makes the TypeScript loader
    // the tests run under read Prisma's large source map (a one-time stall of a few
    // hundred ms that `node dist/...` in production does not have).
    const lock = await holdWriteLock(server.databaseUrl);
    try {
      await frank.call('terminal:create', { cols: 80, rows: 24 });
    } finally {
      await lock.release();
    }
  });

  it('keeps other users typing, answers /healthz fast, and answers writes `unavailable` in time', async () => {
    const gina = track(await connect(server.url, { token: await login(server.url, 'gina', 'gina-password') }));
    const lock = await holdWriteLock(server.databaseUrl);
    try {
      const t0 = Date.now();
      const creating = gina.call('terminal:create', { cols: 80, rows: 24 }).then((r) => ({ reply: r, ms: Date.now() - t0 }));
      const signingIn = signIn('alice', 'alice-password', '10.3.0.1');
      const times: number[] = [];
      // Round trips while the writes above wait for the lock (and then fail).
      // Paced at most one per 10 ms: on a quiet machine back-to-back round trips would run
      // into the per-user event budget (200/s) and be refused, which is not what this checks.
      while (times.length < 100 || Date.now() - t0 < DB_TIMEOUT_MS + 200) {
        const started = performance.now();
        times.push(await echoRoundTrip(frank, terminalId, `busy${times.length}`));
        const rest = started + 10 - performance.now();
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
      times.sort((x, y) => x - y);
      const p99 = times[Math.ceil(times.length * 0.99) - 1]!;
      // A correctness bound (a frozen event loop shows as seconds); the < 200 ms target
      // is measured by `npm run bench` (db-locked).
      expect(p99, `echo round trips (ms): ${times.map(Math.round).join(' ')}`).toBeLessThan(1000);

      const h0 = Date.now();
      const health = await fetch(`${server.url}/healthz`);
      // The probe gives up after 800 ms; the bound leaves room for a loaded machine and
      // still tells a probe that waits for the lock (held until released below) apart.
      expect(Date.now() - h0).toBeLessThan(3000);
      const report = (await health.json()) as { status: string; database: { ok: boolean; writable: boolean; problem?: string } };
      expect(report.database.ok).toBe(true);
      expect(report.database.writable).toBe(false);
      expect(report).toMatchObject({ status: 'degraded', database: { problem: 'locked' } });

      const { reply, ms } = await creating;
      expect(reply).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      expect(ms).toBeLessThan(DB_TIMEOUT_MS + 2000);
      const res = await signingIn;
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ error: { code: 'unavailable' } });
      expect(text).not.toMatch(/prisma|sqlite|locked|invocation/i);
    } finally {
      await lock.release();
    }
    // Once the lock is gone, writes work again.
    expect(await gina.call('terminal:create', { cols: 80, rows: 24 })).toMatchObject({ ok: true });
  });

  it('tells devices at once when a terminal ends, and records the end once it can', async () => {
    const lock = await holdWriteLock(server.databaseUrl);
    try {
      const t0 = Date.now();
      await frank.call('terminal:input', { terminalId, data: 'exit\r' });
      await frank.waitForEvent('terminal:exit', (p) => p.terminalId === terminalId, 10_000);
      expect(Date.now() - t0).toBeLessThan(DB_TIMEOUT_MS + 1000);
    } finally {
      await lock.release();
    }
    const prisma = createPrismaClient(server.databaseUrl);
    try {
      await eventually(
        async () => (await prisma.terminalSession.findUnique({ where: { id: terminalId } }))?.status === 'ended',
        15_000,
        'the end recorded after the lock was released',
        100,
      );
    } finally {
      await prisma.$disconnect();
    }
    const list = await frank.call('terminal:list', {});
    expect(list.ok && list.terminals.map((t) => t.id)).not.toContain(terminalId);
  });
});

describe('a database file that turns read-only under the running server', () => {
  it('answers writes `unavailable`, says unhealthy, keeps its terminals running, and recovers', async () => {
    const hank = track(await connect(server.url, { token: await login(server.url, 'hank', 'hank-password') }));
    const created = await hank.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    const terminalId = created.terminal.id;
    await hank.attach(terminalId);
    // Root ignores file modes, and a mode checked at open would not reach the server's
    // open file anyway: the immutable attribute refuses every write, root's included.
    // (The shared-memory index stays writable: SQLite maps it, and an immutable mapping
    // faults with SIGBUS in any process; a read-only database file is the case here.)
    const file = sqlitePath(server.databaseUrl);
    const files = [file, `${file}-wal`];
    execFileSync('chattr', ['+i', ...files]);
    try {
      const health = await fetch(`${server.url}/healthz`);
      const report = (await health.json()) as { status: string; database: { ok: boolean; writable: boolean } };
      expect(health.status).toBe(503);
      expect(report).toMatchObject({ status: 'unhealthy', database: { writable: false } });
      expect(await hank.call('terminal:create', { cols: 80, rows: 24 })).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      const res = await signIn('hank', 'hank-password', '10.4.0.1');
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: { code: 'unavailable' } });
      // The terminal keeps running, and the process is still there.
      await echoRoundTrip(hank, terminalId, 'readonly');
      expect(server.process.exitCode).toBeNull();
    } finally {
      execFileSync('chattr', ['-i', ...files]);
    }
    await eventually(async () => (await fetch(`${server.url}/healthz`)).status === 200, 10_000, '/healthz to recover');
    expect(await hank.call('terminal:create', { cols: 80, rows: 24 })).toMatchObject({ ok: true });
  });
});
