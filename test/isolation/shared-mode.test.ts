// TERMINAL_USER_MODE=shared says plainly, once a second account exists, that accounts
// are not isolated from each other at the OS level: in user:add and in the start-up log.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/paths.js';
import { startServer, TSX_LOADER, type TestServer } from '../helpers/server.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-shared-'));
let server: TestServer | null = null;

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const userAdd = (name: string) =>
  spawnSync(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/cli/user-add.ts'), name], {
    env: { PATH: process.env.PATH, HOME: dir, DATABASE_URL: `file:${dir}/ptyhub.db` },
    input: 'a-good-password\n',
    encoding: 'utf8',
    timeout: 30_000,
  });

const WARNING = /TERMINAL_USER_MODE=shared.*NOT isolated from each other at the OS level/;

it('user:add warns when the second account is created, and the server warns at start-up', async () => {
  const first = userAdd('alice');
  expect(first.status).toBe(0);
  expect(first.stdout + first.stderr).not.toMatch(WARNING);
  const second = userAdd('bob');
  expect(second.status).toBe(0);
  expect(second.stderr).toMatch(WARNING);

  server = await startServer({ dir });
  const line = await server.waitForLog((l) => WARNING.test(String(l.msg)));
  expect(line).toMatchObject({ users: 2, mode: 'shared' });
});
