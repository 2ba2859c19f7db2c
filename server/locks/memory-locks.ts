// In-process locks with the same interface and semantics as the Redis locks: a token
// per holder, a TTL after which the lock lapses, and waiters served first come first
// served (no polling).
import { randomBytes } from 'node:crypto';
import { LockTimeoutError, type AcquireOptions, type LockHandle, type LockKind, type LockManager } from './types.js';

interface Held {
  token: string;
  expiry: NodeJS.Timeout;
}

const DEFAULT_TTL_MS = 10_000;
const DEFAULT_TIMEOUT_MS = 5_000;

export class MemoryLockManager implements LockManager {
  private readonly held = new Map<string, Held>();
  private readonly waiters = new Map<string, Array<() => void>>();

  constructor(private readonly defaults: { ttlMs?: number; timeoutMs?: number } = {}) {}

  async acquire(kind: LockKind, resource: string, opts: AcquireOptions = {}): Promise<LockHandle> {
    const key = `${kind}:${resource}`;
    const ttlMs = opts.ttlMs ?? this.defaults.ttlMs ?? DEFAULT_TTL_MS;
    const timeoutMs = opts.timeoutMs ?? this.defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = Date.now();
    while (this.held.has(key)) {
      const remaining = timeoutMs - (Date.now() - started);
      if (remaining <= 0 || !(await this.waitTurn(key, remaining))) {
        throw new LockTimeoutError(kind, resource, Date.now() - started);
      }
    }
    const token = randomBytes(16).toString('hex');
    this.held.set(key, { token, expiry: this.expire(key, token, ttlMs) });
    return {
      kind,
      resource,
      token,
      extend: async (ms = ttlMs) => {
        const h = this.held.get(key);
        if (h?.token !== token) return false;
        clearTimeout(h.expiry);
        h.expiry = this.expire(key, token, ms);
        return true;
      },
      release: async () => this.release(key, token),
    };
  }

  async withLock<T>(kind: LockKind, resource: string, fn: (lock: LockHandle) => Promise<T>, opts?: AcquireOptions): Promise<T> {
    const lock = await this.acquire(kind, resource, opts);
    try {
      return await fn(lock);
    } finally {
      await lock.release();
    }
  }

  private release(key: string, token: string): boolean {
    const h = this.held.get(key);
    if (h?.token !== token) return false;
    clearTimeout(h.expiry);
    this.held.delete(key);
    this.waiters.get(key)?.shift()?.();
    if (this.waiters.get(key)?.length === 0) this.waiters.delete(key);
    return true;
  }

  private expire(key: string, token: string, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => this.release(key, token), ms);
    t.unref();
    return t;
  }

  /** Resolves true when the lock is released to us, false on timeout. */
  private waitTurn(key: string, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const queue = this.waiters.get(key) ?? [];
      this.waiters.set(key, queue);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = queue.indexOf(wake);
        if (i !== -1) queue.splice(i, 1);
        resolve(false);
      }, ms);
      queue.push(wake);
    });
  }
}
