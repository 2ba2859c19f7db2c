// Mutual exclusion per terminal for changes that must be serialized across devices and
// instances. Correctness does not rest on the lock alone: writes also carry the database
// version they expect.

export type LockKind = 'resize' | 'primary';

export interface LockHandle {
  readonly kind: LockKind;
  readonly resource: string;
  readonly token: string;
  /** Extend the TTL; false if the lock is no longer ours. */
  extend(ttlMs?: number): Promise<boolean>;
  /** Release if still ours (compare-and-delete); false otherwise. */
  release(): Promise<boolean>;
}

export interface AcquireOptions {
  ttlMs?: number;
  /** Give up after this long (total, including retries). */
  timeoutMs?: number;
}

export class LockTimeoutError extends Error {
  readonly code = 'busy' as const;
  constructor(kind: LockKind, resource: string, waitedMs: number) {
    super(`could not acquire ${kind} lock for ${resource} within ${waitedMs} ms`);
    this.name = 'LockTimeoutError';
  }
}

export interface LockManager {
  /** Acquire or throw LockTimeoutError (or the backend's error). */
  acquire(kind: LockKind, resource: string, opts?: AcquireOptions): Promise<LockHandle>;
  /** Acquire, run, release (even on throw). */
  withLock<T>(kind: LockKind, resource: string, fn: (lock: LockHandle) => Promise<T>, opts?: AcquireOptions): Promise<T>;
}
