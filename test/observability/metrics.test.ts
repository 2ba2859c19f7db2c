// The Prometheus endpoint of real instances (separate processes, one Redis, one database):
// scraped over HTTP, its values move with what devices do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { scrape, type Scrape } from '../helpers/prometheus.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let metricsA: string;
let metricsB: string;
const clients: TestClient[] = [];

// A low event rate (bursts of 100) so a flood is refused for sure, however slow the machine.
const env = (redisUrl: string) => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: 'ptyhub-metrics:', METRICS_PORT: '0', SOCKET_EVENTS_PER_SECOND: '50' });

async function metricsUrl(server: TestServer): Promise<string> {
  return String((await server.waitForLog((l) => l.msg === 'metrics listening')).url);
}

async function device(server: TestServer): Promise<TestClient> {
  const client = await connect(server.url, { token: await login(server.url, 'alice', 'alice-password') });
  clients.push(client);
  return client;
}

/** Scrapes until `check` holds (levels read at scrape time may trail an event by a moment). */
async function scrapeUntil(url: string, check: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  let last!: Scrape;
  await eventually(async () => check((last = await scrape(url))), 10_000, what, 50);
  return last;
}

beforeAll(async () => {
  redis = await startRedis();
  a = await startServer({ serverId: 'metrics-a', env: env(redis.url) });
  b = await startServer({ serverId: 'metrics-b', dir: a.dir, env: env(redis.url) });
  await a.addUser('alice', 'alice-password');
  [metricsA, metricsB] = await Promise.all([metricsUrl(a), metricsUrl(b)]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

describe('the metrics endpoint', () => {
  it('listens on loopback on a port of its own, not on the public port', async () => {
    expect(new URL(metricsA).hostname).toBe('127.0.0.1');
    expect(new URL(metricsA).port).not.toBe(String(a.port));
    const pub = await fetch(`${a.url}/metrics`);
    expect(await pub.text()).not.toContain('ptyhub_');
    expect((await fetch(metricsA.replace('/metrics', '/other'))).status).toBe(404);
  });

  it('reports process metrics and the Redis connection', async () => {
    const s = await scrape(metricsA);
    expect(s.value('process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(s.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(s.value('ptyhub_redis_state', { state: 'ready' })).toBe(1);
    expect(s.value('ptyhub_redis_state', { state: 'degraded' })).toBe(0);
    expect(s.sum('ptyhub_redis_command_duration_seconds_count')).toBeGreaterThan(0);
    expect(s.value('ptyhub_pty_host_up')).toBe(1);
  });

  it('counts sign-ins by outcome', async () => {
    const before = await scrape(metricsA);
    const failed = await fetch(`${a.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'wrong-password' }),
    });
    expect(failed.status).toBe(401);
    await login(a.url, 'alice', 'alice-password');
    const after = await scrape(metricsA);
    const count = (s: Scrape, outcome: string) => s.value('ptyhub_sign_ins_total', { outcome }) ?? 0;
    expect(count(after, 'failure') - count(before, 'failure')).toBe(1);
    expect(count(after, 'success') - count(before, 'success')).toBe(1);
  });

  it('counts throttled sign-ins (and audits them as failures)', async () => {
    const attempt = () =>
      fetch(`${a.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'guesser', password: 'guess-guess' }),
      }).then((r) => r.status);
    const statuses: number[] = [];
    while (!statuses.includes(429) && statuses.length < 50) statuses.push(await attempt());
    expect(statuses.at(-1)).toBe(429);
    const s = await scrape(metricsA);
    expect(s.value('ptyhub_sign_ins_total', { outcome: 'throttled' })).toBe(1);
    expect(await a.waitForLog((l) => l.audit === true && l.event === 'sign_in_failed' && l.reason === 'throttled')).toMatchObject({
      username: 'guesser',
      address: '127.0.0.1',
    });
  });

  it('follows a terminal: running, devices, input and output bytes, events, locks', async () => {
    const c = await device(a);
    const before = await scrape(metricsA);
    expect(before.value('ptyhub_terminals_running')).toBe(0);
    const created = await c.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect((await c.attach(id)).ok).toBe(true);

    const s = await scrapeUntil(metricsA, (x) => x.value('ptyhub_devices_attached') === 1, 'one attached device');
    expect(s.value('ptyhub_terminals_running')).toBe(1);
    expect(s.value('ptyhub_sockets_connected')).toBeGreaterThanOrEqual(1);
    expect(s.value('ptyhub_socket_events_total', { event: 'terminal:create', outcome: 'ok' })).toBe(1);
    expect(s.value('ptyhub_socket_events_total', { event: 'terminal:attach', outcome: 'ok' })).toBe(1);
    expect(s.sum('ptyhub_lock_wait_seconds_count', { kind: 'primary', outcome: 'acquired' })).toBeGreaterThan(0);
    expect(s.sum('ptyhub_session_cache_requests_total')).toBeGreaterThan(0);

    // "é" is two bytes in UTF-8: input is counted in bytes, not characters.
    const typed = 'echo caf\u00e9-$((6*7))\r';
    await c.call('terminal:input', { terminalId: id, data: typed });
    await c.waitForOutput(id, 'caf\u00e9-42');
    const t = await scrape(metricsA);
    expect(t.value('ptyhub_input_bytes_total')! - s.value('ptyhub_input_bytes_total')!).toBe(Buffer.byteLength(typed));
    expect(t.value('ptyhub_output_bytes_total')! - s.value('ptyhub_output_bytes_total')!).toBeGreaterThanOrEqual(Buffer.byteLength('caf\u00e9-42'));

    const bad = await c.call('terminal:attach', { terminalId: 'nope' } as never);
    expect(bad.ok).toBe(false);
    const u = await scrape(metricsA);
    expect(u.value('ptyhub_socket_events_total', { event: 'terminal:attach', outcome: bad.ok ? 'ok' : bad.error.code })).toBe(1);

    expect((await c.call('terminal:close', { terminalId: id })).ok).toBe(true);
    await scrapeUntil(metricsA, (x) => x.value('ptyhub_terminals_running') === 0 && x.value('ptyhub_devices_attached') === 0, 'terminal gone');
  });

  it('counts every rate_limited reply', async () => {
    const flood = await device(a);
    const before = await scrape(metricsA);
    const replies = await Promise.all(Array.from({ length: 400 }, () => flood.call('terminal:list', {})));
    const limited = replies.filter((r) => !r.ok && r.error.code === 'rate_limited').length;
    expect(limited).toBeGreaterThan(0);
    expect(replies.filter((r) => !r.ok && r.error.code !== 'rate_limited')).toEqual([]);
    const after = await scrape(metricsA);
    const count = (s: Scrape, outcome: string) => s.value('ptyhub_socket_events_total', { event: 'terminal:list', outcome }) ?? 0;
    expect(count(after, 'rate_limited') - count(before, 'rate_limited')).toBe(limited);
    expect(count(after, 'ok') - count(before, 'ok')).toBe(400 - limited);
  });

  it('counts disconnects by reason: sign-out and the client leaving', async () => {
    const token = await login(a.url, 'alice', 'alice-password');
    const revoked = await connect(a.url, { token });
    const leaving = await device(a);
    const before = await scrape(metricsA);
    const count = (s: Scrape, reason: string) => s.value('ptyhub_socket_disconnects_total', { reason }) ?? 0;
    const gone = new Promise((resolve) => revoked.socket.once('disconnect', resolve));
    await fetch(`${a.url}/api/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    await gone;
    leaving.close();
    await scrapeUntil(
      metricsA,
      (s) => count(s, 'token_revoked') - count(before, 'token_revoked') === 1 && count(s, 'client') - count(before, 'client') === 1,
      'one token_revoked and one client disconnect',
    );
  });

  it('times operations forwarded to the owner instance', async () => {
    const onA = await device(a);
    const onB = await device(b);
    const created = await onA.call('terminal:create', { cols: 80, rows: 24 });
    if (!created.ok) throw new Error(created.error.message);
    const id = created.terminal.id;
    expect((await onB.attach(id)).ok).toBe(true);
    await onB.call('terminal:input', { terminalId: id, data: 'echo via-b-$((40+2))\r' });
    await onB.waitForOutput(id, 'via-b-42');
    const s = await scrape(metricsB);
    expect(s.value('ptyhub_owner_rpc_duration_seconds_count', { op: 'replay', outcome: 'ok' })).toBe(1);
    expect(s.value('ptyhub_owner_rpc_duration_seconds_count', { op: 'input', outcome: 'ok' })).toBe(1);
    expect(s.value('ptyhub_terminals_running')).toBe(0); // the pty runs on A
    expect((await scrape(metricsA)).value('ptyhub_terminals_running')).toBe(1);
    expect((await onA.call('terminal:close', { terminalId: id })).ok).toBe(true);
  });
});
