// The audit trail of a real server, read from its log lines: one stable shape marked
// `audit: true`, for sign-in, sign-out, password reset and each step of a terminal's life,
// never with terminal content or secrets.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/paths.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startServer, TSX_LOADER, type TestServer } from '../helpers/server.js';

type Line = Record<string, unknown>;
let server: TestServer;
const clients: TestClient[] = [];

/** Keys an audit line may have: pino's own, the instance, the record (docs/audit.md). */
const ALLOWED_KEYS = new Set([
  'level', 'time', 'pid', 'hostname', 'serverId', 'reqId', 'msg', 'audit', 'event',
  'userId', 'username', 'deviceId', 'deviceName', 'socketId', 'terminalId', 'address', 'reason', 'exitCode', 'signal',
]);

const audits = (lines: Line[] = server.logs) => lines.filter((l) => l.audit === true);
const waitForAudit = (match: (l: Line) => boolean) => server.waitForLog((l) => l.audit === true && match(l));

beforeAll(async () => {
  server = await startServer();
  await server.addUser('alice', 'alice-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

async function device(name: string, token?: string): Promise<{ client: TestClient; token: string }> {
  token ??= await login(server.url, 'alice', 'alice-password');
  const client = await connect(server.url, { token, deviceId: `id-${name}`, deviceName: name });
  clients.push(client);
  return { client, token };
}

describe('audit trail', () => {
  it('records failed and successful sign-ins with the address', async () => {
    const res = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'not-her-password' }),
    });
    expect(res.status).toBe(401);
    const failed = await waitForAudit((l) => l.event === 'sign_in_failed');
    expect(failed).toMatchObject({ msg: 'audit', username: 'alice', address: '127.0.0.1', reason: 'wrong_credentials', serverId: server.serverId });
    expect(failed.userId).toBeUndefined();

    await login(server.url, 'alice', 'alice-password');
    const ok = await waitForAudit((l) => l.event === 'sign_in_succeeded');
    expect(ok).toMatchObject({ username: 'alice', address: '127.0.0.1', serverId: server.serverId });
    expect(ok.userId).toEqual(expect.any(String));
  });

  it('records a terminal created, attached, detached, closed and ended: who, which device, which instance', async () => {
    const { client } = await device('laptop');
    const created = await client.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    const who = { username: 'alice', deviceId: 'id-laptop', deviceName: 'laptop', socketId: client.id, terminalId: id, serverId: server.serverId };
    expect(await waitForAudit((l) => l.event === 'terminal_created' && l.terminalId === id)).toMatchObject(who);

    expect((await client.attach(id)).ok).toBe(true);
    expect(await waitForAudit((l) => l.event === 'terminal_attached' && l.terminalId === id)).toMatchObject(who);
    // Terminal content never reaches the audit trail (nor any other log line).
    await client.call('terminal:input', { terminalId: id, data: 'echo TOP$((1))SECRET\r' });
    await client.waitForOutput(id, 'TOP1SECRET');

    expect((await client.call('terminal:detach', { terminalId: id })).ok).toBe(true);
    expect(await waitForAudit((l) => l.event === 'terminal_detached' && l.terminalId === id)).toMatchObject({ ...who, reason: 'detach' });

    expect((await client.call('terminal:close', { terminalId: id })).ok).toBe(true);
    expect(await waitForAudit((l) => l.event === 'terminal_closed' && l.terminalId === id)).toMatchObject(who);
    const ended = await waitForAudit((l) => l.event === 'terminal_ended' && l.terminalId === id);
    expect(ended).toMatchObject({ terminalId: id, reason: 'closed', serverId: server.serverId });
    expect(ended.userId).toBe((await waitForAudit((l) => l.event === 'terminal_created')).userId);

    expect(JSON.stringify(server.logs)).not.toContain('TOP1SECRET');
    expect(JSON.stringify(server.logs)).not.toContain('TOP$((1))SECRET');
  });

  it('records the detach of a device that went away, and a shell that exited by itself', async () => {
    const { client } = await device('phone');
    const created = await client.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect((await client.attach(id)).ok).toBe(true);
    const socketId = client.id;
    client.close();
    expect(await waitForAudit((l) => l.event === 'terminal_detached' && l.terminalId === id)).toMatchObject({
      socketId,
      deviceName: 'phone',
      reason: 'disconnected: client',
    });

    const { client: again } = await device('phone');
    expect((await again.attach(id)).ok).toBe(true);
    await again.call('terminal:input', { terminalId: id, data: 'exit 3\r' });
    expect(await waitForAudit((l) => l.event === 'terminal_ended' && l.terminalId === id)).toMatchObject({ reason: 'exited', exitCode: 3 });
  });

  it('records a sign-out as a revoked token', async () => {
    const { client, token } = await device('tablet');
    const gone = new Promise((resolve) => client.socket.once('disconnect', resolve));
    await fetch(`${server.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    await gone;
    expect(await waitForAudit((l) => l.event === 'token_revoked')).toMatchObject({ username: 'alice', address: '127.0.0.1', reason: 'logout' });
  });

  it('records a password reset made with user:add --reset', async () => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/cli/user-add.ts'), 'alice', '--reset'], {
      cwd: server.dir,
      env: { PATH: process.env.PATH, HOME: server.dir, DATABASE_URL: server.databaseUrl, LOG_FORMAT: 'json' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end('a-new-password-1\n');
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    const lines = stdout.split('\n').flatMap((t) => {
      try {
        return [JSON.parse(t) as Line];
      } catch {
        return [];
      }
    });
    const reset = audits(lines).find((l) => l.event === 'password_reset');
    expect(reset).toMatchObject({ username: 'alice', reason: 'cli' });
    expect(reset?.userId).toEqual(expect.any(String));
    expect(stdout).not.toContain('a-new-password-1');
  });

  it('keeps one shape: only documented keys, never a token or password', async () => {
    const all = audits();
    expect(new Set(all.map((l) => l.event))).toEqual(
      new Set(['sign_in_failed', 'sign_in_succeeded', 'terminal_created', 'terminal_attached', 'terminal_detached', 'terminal_closed', 'terminal_ended', 'token_revoked']),
    );
    for (const line of all) {
      expect(Object.keys(line).filter((k) => !ALLOWED_KEYS.has(k)), JSON.stringify(line)).toEqual([]);
      expect(line.msg).toBe('audit');
    }
    const text = JSON.stringify(all);
    expect(text).not.toContain('alice-password');
    expect(text).not.toContain('not-her-password');
  });
});
