// Input waits for the pty to take it: real server, pty host and ptys, real sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** Input in flight per terminal in the web server, and inputs pending per socket (server/pty-host-client/host-ptys.ts, server/socket/socket-events.ts). */
const MAX_IN_FLIGHT_BYTES = 512 * 1024;
const MAX_INPUTS_PER_SOCKET = 8;
const CHUNK = 'a'.repeat(64 * 1024);

let server: TestServer;
let token: string;
const clients: TestClient[] = [];

async function client(): Promise<TestClient> {
  const c = await connect(server.url, { token });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startServer();
  await server.addUser('paster', 'paster-password-1');
  token = await login(server.url, 'paster', 'paster-password-1');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('input backpressure', () => {
  it('answers input once the pty has taken it, and refuses (taking none of it) what does not fit', async () => {
    const a = await client();
    const b = await client();
    const created = await a.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect((await a.attach(id)).ok).toBe(true);
    expect((await b.attach(id)).ok).toBe(true);
    // A program that does not read its input until the file `go` exists, then reads
    // exactly what 8 chunks and one more character make, and shows that character.
    const total = (MAX_IN_FLIGHT_BYTES / CHUNK.length) * CHUNK.length;
    await a.call('terminal:input', {
      terminalId: id,
      data: `cd "$(mktemp -d)"; pwd; stty -icanon -echo; while [ ! -e go ]; do sleep 0.05; done; printf '[%s]\\n' "$(head -c ${total + 1} | tail -c 1)"; stty sane\r`,
    });
    const dir = (await a.waitForOutput(id, /\/tmp\/\S+\r\n/)).match(/(\/tmp\/\S+)\r\n/)![1]!;

    // 16 chunks of 64 KiB from two devices, none waiting for the other's replies.
    const settled: Array<{ who: string; ok: boolean; code?: string; message?: string }> = [];
    const send = (c: TestClient, who: string) =>
      c.call('terminal:input', { terminalId: id, data: CHUNK }, 60_000).then((r) => {
        settled.push(r.ok ? { who, ok: true } : { who, ok: false, code: r.error.code, message: r.error.message });
        return r;
      });
    const replies = [...Array(MAX_INPUTS_PER_SOCKET)].flatMap(() => [send(a, 'a'), send(b, 'b')]);
    // What does not fit is refused at once...
    await eventually(() => settled.length >= 8, 20_000, '8 refusals');
    expect(settled.every((s) => !s.ok && s.code === 'busy')).toBe(true);
    expect(settled[0]!.message).toMatch(/not reading its input/);
    // ...while what was accepted waits for the program to read it.
    expect(settled).toHaveLength(8);

    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/go`, '');
    await Promise.all(replies);
    expect(settled.filter((s) => s.ok)).toHaveLength(8);
    // The 8 accepted chunks, each whole, and nothing of the refused ones: then a `Z`.
    await a.call('terminal:input', { terminalId: id, data: 'Z' });
    await a.waitForOutput(id, '[Z]', 20_000);
    await a.call('terminal:close', { terminalId: id });
  });

  it('keeps a socket\'s other events going while its input waits', async () => {
    const c = await client();
    const created = await c.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect((await c.attach(id)).ok).toBe(true);
    await c.call('terminal:input', { terminalId: id, data: 'stty -icanon -echo; sleep 600\r' });
    await c.waitForOutput(id, 'sleep 600');
    let answered = false;
    const pending = [...Array(4)].map(() => c.call('terminal:input', { terminalId: id, data: CHUNK }, 60_000).finally(() => (answered = true)));
    // Resize, status and close are not queued behind the waiting input.
    expect((await c.call('terminal:resize', { terminalId: id, cols: 100, rows: 30 })).ok).toBe(true);
    expect((await c.call('terminal:status', { terminalId: id })).ok).toBe(true);
    expect(answered).toBe(false);
    expect(await c.call('terminal:close', { terminalId: id })).toEqual({ ok: true });
    // Ending the terminal answers the waiting input: it was not taken.
    const outcomes = await Promise.all(pending);
    expect(outcomes.some((r) => !r.ok && r.error.code === 'terminal_ended')).toBe(true);
  });
});
