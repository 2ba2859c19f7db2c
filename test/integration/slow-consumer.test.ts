// A device that stops reading is disconnected once too much output waits for it; the
// other devices of the terminal keep receiving everything.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { scrape } from '../helpers/prometheus.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const clients: TestClient[] = [];

beforeAll(async () => {
  server = await startServer({ env: { SOCKET_MAX_BUFFERED_BYTES: String(1024 * 1024), METRICS_PORT: '0' } });
  await server.addUser('alice', 'alice-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

it('disconnects a device that stops reading, without holding back the others', async () => {
  const token = await login(server.url, 'alice', 'alice-password');
  const healthy = await connect(server.url, { token, deviceName: 'healthy' });
  const stalled = await connect(server.url, { token, deviceName: 'stalled' });
  clients.push(healthy, stalled);
  const created = await healthy.call('terminal:create', { cols: 120, rows: 40 });
  if (!created.ok) throw new Error('create failed');
  const id = created.terminal.id;
  await healthy.attach(id);
  await stalled.attach(id);

  // Stop reading on the stalled device's TCP connection, like a frozen phone.
  const tcp = (stalled.socket.io.engine.transport as unknown as { ws: { _socket: { pause(): void; resume(): void } } }).ws._socket;
  tcp.pause();
  const gone = new Promise<string>((resolve) => stalled.socket.once('disconnect', (reason) => resolve(reason)));

  await healthy.call('terminal:input', { terminalId: id, data: 'stty -echo; head -c 12000000 /dev/zero | base64 -w 200; echo FLOOD-$((2*2))\r' });
  await healthy.waitForOutput(id, 'FLOOD-4', 60_000);
  await server.waitForLog((l) => String(l.msg).startsWith('device cannot keep up'), 30_000);
  tcp.resume();
  expect(await gone).toBe('io server disconnect');
  expect(healthy.socket.connected).toBe(true);
  // Counted under its own reason, and audited as the device's detach.
  const metrics = String((await server.waitForLog((l) => l.msg === 'metrics listening')).url);
  await eventually(
    async () => (await scrape(metrics)).value('ptyhub_socket_disconnects_total', { reason: 'slow_consumer' }) === 1,
    10_000,
    'one slow_consumer disconnect counted',
    100,
  );
  expect(await server.waitForLog((l) => l.audit === true && l.event === 'terminal_detached')).toMatchObject({
    terminalId: id,
    deviceName: 'stalled',
    reason: 'disconnected: slow_consumer',
  });
  // 16 MB of output (well past the kernel's loopback buffers) takes a while on a loaded machine.
}, 120_000);
