// The one retry backoff of the server: exponential with full jitter. Reconnects, lock
// acquires, cache invalidations and registry re-publishes all wait with it, so callers
// that failed together spread out instead of retrying in step.

export interface BackoffOptions {
  /** Ceiling of the first attempt (attempt 0); doubles with every attempt. */
  baseMs: number;
  /** Cap of the ceiling. */
  maxMs: number;
  /** Smallest delay, so a burst of failures never becomes a tight loop (default 0). */
  minMs?: number;
}

/** Uniform in [minMs, min(maxMs, baseMs * 2^attempt)] ms, rounded. */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const minMs = o.minMs ?? 0;
  const ceiling = Math.max(minMs, Math.min(o.maxMs, o.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30)));
  return Math.round(minMs + random() * (ceiling - minMs));
}
