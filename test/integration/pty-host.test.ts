// The pty host: shells outlive the web server (SIGTERM, kill -9), survive nothing when
// the host itself dies (devices told at once, the instance keeps serving), and the host
// refuses clients of another protocol version. Real processes and real ptys throughout.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutputEvent } from '../../common/protocol.js';
import { createPrismaClient } from '../../server/db/client.js';
import { encodeFrame, FrameDecoder, FrameType } from '../../server/pty-protocol/frames.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { PROJECT_ROOT } from '../../server/paths.js';
import { isAlive, startServer, TSX_LOADER, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.stop();
});

async function start(opts: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

async function device(server: TestServer): Promise<TestClient> {
  const c = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password') });
  clients.push(c);
  return c;
}

async function createTerminal(c: TestClient): Promise<string> {
  const reply = await c.call('terminal:create', { cols: 80, rows: 24 });
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.terminal.id;
}

async function sessionRow(server: TestServer, id: string) {
  const prisma = createPrismaClient(server.databaseUrl);
  try {
    return await prisma.terminalSession.findUniqueOrThrow({ where: { id } });
  } finally {
    await prisma.$disconnect();
  }
}

const ticks = (text: string) => [...text.matchAll(/tick-(\d+)\r?\n/g)].map((m) => Number(m[1]));

describe('pty host', () => {
  it.each(['SIGTERM', 'kill -9'] as const)('keeps the shell across a %s of the web server: state, downtime output, exact offsets', async (how) => {
    const first = await start();
    await first.addUser('alice', 'alice-password');
    const c1 = await device(first);
    const id = await createTerminal(c1);
    await c1.attach(id);
    await c1.call('terminal:input', {
      terminalId: id,
      data: 'export X=42; cd /tmp; (i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo "tick-$i"; sleep 0.1; done) &\r',
    });
    await c1.waitForOutput(id, /tick-3\r?\n/);
    const hostPid = first.hostPid();
    expect(hostPid).not.toBeNull();

    if (how === 'SIGTERM') {
      expect(await first.stop({ keepHost: true })).toBe(0);
      expect(c1.events.find((e) => e.event === 'server:shutdown')?.payload).toMatchObject({ reason: 'restart' });
    } else {
      await first.kill9();
    }
    expect(c1.events.some((e) => e.event === 'terminal:exit')).toBe(false);
    const seenBefore = c1.output(id);
    const lastBefore = Math.max(...ticks(seenBefore));
    c1.close();
    expect(isAlive(hostPid!)).toBe(true);
    expect((await sessionRow(first, id)).status).toBe('running');

    const second = await start({ dir: first.dir, serverId: first.serverId });
    servers.splice(servers.indexOf(first), 1);
    expect(second.logs.find((l) => l.msg === 'pty host found; terminals adopted')).toMatchObject({ adopted: 1, started: false });
    expect(second.hostPid()).toBe(hostPid);
    const c2 = await device(second);
    const listed = await c2.call('terminal:list', {});
    if (!listed.ok) throw new Error(listed.error.message);
    expect(listed.terminals.map((t) => [t.id, t.status])).toEqual([[id, 'running']]);

    const live: OutputEvent[] = [];
    c2.socket.on('terminal:output', (e) => live.push(e));
    const attached = await c2.attach(id);
    if (!attached.ok) throw new Error(attached.error.message);
    const { replay } = attached;
    // The whole output, from offset 0: what the first device saw, then the downtime.
    expect(replay.start).toBe(0);
    expect(replay.end).toBe(replay.start + replay.data.length);
    const replayText = Buffer.from(replay.data).toString('utf8');
    expect(replayText.startsWith(seenBefore)).toBe(true);
    expect(Math.max(...ticks(replayText))).toBeGreaterThan(lastBefore);

    await c2.call('terminal:input', { terminalId: id, data: 'echo "V=$X:$PWD"\r' });
    await c2.waitForOutput(id, 'V=42:/tmp');
    await c2.waitForOutput(id, new RegExp(`tick-${Math.max(...ticks(c2.output(id))) + 2}\r?\n`));
    // Live output continues exactly where the replay ended: no gap, no overlap.
    const after = live.filter((e) => e.offset + e.data.length > replay.end);
    expect(after[0]!.offset).toBeLessThanOrEqual(replay.end);
    for (let i = 1; i < after.length; i++) expect(after[i]!.offset).toBe(after[i - 1]!.offset + after[i - 1]!.data.length);
    // Every tick once, in order, across both web server processes.
    const all = ticks(c2.output(id));
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
    expect(c2.events.some((e) => e.event === 'terminal:exit')).toBe(false);
  }, 180_000); // two server start-ups and a stop: slow on a loaded machine

  it('when the host is killed, tells devices within 2 s, keeps serving and starts a fresh host', async () => {
    const server = await start();
    await server.addUser('alice', 'alice-password');
    const c = await device(server);
    const id = await createTerminal(c);
    await c.attach(id);
    const hostPid = server.hostPid()!;
    process.kill(hostPid, 'SIGKILL');

    const exit = await c.waitForEvent('terminal:exit', (p: { terminalId: string }) => p.terminalId === id, 2000);
    expect(exit).toMatchObject({ terminalId: id, reason: 'host_lost' });
    expect(await sessionRow(server, id)).toMatchObject({ status: 'ended', endReason: 'host_lost' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // serving (degraded until a new host runs)

    await eventually(() => server.logs.filter((l) => l.msg === 'pty host started').length >= 2, 15_000, 'a fresh pty host');
    expect(server.hostPid()).not.toBe(hostPid);
    const health = (await (await fetch(`${server.url}/healthz`)).json()) as { status: string; ptyHost: { connected: boolean; pid: number } };
    expect(health).toMatchObject({ status: 'ok', ptyHost: { connected: true, pid: server.hostPid() } });
    const fresh = await createTerminal(c);
    await c.attach(fresh);
    await c.call('terminal:input', { terminalId: fresh, data: 'echo fresh-$((40+2))\r' });
    await c.waitForOutput(fresh, 'fresh-42');
  });

  it('a host with no terminal and no web server exits by itself after PTY_HOST_IDLE_EXIT_MS', async () => {
    const server = await start({ env: { PTY_HOST_IDLE_EXIT_MS: '500' } });
    await server.addUser('alice', 'alice-password');
    const c = await device(server);
    const id = await createTerminal(c);
    const hostPid = server.hostPid()!;
    // Attached, then with a terminal: it stays.
    expect(await server.stop({ keepHost: true })).toBe(0);
    expect(isAlive(hostPid)).toBe(true);
    // Without both, it goes: restart, end the terminal, stop the web server.
    const again = await start({ dir: server.dir, serverId: server.serverId, env: { PTY_HOST_IDLE_EXIT_MS: '500' } });
    servers.splice(servers.indexOf(server), 1);
    const c2 = await device(again);
    expect((await c2.call('terminal:close', { terminalId: id })).ok).toBe(true);
    expect(await again.stop({ keepHost: true })).toBe(0);
    await eventually(() => !isAlive(hostPid), 15_000, 'the idle pty host to exit');
    expect(again.hostPid()).toBeNull();
  }, 120_000);

  it('with PTY_HOST_START=never, waits for a supervised host instead of starting one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-supervised-'));
    const serverId = `sup-${randomUUID().slice(0, 8)}`;
    const socket = path.join(dir, 'data', 'pty-host', `${serverId}.sock`);
    // The supervisor's host, started on its own (as systemd or compose would).
    const host = spawn(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/pty-host/main.ts')], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, SERVER_ID: serverId, PTY_HOST_SOCKET: socket, DATABASE_URL: `file:${path.join(dir, 'p.db')}` },
      stdio: 'ignore',
    });
    const hostExit = new Promise<number | null>((resolve) => host.once('exit', (code) => resolve(code)));
    try {
      const server = await start({ dir, serverId, env: { PTY_HOST_START: 'never' } });
      expect(server.logs.find((l) => l.msg === 'pty host found; terminals adopted')).toMatchObject({ started: false });
      expect(server.hostPid()).toBe(host.pid);
      servers.splice(servers.indexOf(server), 1);
      await server.stop(); // the web server, then the host (SIGTERM)
      expect(await hostExit).toBe(0);
    } finally {
      if (host.exitCode === null) host.kill('SIGKILL');
    }
  }, 120_000);

  it('refuses a client of another protocol version, saying how to stop the old host', async () => {
    const server = await start();
    const socket = net.connect(server.host.socket);
    await new Promise((r) => socket.once('connect', r));
    const hello = { t: 'hello', version: 999, role: 'server', serverId: server.serverId };
    socket.write(encodeFrame(FrameType.Control, '', 1, 0, JSON.stringify(hello)));
    const decoder = new FrameDecoder();
    const answer = await new Promise<{ t: string; message: string }>((resolve) =>
      socket.on('data', (d: Buffer) => decoder.push(d, (f) => resolve(JSON.parse(f.payload.toString('utf8'))))),
    );
    socket.destroy();
    expect(answer.t).toBe('refused');
    expect(answer.message).toContain('npm run host:stop');
  });
});
