// Steps the cluster suites share, whether the instances meet on one Redis or on a Redis
// Cluster: the same promise must hold on both.
import { expect } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';

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

/**
 * Rounds of eight creates racing over both instances: never more than `cap` of `user`'s
 * terminals run, every create beyond it is refused `limit_reached`.
 */
export async function expectTerminalCapHolds(a: Reachable, b: Reachable, clients: TestClient[], user: string, cap: number, rounds = 8): Promise<void> {
  const onA = await signedInDevice(a, 'cap-a', clients, user);
  const onB = await signedInDevice(b, 'cap-b', clients, user);
  const running = async () => {
    const list = await onA.call('terminal:list', {});
    if (!list.ok) throw new Error(list.error.message);
    return list.terminals.map((t) => t.id);
  };
  for (let round = 0; round < rounds; round++) {
    const replies = await Promise.all(
      Array.from({ length: 8 }, (_, i) => (i % 2 ? onA : onB).call('terminal:create', { cols: 80, rows: 24 })),
    );
    const created = replies.filter((r) => r.ok).length;
    const ids = await running();
    expect(ids.length, `round ${round}`).toBeLessThanOrEqual(cap);
    expect(created, `round ${round}`).toBe(ids.length);
    for (const r of replies) if (!r.ok) expect(r.error.code).toBe('limit_reached');
    await Promise.all(ids.map((terminalId) => onA.call('terminal:close', { terminalId })));
    await eventually(async () => (await running()).length === 0, 15_000, 'the terminals to close');
  }
}
