// `npm run inspect` against a real server's Redis and database: usernames next to ids,
// --user <name>, --help, and the settings start:cluster leaves in ./data/cluster.env.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/paths.js';
import { writeClusterEnv } from '../../scripts/cluster-env.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, TSX_LOADER, type TestServer } from '../helpers/server.js';

const PREFIX = 'ptyhub-inspect:';
let redis: RedisServer;
let server: TestServer;
let client: TestClient;
let terminalId: string;
let cwd: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs inspect in `cwd` (no .env there) with only the given settings. */
async function inspect(args: string[], env: Record<string, string> = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, DATABASE_URL: server.databaseUrl }): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'scripts/inspect.ts'), ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: cwd, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-inspect-'));
  redis = await startRedis();
  server = await startServer({ env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX } });
  await server.addUser('alice', 'alice-password');
  await server.addUser('bob', 'bob-password');
  client = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password'), deviceName: 'laptop' });
  const created = await client.call('terminal:create', { cols: 80, rows: 24 });
  if (!created.ok) throw new Error(created.error.message);
  terminalId = created.terminal.id;
  expect((await client.attach(terminalId)).ok).toBe(true);
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  await redis?.stop();
  if (cwd) fs.rmSync(cwd, { recursive: true, force: true });
});

describe('npm run inspect', () => {
  it('shows usernames next to user ids, with terminals and devices', async () => {
    const run = await inspect([]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}alice {2}[0-9a-f-]{36}$/m);
    expect(run.stdout).toContain(`terminal ${terminalId}`);
    expect(run.stdout).toContain('laptop');
    expect(run.stdout).toContain(server.serverId);
  });

  it('--user takes a username; --json carries the username', async () => {
    const alice = await inspect(['--user', 'alice', '--json']);
    expect(alice.code, alice.stderr).toBe(0);
    const view = JSON.parse(alice.stdout) as { users: Array<{ username: string; userId: string; terminals: Array<{ terminalId: string }> }> };
    expect(view.users).toHaveLength(1);
    expect(view.users[0]).toMatchObject({ username: 'alice', terminals: [{ terminalId }] });
    // bob has no running terminal.
    const bob = JSON.parse((await inspect(['--user', 'bob', '--json'])).stdout) as typeof view;
    expect(bob.users).toEqual([]);
  });

  it('answers --help, and refuses unknown options with the usage', async () => {
    const help = await inspect(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: npm run inspect -- [--user <username or id>] [--json]');
    const bad = await inspect(['--frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: npm run inspect');
  });

  it("uses start:cluster's settings from ./data/cluster.env when REDIS_URL is not set", async () => {
    const none = await inspect([], {});
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('npm run start:cluster');

    writeClusterEnv({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, DATABASE_URL: server.databaseUrl }, path.join(cwd, 'data', 'cluster.env'));
    try {
      const run = await inspect([], {});
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain('settings of npm run start:cluster');
      expect(run.stdout).toMatch(/^ {2}alice {2}[0-9a-f-]{36}$/m);
    } finally {
      fs.rmSync(path.join(cwd, 'data'), { recursive: true, force: true });
    }
  });
});
