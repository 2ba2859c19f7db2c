// Start-up, health, configuration errors and graceful shutdown of a real process.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { PROJECT_ROOT } from '../../server/paths.js';
import { connect, login } from '../helpers/client.js';
import { startServer, TSX_LOADER } from '../helpers/server.js';

describe('lifecycle', () => {
  it('reports health, and on SIGTERM tells devices, ends ptys and exits 0', async () => {
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
    await c.attach(created.terminal.id);

    const exitCode = await server.stop();
    expect(exitCode).toBe(0);
    expect(c.events.find((e) => e.event === 'server:shutdown')).toBeTruthy();
    expect(c.events.find((e) => e.event === 'terminal:exit')?.payload).toMatchObject({ reason: 'shutdown' });
    c.close();

    const prisma = createPrismaClient(server.databaseUrl);
    const row = await prisma.terminalSession.findUniqueOrThrow({ where: { id: created.terminal.id } });
    await prisma.$disconnect();
    expect(row).toMatchObject({ status: 'ended', endReason: 'shutdown' });
  });

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
    expect(run(['dave'], 'short\n').status).toBe(2);
    const ok = run(['dave'], 'a-good-password\n');
    expect(ok.stdout).toContain('created');
    expect(ok.status).toBe(0);
    expect(run(['dave'], 'a-good-password\n').status).toBe(1);
  });
});
