// Every kind of bad input gets a clear reply (or is dropped and logged), the server
// keeps running, and no state is left half-changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS } from '../../common/protocol.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let token: string;
let c: TestClient;
let terminalId: string;

beforeAll(async () => {
  server = await startServer({ env: { SOCKET_EVENTS_PER_SECOND: '50' } });
  await server.addUser('alice', 'alice-password');
  token = await login(server.url, 'alice', 'alice-password');
  c = await connect(server.url, { token });
  const created = await c.call('terminal:create', { cols: 80, rows: 24 });
  if (!created.ok) throw new Error('create failed');
  terminalId = created.terminal.id;
  await c.attach(terminalId);
});

afterAll(async () => {
  c?.close();
  await server?.stop();
});

const code = (reply: { ok: boolean; error?: { code: string } }) => (reply.ok ? 'ok' : reply.error!.code);

describe('bad input', () => {
  it('rejects unknown terminals', async () => {
    for (const event of ['terminal:attach', 'terminal:close'] as const) {
      expect(code(await c.call(event, { terminalId: 'no-such-terminal' }))).toBe('not_found');
    }
    expect(code(await c.call('terminal:input', { terminalId: 'no-such-terminal', data: 'x' }))).toBe('bad_request');
  });

  it('rejects wrong types and shapes with a message naming the field', async () => {
    const cases: Array<[string, unknown]> = [
      ['terminal:create', { cols: '80', rows: 24 }],
      ['terminal:create', null],
      ['terminal:create', 'hello'],
      ['terminal:create', { cols: 80, rows: 24, extra: true }],
      ['terminal:attach', { terminalId: 42 }],
      ['terminal:attach', { terminalId: '../etc/passwd' }],
      ['terminal:input', { terminalId, data: 42 }],
      ['terminal:input', { terminalId, data: '' }],
      ['terminal:resize', { terminalId, cols: 80.5, rows: 24 }],
      ['terminal:list', { unexpected: 1 }],
    ];
    for (const [event, payload] of cases) {
      const reply = (await c.call(event as never, payload as never)) as { ok: boolean; error?: { code: string; message: string } };
      expect(reply.ok, `${event} ${JSON.stringify(payload)}`).toBe(false);
      expect(reply.error!.code).toBe('bad_request');
      expect(reply.error!.message.length).toBeGreaterThan(3);
    }
    const shape = (await c.call('terminal:create', { cols: '80', rows: 24 } as never)) as { error: { message: string } };
    expect(shape.error.message).toContain('cols');
  });

  it('rejects out-of-range sizes without changing the terminal', async () => {
    for (const [cols, rows] of [[0, 24], [80, 0], [LIMITS.maxCols + 1, 24], [80, LIMITS.maxRows + 1], [-5, -5]]) {
      expect(code(await c.call('terminal:resize', { terminalId, cols: cols!, rows: rows! }))).toBe('bad_request');
      expect(code(await c.call('terminal:create', { cols: cols!, rows: rows! }))).toBe('bad_request');
    }
    const list = await c.call('terminal:list', {});
    expect(list.ok && list.terminals).toHaveLength(1);
    expect(list.ok && list.terminals[0]).toMatchObject({ cols: 80, rows: 24, version: 2 });
  });

  it('rejects oversized input, and drops a message larger than the socket limit', async () => {
    const big = 'x'.repeat(LIMITS.maxInputLength + 1);
    expect(code(await c.call('terminal:input', { terminalId, data: big }))).toBe('bad_request');
    // Far beyond maxHttpBufferSize: socket.io closes that connection; the server lives on.
    const victim = await connect(server.url, { token });
    const closed = new Promise((r) => victim.socket.once('disconnect', r));
    victim.socket.emit('terminal:input', { terminalId, data: 'y'.repeat(2_000_000) }, () => {});
    await closed;
    expect(code(await c.call('terminal:list', {}))).toBe('ok');
  });

  it('drops events without an acknowledgement callback and logs them', async () => {
    // Untyped on purpose: the protocol's types would not allow a missing callback.
    (c.socket as unknown as { emit(event: string, payload: unknown): void }).emit('terminal:create', { cols: 80, rows: 24 });
    await server.waitForLog((l) => l.msg === 'event without acknowledgement callback dropped');
    const list = await c.call('terminal:list', {});
    expect(list.ok && list.terminals).toHaveLength(1);
  });

  it('rate-limits floods with a clear reply and keeps serving', async () => {
    const flood = await connect(server.url, { token });
    const replies = await Promise.all(Array.from({ length: 400 }, () => flood.call('terminal:list', {})));
    const codes = new Set(replies.map(code));
    expect(codes.has('rate_limited')).toBe(true);
    expect(replies.filter((r) => r.ok).length).toBeGreaterThan(0);
    flood.close();
    expect(code(await c.call('terminal:list', {}))).toBe('ok');
    await c.call('terminal:input', { terminalId, data: 'echo ok-$((7*6))\r' });
    await c.waitForOutput(terminalId, 'ok-42');
  });
});
