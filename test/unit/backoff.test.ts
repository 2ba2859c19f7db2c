// The one retry backoff: exponential ceiling, capped, full jitter above a floor.
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../server/redis/backoff.js';

describe('backoffDelay', () => {
  it('doubles the ceiling per attempt up to the cap', () => {
    const top = (attempt: number) => backoffDelay(attempt, { baseMs: 100, maxMs: 5000 }, () => 1);
    expect([0, 1, 3, 5, 6, 30, 1000].map(top)).toEqual([100, 200, 800, 3200, 5000, 5000, 5000]);
  });

  it('is uniform between the floor and the ceiling (full jitter)', () => {
    const o = { baseMs: 5, maxMs: 200, minMs: 1 };
    expect(backoffDelay(0, o, () => 0)).toBe(1);
    expect(backoffDelay(0, o, () => 0.5)).toBe(3);
    expect(backoffDelay(3, o, () => 0.999)).toBe(40);
    expect(backoffDelay(1000, o, () => 0.5)).toBe(101);
    expect(backoffDelay(-3, o, () => 1)).toBe(5); // negative attempts count as the first
    const seen = Array.from({ length: 300 }, () => backoffDelay(4, { baseMs: 100, maxMs: 5000, minMs: 10 }));
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(10);
    expect(Math.max(...seen)).toBeLessThanOrEqual(1600);
    expect(new Set(seen).size).toBeGreaterThan(50); // jittered, not a fixed delay
  });

  it('never goes below the floor, even when the ceiling is smaller', () => {
    expect(backoffDelay(0, { baseMs: 1, maxMs: 5000, minMs: 10 }, () => 0)).toBe(10);
    expect(backoffDelay(0, { baseMs: 1, maxMs: 5000, minMs: 10 }, () => 1)).toBe(10);
  });
});
