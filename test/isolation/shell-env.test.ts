// A shell's environment is built from an allowlist: the server's and the host's own
// variables (database, Redis, anything else they were given) never reach it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { ALLOWED_SHELL_VARIABLES } from '../helpers/terminal.js';

let server: TestServer;
let c: TestClient;

const ALLOWED = ALLOWED_SHELL_VARIABLES;

beforeAll(async () => {
  server = await startServer({
    env: { TZ: 'Europe/Paris', LC_TIME: 'C.UTF-8', SERVER_CANARY: 'canary-value', REDIS_PASSWORD: 'not-for-shells' },
  });
  await server.addUser('alice', 'alice-password');
  c = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password'), deviceName: 'test' });
});

afterAll(async () => {
  c?.close();
  await server?.stop();
});

it('holds only allowlisted variables, with locale and time zone passed on and a default PATH', async () => {
  const created = await c.call('terminal:create', { cols: 200, rows: 24 });
  if (!created.ok) throw new Error(created.error.message);
  const id = created.terminal.id;
  expect((await c.attach(id)).ok).toBe(true);
  await c.call('terminal:input', { terminalId: id, data: `echo "ENV[$(env | cut -d= -f1 | sort | tr '\\n' ' ')]"\r` });
  const out = await c.waitForOutput(id, /ENV\[[A-Z_ ]+\]/);
  const names = out.match(/ENV\[([A-Z_ ]+)\]/)![1]!.trim().split(' ');
  expect(names.filter((n) => !ALLOWED.test(n))).toEqual([]);
  expect(names).toEqual(expect.arrayContaining(['TERM', 'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TZ', 'LC_TIME', 'LANG']));

  await c.call('terminal:input', { terminalId: id, data: 'echo "VALS[$TZ|$PATH|$SHELL|${SERVER_CANARY:-none}|${DATABASE_URL:-none}]"\r' });
  // No `$` in the pattern's body: the echoed command line (which has them) must not match.
  const vals = await c.waitForOutput(id, /VALS\[[^\]$]*\]/);
  expect(vals).toContain('VALS[Europe/Paris|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/bin/bash|none|none]');
});
