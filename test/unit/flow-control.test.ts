import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../server/auth/login-throttle.js';
import { SerialQueue, TokenBucket } from '../../server/socket/event-queue.js';
import { isOriginAllowed } from '../../server/socket/origin-check.js';
import type { IncomingMessage } from 'node:http';

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate', () => {
    const b = new TokenBucket(10, 20);
    const t0 = 1_000_000;
    let allowed = 0;
    for (let i = 0; i < 50; i++) if (b.take(t0)) allowed++;
    expect(allowed).toBe(20);
    expect(b.take(t0 + 100)).toBe(true); // 0.1 s at 10/s refills one
    expect(b.take(t0 + 100)).toBe(false);
  });
});

describe('SerialQueue', () => {
  it('runs tasks one at a time, in order, and refuses beyond its limit', async () => {
    const q = new SerialQueue(3);
    const order: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (n: number) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setImmediate(r));
      order.push(n);
      running--;
    };
    expect([1, 2, 3, 4].map((n) => q.push(task(n)))).toEqual([true, true, true, false]);
    await q.drain();
    expect(order).toEqual([1, 2, 3]);
    expect(maxRunning).toBe(1);
    expect(q.push(async () => { throw new Error('boom'); })).toBe(true);
    expect(q.push(task(5))).toBe(true);
    await q.drain();
    expect(order).toEqual([1, 2, 3, 5]);
  });
});

describe('origin check', () => {
  const req = (origin: string | undefined, host = '127.0.0.1:3000') => ({ headers: { origin, host } }) as unknown as IncomingMessage;
  it('by default allows only the server\'s own origin (and non-browser clients)', () => {
    expect(isOriginAllowed(req('http://127.0.0.1:3000'), null)).toBe(true);
    expect(isOriginAllowed(req(undefined), null)).toBe(true);
    expect(isOriginAllowed(req('http://evil.example'), null)).toBe(false);
    expect(isOriginAllowed(req('http://127.0.0.1:3001'), null)).toBe(false);
    expect(isOriginAllowed(req('null'), null)).toBe(false);
  });
  it('follows an explicit list', () => {
    expect(isOriginAllowed(req('https://term.example'), ['https://term.example'])).toBe(true);
    expect(isOriginAllowed(req('http://127.0.0.1:3000'), ['https://term.example'])).toBe(false);
  });
});

describe('LoginThrottle', () => {
  it('counts attempts before they are checked and refuses beyond the limit, until the window passes', () => {
    const t = new LoginThrottle({ perUser: 3, perAddress: 100, windowMs: 1000 });
    for (let i = 0; i < 3; i++) expect(t.beginSync('1.2.3.4', 'Alice', 0)).toBe(0);
    expect(t.beginSync('1.2.3.4', 'alice', 10)).toBe(990);
    expect(t.beginSync('5.6.7.8', 'alice', 10)).toBe(0);
    expect(t.beginSync('1.2.3.4', 'alice', 1000)).toBe(0);
  });
  it('blocks an address trying many usernames', () => {
    const t = new LoginThrottle({ perUser: 100, perAddress: 5, windowMs: 1000 });
    for (let i = 0; i < 5; i++) expect(t.beginSync('1.2.3.4', `user${i}`, 0)).toBe(0);
    expect(t.beginSync('1.2.3.4', 'someone-else', 1)).toBeGreaterThan(0);
  });
  it('gives a successful attempt its count back', async () => {
    const t = new LoginThrottle({ perUser: 2, perAddress: 2, windowMs: 1000 });
    expect(t.beginSync('1.2.3.4', 'alice', 0)).toBe(0);
    await t.succeeded('1.2.3.4', 'alice');
    expect(t.beginSync('1.2.3.4', 'alice', 0)).toBe(0);
    expect(t.beginSync('1.2.3.4', 'alice', 0)).toBe(0);
    expect(t.beginSync('1.2.3.4', 'alice', 0)).toBeGreaterThan(0);
  });
});
