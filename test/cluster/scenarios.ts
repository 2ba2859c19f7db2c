// Steps the cluster suites share, whether the instances meet on one Redis or on a Redis
// Cluster: the same promise must hold on both.
import { expect } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';

interface Reachable {
  url: string;
}

/** Signs `user` in (password `<user>-password`) and connects a named device, kept in `clients` for cleanup. */
export async function signedInDevice(server: Reachable, name: string, clients: TestClient[], user = 'alice'): Promise<TestClient> {
  const token = await login(server.url, user, `${user}-password`);
  const client = await connect(server.url, { token, deviceName: name });
  clients.push(client);
  return client;
}

/** An 80x24 terminal; throws with the server's reason when refused. */
export async function createTerminal(client: TestClient): Promise<string> {
  const reply = await client.call('terminal:create', { cols: 80, rows: 24 });
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.terminal.id;
}

/** Signing out through instance `a` disconnects the token's socket on instance `b`. */
export async function expectLogoutReaches(a: Reachable, b: Reachable, clients: TestClient[]): Promise<void> {
  const token = await login(a.url, 'alice', 'alice-password');
  const onB = await connect(b.url, { token });
  clients.push(onB);
  const gone = new Promise((resolve) => onB.socket.once('disconnect', resolve));
  const res = await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(204);
  expect(await gone).toBe('io server disconnect');
}
