// Slows down password guessing: after too many failed sign-ins for one username from
// one address (or from one address overall) within a window, further attempts are
// refused until the window passes. Per instance, in memory: a cheap first line of
// defence, not an account lockout (which would let anyone lock others out).

interface Window {
  failures: number;
  resetAt: number;
}

export class LoginThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly opts = { perUser: 10, perAddress: 50, windowMs: 15 * 60_000, maxEntries: 100_000 },
  ) {}

  /** Milliseconds until another attempt is allowed (0: allowed now). */
  retryAfterMs(address: string, username: string, now = Date.now()): number {
    const waits = [
      this.wait(`u:${address}|${username.toLowerCase()}`, this.opts.perUser, now),
      this.wait(`a:${address}`, this.opts.perAddress, now),
    ];
    return Math.max(...waits);
  }

  recordFailure(address: string, username: string, now = Date.now()): void {
    this.bump(`u:${address}|${username.toLowerCase()}`, now);
    this.bump(`a:${address}`, now);
  }

  recordSuccess(address: string, username: string): void {
    this.windows.delete(`u:${address}|${username.toLowerCase()}`);
  }

  private wait(key: string, limit: number, now: number): number {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) return 0;
    return w.failures >= limit ? w.resetAt - now : 0;
  }

  private bump(key: string, now: number): void {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= this.opts.maxEntries) this.evictExpired(now);
      w = { failures: 0, resetAt: now + this.opts.windowMs };
      this.windows.set(key, w);
    }
    w.failures++;
  }

  private evictExpired(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    // Still full (an attack from many addresses): forget the oldest half.
    if (this.windows.size >= this.opts.maxEntries) {
      let drop = Math.floor(this.windows.size / 2);
      for (const k of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(k);
      }
    }
  }
}
