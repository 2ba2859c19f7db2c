// Per-device flow control end to end: real server, real pty host and ptys, real sockets.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** The server's window and lag bound (server/terminals/flow-control.ts). */
const WINDOW = 256 * 1024;
const MAX_LAG = 1024 * 1024;

let server: TestServer;
let token: string;
const clients: TestClient[] = [];

async function client(opts: { outputAcks?: boolean; deviceName?: string } = {}): Promise<TestClient> {
  const c = await connect(server.url, { token, ...opts });
  clients.push(c);
  return c;
}

/** Terminals still running after each test are closed (a failed test leaves none paused). */
const running: Array<{ c: TestClient; id: string }> = [];

async function newTerminal(c: TestClient): Promise<string> {
  const r = await c.call('terminal:create', { cols: 80, rows: 24 });
  if (!r.ok) throw new Error(r.error.message);
  running.push({ c, id: r.terminal.id });
  expect((await c.attach(r.terminal.id)).ok).toBe(true);
  return r.terminal.id;
}

async function flowPaused(): Promise<number> {
  const res = await fetch(`${server.url}/healthz`);
  return ((await res.json()) as { ptyHost: { flowPaused: number } }).ptyHost.flowPaused;
}

async function shellIdle(c: TestClient, terminalId: string): Promise<boolean> {
  const r = await c.call('terminal:status', { terminalId });
  return r.ok && r.status.shellIdle;
}

beforeAll(async () => {
  server = await startServer({ env: { MAX_TERMINALS_PER_USER: '10' } });
  await server.addUser('flo', 'flo-password-1');
  token = await login(server.url, 'flo', 'flo-password-1');
});

afterEach(async () => {
  for (const { c, id } of running.splice(0)) await c.call('terminal:close', { terminalId: id }).catch(() => undefined);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

describe('flow control', () => {
  it('pauses the pty while its only device does not ack; Ctrl-C still stops the program at once', async () => {
    const slow = await client({ outputAcks: true });
    const id = await newTerminal(slow);
    const start = slow.offset(id)!;
    expect(await slow.call('terminal:input', { terminalId: id, data: 'yes\r' })).toEqual({ ok: true });
    await eventually(async () => (await flowPaused()) === 1, 20_000, 'the pty to be paused');
    // Paused where the device has no credit left: within a read (and one output batch) of the window.
    const received = slow.offset(id)! - start;
    expect(received).toBeGreaterThanOrEqual(WINDOW);
    expect(received).toBeLessThan(WINDOW + 256 * 1024);
    expect(await shellIdle(slow, id)).toBe(false);

    // Input is not held up by paused output: the interrupt reaches `yes` while paused.
    expect(await slow.call('terminal:input', { terminalId: id, data: '\x03' })).toEqual({ ok: true });
    await eventually(() => shellIdle(slow, id), 10_000, 'yes to have stopped');
    expect(await flowPaused()).toBe(1);
    expect(slow.offset(id)! - start).toBeLessThan(WINDOW + 256 * 1024);

    // Acks bring the rest, and the shell is there.
    const stop = slow.ackOutput(id);
    await eventually(async () => (await flowPaused()) === 0, 10_000, 'the pty to be resumed');
    await slow.call('terminal:input', { terminalId: id, data: 'echo after-$((40+2))\r' });
    await slow.waitForOutput(id, 'after-42', 15_000);
    stop();
  });

  it('does not hold back a fast device for a slow one; the slow one leaves the stream and re-syncs once it has caught up', async () => {
    const fast = await client({ outputAcks: true, deviceName: 'fast' });
    const slow = await client({ outputAcks: true, deviceName: 'slow' });
    const id = await newTerminal(fast);
    expect((await slow.attach(id)).ok).toBe(true);
    const stopFast = fast.ackOutput(id);
    const markers: number[] = [];
    slow.socket.on('terminal:output', (e) => {
      if (e.terminalId === id && e.data.length === 0) markers.push(e.offset);
    });
    const slowStart = slow.offset(id)!;
    // About 4.5 MB of output, far more than the slow device may lag.
    await fast.call('terminal:input', { terminalId: id, data: "yes | head -n 1500000; echo 'DONE'-$((3*3))\r" });
    await fast.waitForOutput(id, 'DONE-9', 120_000);
    // The slow device was sent up to the lag bound, not the output.
    const slowGot = slow.offset(id)! - slowStart;
    expect(slowGot).toBeLessThanOrEqual(MAX_LAG);
    expect(slowGot).toBeGreaterThan(MAX_LAG - 256 * 1024);
    expect(fast.offset(id)! - slowStart).toBeGreaterThan(4_000_000);
    expect(markers).toEqual([]);

    // Once it has acknowledged what it was sent, it is back in the stream and told where
    // the output stands (a gap it fills from the replay).
    expect(await slow.call('terminal:ack', { terminalId: id, offset: slow.offset(id)! })).toEqual({ ok: true });
    await slow.until(() => markers.length > 0, () => 'the re-sync marker', 10_000);
    expect(markers[0]).toBe(fast.offset(id));
    slow.forget(id);
    const again = await slow.attach(id);
    expect(again.ok && again.replay.end).toBe(fast.offset(id));
    expect(slow.output(id)).toContain('DONE-9');
    // ...and receives output like the other device again.
    await fast.call('terminal:input', { terminalId: id, data: 'echo both-$((5*5))\r' });
    await slow.waitForOutput(id, 'both-25');
    stopFast();
  });

  it('leaves devices that do not ack (older clients) out of it: the pty keeps running', async () => {
    const old = await client();
    const id = await newTerminal(old);
    await old.call('terminal:input', { terminalId: id, data: "yes | head -n 200000; echo 'OLD'-$((1+1))\r" });
    await old.waitForOutput(id, 'OLD-2', 60_000);
    expect(await flowPaused()).toBe(0);
    expect(await old.call('terminal:ack', { terminalId: id, offset: 1 })).toEqual({ ok: true });
  });

  it('refuses a malformed ack and an ack for a terminal the socket is not attached to', async () => {
    const c = await client({ outputAcks: true });
    const id = await newTerminal(c);
    const bad = await c.call('terminal:ack', { terminalId: id, offset: -1 } as never);
    expect(bad.ok === false && bad.error.code).toBe('bad_request');
    const other = await client({ outputAcks: true });
    const notAttached = await other.call('terminal:ack', { terminalId: id, offset: 0 });
    expect(notAttached.ok === false && notAttached.error.code).toBe('bad_request');
  });
});
