// Start-up, health, configuration errors and graceful shutdown of a real process.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { PROJECT_ROOT } from '../../server/paths.js';
import { connect, login } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { isAlive, startServer, TSX_LOADER } from '../helpers/server.js';

describe('lifecycle', () => {
  it('reports health; SIGTERM tells devices to reconnect and leaves the shells running; host:stop ends them', async () => {
    const server = await startServer();
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', serverId: server.serverId, database: { ok: true } });
    expect(server.logs.find((l) => l.msg === 'listening')).toMatchObject({ state: 'memory', host: '127.0.0.1' });
    expect(server.logs.some((l) => String(l.msg).includes('npm run user:add'))).toBe(true);

    await server.addUser('alice', 'alice-password');
    const c = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password') });
    const created = await c.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error('create failed');
    const id = created.terminal.id;
    await c.attach(id);
    // The shell, and a job it started: host:stop must leave neither behind.
    await c.call('terminal:input', { terminalId: id, data: 'sleep 1000 & echo "PIDS-$$-$!-END"\r' });
    const [, shellPid, jobPid] = /PIDS-(\d+)-(\d+)-END/.exec(await c.waitForOutput(id, /PIDS-\d+-\d+-END/))!.map(Number);

    const exitCode = await server.stop({ keepHost: true });
    expect(exitCode).toBe(0);
    expect(c.events.find((e) => e.event === 'server:shutdown')?.payload).toMatchObject({ reason: 'restart' });
    expect(c.events.some((e) => e.event === 'terminal:exit')).toBe(false);
    c.close();
    const hostPid = server.hostPid();
    expect(hostPid).not.toBeNull();
    expect([isAlive(shellPid!), isAlive(jobPid!)]).toEqual([true, true]);

    const prisma = createPrismaClient(server.databaseUrl);
    try {
      expect(await prisma.terminalSession.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'running' });
      const stop = spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/cli/host-stop.ts')], {
        cwd: server.dir,
        env: { PATH: process.env.PATH, SERVER_ID: server.serverId, DATABASE_URL: server.databaseUrl, PTY_HOST_SOCKET: server.host.socket },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(stop.stderr).toBe('');
      expect(stop.status).toBe(0);
      expect(stop.stdout).toContain('1 terminal(s) ended');
      expect(await prisma.terminalSession.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: 'ended', endReason: 'shutdown' });
    } finally {
      await prisma.$disconnect();
    }
    await eventually(() => !isAlive(hostPid!) && !isAlive(shellPid!) && !isAlive(jobPid!), 10_000, 'host, shell and job to exit');
    await server.stopHost();
  }, 120_000);

  it('refuses to start with bad configuration, naming each bad variable', () => {
    const result = spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/main.ts')], {
      env: { PATH: process.env.PATH, PORT: 'eighty', MAX_TERMINALS_PER_USER: '0', LOG_LEVEL: 'loud' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('PORT');
    expect(result.stderr).toContain('MAX_TERMINALS_PER_USER');
    expect(result.stderr).toContain('LOG_LEVEL');
  });

  it('creates users from the command line with the password on stdin', () => {
    const dir = `${process.env.TMPDIR ?? '/tmp'}/ptyhub-cli-${process.pid}-${Date.now()}`;
    const run = (args: string[], input: string) =>
      spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/cli/user-add.ts'), ...args], {
        env: { PATH: process.env.PATH, DATABASE_URL: `file:${dir}/p.db` },
        input,
        encoding: 'utf8',
        timeout: 30_000,
      });
    try {
      expect(run(['dave'], 'short\n').status).toBe(2);
      const ok = run(['dave'], 'a-good-password\n');
      expect(ok.stdout).toContain('created');
      expect(ok.status).toBe(0);
      expect(run(['dave'], 'a-good-password\n').status).toBe(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
