// The per-user event budget of two instances (two limiters, two connection managers) on
// one real Redis: one budget between them, and each instance's own while Redis is gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { UsageLimiter, type Usage } from '../../server/socket/usage-limits.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { testLogger, testManager, uniquePrefix } from './support.js';

const RATE = 10;
const BURST = RATE * 2;
/** What an instance leases at a time (a quarter second of the rate), and may spend on credit. */
const BATCH = Math.ceil(RATE / 4);
const limits = { socketsPerUser: 10, socketsPerAddress: 10, eventsPerSecondPerUser: RATE, eventsPerSecondPerAddress: 10_000 };

let redis: RedisServer;
const managers: RedisConnectionManager[] = [];
const limiters: UsageLimiter[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const l of limiters) l.stop();
  await Promise.all(managers.map((m) => m.quit()));
  await redis?.stop();
});

async function instance(prefix: string, eventsPerSecondPerUser = RATE): Promise<UsageLimiter> {
  const m = testManager(redis.url, prefix, { commandTimeoutMs: 2000 });
  managers.push(m);
  await m.waitReady(5000);
  const l = new UsageLimiter({ ...limits, eventsPerSecondPerUser }, m, testLogger('limits'));
  limiters.push(l);
  return l;
}

async function admit(l: UsageLimiter, userId: string, address: string, socketId: string): Promise<Usage> {
  const usage = await l.admit(userId, address, socketId);
  if ('refused' in usage) throw new Error(`refused: ${usage.refused}`);
  return usage;
}

/** Offers an event to each socket every few ms for `ms` and `minRounds` rounds at least; counts what passed. */
async function flood(sockets: Usage[], ms: number, minRounds = 0): Promise<{ passed: number; seconds: number }> {
  const t0 = performance.now();
  let passed = 0;
  for (let round = 0; performance.now() - t0 < ms || round < minRounds; round++) {
    for (const s of sockets) if (s.takeEvent()) passed++;
    // Paced offers (not a wait for an event): leases in flight get their replies.
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return { passed, seconds: (performance.now() - t0) / 1000 };
}

describe('the shared event budget', () => {
  it('lets one user flooding through two instances spend one budget', async () => {
    const prefix = uniquePrefix('budget');
    const [a, b] = [await instance(prefix), await instance(prefix)];
    const onA = await admit(a, 'u1', '10.0.0.1', 's1');
    const onB = await admit(b, 'u1', '10.0.0.2', 's2');
    const { passed, seconds } = await flood([onA, onB], 1000);
    // The bucket's burst and rate, and at most one batch on credit per instance beyond it;
    // two separate budgets would let through about twice as many.
    expect(passed, `${passed} in ${seconds.toFixed(2)} s`).toBeLessThanOrEqual(BURST + RATE * seconds + 2 * BATCH);
    expect(passed).toBeGreaterThanOrEqual(BURST);
    // Another user's budget is untouched.
    const other = await admit(a, 'u2', '10.0.0.1', 's3');
    expect(other.takeEvent()).toBe(true);
    for (const u of [onA, onB, other]) u.release();
  });

  it('lets a burst of a batch and a half through at once (the next batch is leased meanwhile)', async () => {
    // 200/s: batches of 50 events. A device re-attaching its terminals sends many at once.
    const usage = await admit(await instance(uniquePrefix('budget'), 200), 'u1', '10.0.0.1', 's1');
    const burst = Array.from({ length: 75 }, () => usage.takeEvent());
    expect(burst.every(Boolean), burst.join(' ')).toBe(true);
    usage.release();
  });

  it('falls back to each instance\'s own budget while Redis is down, and shares it again after', async () => {
    const prefix = uniquePrefix('budget');
    const [a, b] = [await instance(prefix), await instance(prefix)];
    const onA = await admit(a, 'u1', '10.0.0.1', 's1');
    const onB = await admit(b, 'u1', '10.0.0.2', 's2');
    redis.kill9();
    await eventually(() => managers.slice(-2).every((m) => m.state !== 'ready'), 10_000, 'both instances to see Redis down');
    // Each instance alone: both spend their own burst (one shared budget would refuse
    // half of that in the time it takes), and no more than their own rates.
    const down = await flood([onA, onB], 300, 2 * BURST);
    expect(down.passed, `${down.passed} in ${down.seconds.toFixed(2)} s`).toBeGreaterThanOrEqual(2 * BURST - 2);
    expect(down.passed).toBeLessThanOrEqual(2 * (BURST + RATE * down.seconds) + 2);

    await redis.restart();
    await eventually(() => managers.slice(-2).every((m) => m.state === 'ready'), 15_000, 'both instances to see Redis back');
    // Let the local buckets and the shared one refill, then flood again: one budget.
    await new Promise((resolve) => setTimeout(resolve, (BURST / RATE) * 1000 + 1100));
    const up = await flood([onA, onB], 1000);
    expect(up.passed, `${up.passed} in ${up.seconds.toFixed(2)} s`).toBeLessThanOrEqual(BURST + RATE * up.seconds + 2 * BATCH + 2);
    onA.release();
    onB.release();
  });
});
