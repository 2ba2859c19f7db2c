// A user's event budget is one budget for the whole cluster: flooding through two
// instances at once gets no more than flooding through one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, login, type TestClient } from '../helpers/client.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

/** Low, so that a short flood shows the difference between one budget and two. */
const USER_RATE = 20;
const USER_BURST = USER_RATE * 2;

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'ptyhub-budget:', USER_EVENTS_PER_SECOND: String(USER_RATE) };
  a = await startServer({ serverId: 'budget-a', env });
  b = await startServer({ serverId: 'budget-b', dir: a.dir, env });
  await a.addUser('flo', 'flo-password');
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

describe('the per-user event budget across instances', () => {
  it('holds one user flooding through both instances to one budget', async () => {
    const token = await login(a.url, 'flo', 'flo-password');
    const onA = await connect(a.url, { token });
    const onB = await connect(b.url, { token });
    clients.push(onA, onB);
    let disconnects = 0;
    for (const c of [onA, onB]) c.socket.on('disconnect', () => disconnects++);

    // An invalid resize is refused as bad_request once it passes the limiter, as
    // rate_limited when it does not: the cheapest event that shows which happened.
    const send = (c: TestClient) => c.call('terminal:resize', {} as never).then((r) => (r.ok ? 'ok' : r.error.code));
    const t0 = performance.now();
    const replies: string[] = [];
    // 10 events per 100 ms from each socket, for 2 s: 5x the user's rate per instance.
    for (let tick = 0; tick < 20; tick++) {
      const next = performance.now() + 100;
      replies.push(...(await Promise.all([onA, onB].flatMap((c) => Array.from({ length: 10 }, () => send(c))))));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
    const seconds = (performance.now() - t0) / 1000;

    const passed = replies.filter((r) => r === 'bad_request').length;
    const limited = replies.filter((r) => r === 'rate_limited').length;
    expect(passed + limited, `replies: ${[...new Set(replies)].join(', ')}`).toBe(400);
    // One budget: its burst plus its rate over the flood, and a batch (a quarter second of
    // the rate) on credit per instance. Two budgets (one per instance) would let through
    // about twice the burst and rate.
    const oneBudget = USER_BURST + USER_RATE * seconds + 2 * Math.ceil(USER_RATE / 4);
    expect(passed, `${passed} events passed in ${seconds.toFixed(1)} s`).toBeLessThanOrEqual(oneBudget);
    // And the budget is there to be used.
    expect(passed).toBeGreaterThanOrEqual(USER_BURST / 2);
    // Still below the refusals that get a flooding user cut off.
    expect(disconnects).toBe(0);
  });
});
