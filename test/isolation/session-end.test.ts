// Ending a terminal ends every process of its session, however the shell ended:
// `nohup` (ignores SIGHUP: SIGKILL after the grace time), `( ... & )` (not a job of the
// shell), and plain background jobs.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { isAlive as alive, startServer, type TestServer } from '../helpers/server.js';
import { startLeftovers } from '../helpers/terminal.js';

let server: TestServer;
let c: TestClient;
const started: number[] = [];

beforeAll(async () => {
  server = await startServer();
  await server.addUser('alice', 'alice-password');
  c = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password'), deviceName: 'test' });
});

afterAll(async () => {
  // Whatever a failed test left behind.
  for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
  c?.close();
  await server?.stop();
});

/** Starts a terminal with leftovers of every kind; returns its id and their pids. */
async function terminalWithLeftovers(): Promise<{ id: string; pids: number[] }> {
  const created = await c.call('terminal:create', { cols: 200, rows: 24 });
  if (!created.ok) throw new Error(created.error.message);
  const id = created.terminal.id;
  expect((await c.attach(id)).ok).toBe(true);
  const pids = await startLeftovers(c, id);
  started.push(...pids);
  for (const pid of pids) expect(alive(pid), `pid ${pid} runs`).toBe(true);
  return { id, pids };
}

it('closing a terminal ends nohup, ( ... & ) and background children too', async () => {
  const { id, pids } = await terminalWithLeftovers();
  expect(await c.call('terminal:close', { terminalId: id })).toEqual({ ok: true });
  await c.waitForEvent('terminal:exit', (p) => p.terminalId === id);
  // The nohup'd one ignores SIGHUP: SIGKILL after the host's grace time (2 s).
  await eventually(() => pids.every((pid) => !alive(pid)), 15_000, `no process of the session left (${pids.join(' ')})`);
});

it('a shell that exits by itself leaves nothing of its session behind', async () => {
  const { id, pids } = await terminalWithLeftovers();
  await c.call('terminal:input', { terminalId: id, data: 'exit\r' });
  await c.waitForEvent('terminal:exit', (p) => p.terminalId === id);
  await eventually(() => pids.every((pid) => !alive(pid)), 15_000, `no process of the session left (${pids.join(' ')})`);
});
