// The behaviour every LockManager must have, run against each implementation.
import { randomUUID } from 'node:crypto';
import { setImmediate as yieldTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LockTimeoutError, type LockManager } from '../../server/locks/types.js';
import { rejectionOf } from './helpers.js';

export interface ContractSetup {
  /**
   * n managers that share one lock space, as n instances would (the memory manager has
   * only a process-wide space: it returns the same manager n times).
   */
  managers(n: number): Promise<LockManager[]>;
  contenders?: number;
  cycles?: number;
}

export function lockContract(name: string, setup: () => ContractSetup): void {
  describe(`${name}: lock contract`, () => {
    it('never lets two contenders hold the same lock at once', async () => {
      const s = setup();
      const contenders = s.contenders ?? 8;
      const cycles = s.cycles ?? 500;
      const managers = await s.managers(Math.min(4, contenders));
      const resource = `res-${randomUUID()}`;
      let holders = 0;
      let maxHolders = 0;
      let acquisitions = 0;
      const run = async (i: number): Promise<void> => {
        const m = managers[i % managers.length]!;
        for (let c = 0; c < cycles; c++) {
          const lock = await m.acquire('resize', resource, { ttlMs: 10_000, timeoutMs: 30_000 });
          holders++;
          maxHolders = Math.max(maxHolders, holders);
          acquisitions++;
          // Give every other contender a chance to (wrongly) get in while we hold it.
          await yieldTurn();
          if (c % 7 === 0) await new Promise((r) => setTimeout(r, 0));
          holders--;
          expect(await lock.release()).toBe(true);
        }
      };
      const t0 = Date.now();
      await Promise.all(Array.from({ length: contenders }, (_, i) => run(i)));
      expect(acquisitions).toBe(contenders * cycles);
      expect(maxHolders).toBe(1);
      console.info(`[${name}] ${contenders} x ${cycles} acquisitions in ${Date.now() - t0} ms`);
    });

    it('times out with LockTimeoutError while the lock is held', async () => {
      const [a, b] = await setup().managers(2);
      const resource = `res-${randomUUID()}`;
      const held = await a!.acquire('primary', resource, { ttlMs: 10_000 });
      const t0 = Date.now();
      const err = await rejectionOf(b!.acquire('primary', resource, { timeoutMs: 150 }));
      const waited = Date.now() - t0;
      expect(err).toBeInstanceOf(LockTimeoutError);
      expect(err).toMatchObject({ code: 'busy' });
      expect(waited).toBeGreaterThanOrEqual(140);
      expect(waited).toBeLessThan(2000);
      // Other kinds and resources are independent.
      await (await b!.acquire('resize', resource, { timeoutMs: 100 })).release();
      await (await b!.acquire('primary', `${resource}-other`, { timeoutMs: 100 })).release();
      expect(await held.release()).toBe(true);
      await (await b!.acquire('primary', resource, { timeoutMs: 100 })).release();
    });

    it('a lapsed holder can neither release nor extend the next holder’s lock', async () => {
      const [a, b] = await setup().managers(2);
      const resource = `res-${randomUUID()}`;
      const first = await a!.acquire('resize', resource, { ttlMs: 60 });
      // Waits for the TTL to lapse.
      const second = await b!.acquire('resize', resource, { ttlMs: 10_000, timeoutMs: 5000 });
      expect(second.token).not.toBe(first.token);
      expect(await first.release()).toBe(false);
      expect(await first.extend(10_000)).toBe(false);
      // Still held by the second one.
      expect(await rejectionOf(a!.acquire('resize', resource, { timeoutMs: 50 }))).toBeInstanceOf(LockTimeoutError);
      expect(await second.release()).toBe(true);
      expect(await second.release()).toBe(false);
    });

    it('extend by the holder keeps the lock past its first TTL', async () => {
      const [a, b] = await setup().managers(2);
      const resource = `res-${randomUUID()}`;
      const lock = await a!.acquire('resize', resource, { ttlMs: 200 });
      expect(await lock.extend(10_000)).toBe(true);
      // Without the extension this would succeed after ~200 ms.
      expect(await rejectionOf(b!.acquire('resize', resource, { timeoutMs: 450 }))).toBeInstanceOf(LockTimeoutError);
      expect(await lock.release()).toBe(true);
    });

    it('withLock releases after success and after a throw', async () => {
      const [a, b] = await setup().managers(2);
      const resource = `res-${randomUUID()}`;
      expect(await a!.withLock('primary', resource, async (l) => `got ${l.resource}`)).toBe(`got ${resource}`);
      const boom = new Error('boom');
      expect(await rejectionOf(a!.withLock('primary', resource, async () => Promise.reject(boom)))).toBe(boom);
      await (await b!.acquire('primary', resource, { timeoutMs: 100 })).release();
    });
  });
}
