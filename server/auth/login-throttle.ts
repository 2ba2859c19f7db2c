// Slows down password guessing: at most `perUser` attempts for one username from one
// address, and `perAddress` attempts from one address overall, per window. An attempt
// is counted BEFORE its password is checked, so concurrent guesses cannot all slip in
// between the check and the count; a successful sign-in gives its count back.
// Not an account lockout (which would let anyone lock others out): the counts are per
// address. With Redis the counters are shared by every instance (one Lua script checks
// and counts both at once); without it, or while Redis is unavailable, each instance
// counts in memory.
import type { Redis } from 'ioredis';
import { isRedisUnavailable } from '../redis/errors.js';
import type { LoggerLike, RedisConnectionManager } from '../redis/types.js';
import { TokenBucket } from '../socket/event-queue.js';

export interface ThrottleLimits {
  perUser: number;
  perAddress: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE_LIMITS: ThrottleLimits = { perUser: 10, perAddress: 50, windowMs: 15 * 60_000 };

export interface SignInThrottle {
  /** Counts an attempt. 0: go ahead and check it; otherwise ms to wait (nothing counted). */
  begin(address: string, username: string): Promise<number>;
  /** The attempt succeeded: give its count back and forget the username's failures. */
  succeeded(address: string, username: string): Promise<void>;
}

const userKey = (address: string, username: string) => `u:${address}|${username.toLowerCase()}`;
const addressKey = (address: string) => `a:${address}`;

interface Window {
  count: number;
  resetAt: number;
}

/** One instance's counters, in memory (bounded). */
export class LoginThrottle implements SignInThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE_LIMITS,
    private readonly maxEntries = 100_000,
  ) {}

  begin(address: string, username: string): Promise<number> {
    return Promise.resolve(this.beginSync(address, username));
  }

  beginSync(address: string, username: string, now = Date.now()): number {
    const keys: Array<[string, number]> = [
      [userKey(address, username), this.limits.perUser],
      [addressKey(address), this.limits.perAddress],
    ];
    const wait = Math.max(...keys.map(([k, limit]) => this.wait(k, limit, now)));
    if (wait > 0) return wait;
    for (const [k] of keys) this.bump(k, now);
    return 0;
  }

  succeeded(address: string, username: string): Promise<void> {
    this.windows.delete(userKey(address, username));
    const a = this.windows.get(addressKey(address));
    if (a && a.count > 0) a.count--;
    return Promise.resolve();
  }

  private wait(key: string, limit: number, now: number): number {
    const w = this.windows.get(key);
    if (!w || w.resetAt <= now) return 0;
    return w.count >= limit ? w.resetAt - now : 0;
  }

  private bump(key: string, now: number): void {
    let w = this.windows.get(key);
    if (!w || w.resetAt <= now) {
      if (this.windows.size >= this.maxEntries) this.evictExpired(now);
      w = { count: 0, resetAt: now + this.limits.windowMs };
      this.windows.set(key, w);
    }
    w.count++;
  }

  private evictExpired(now: number): void {
    for (const [k, w] of this.windows) if (w.resetAt <= now) this.windows.delete(k);
    // Still full (an attack from many addresses): forget the oldest half.
    if (this.windows.size >= this.maxEntries) {
      let drop = Math.floor(this.windows.size / 2);
      for (const k of this.windows.keys()) {
        if (drop-- <= 0) break;
        this.windows.delete(k);
      }
    }
  }
}

// KEYS: user counter, address counter. ARGV: user limit, address limit, window ms.
// Returns 0 (counted) or the ms until the fuller counter's window ends (nothing counted).
const BEGIN_SCRIPT = `
local wait = 0
for i, key in ipairs(KEYS) do
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(ARGV[3])
      redis.call('PEXPIRE', key, ttl)
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[3]) end
end
return 0
`;

// KEYS: user counter, address counter.
const SUCCEEDED_SCRIPT = `
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1
`;

type ThrottleClient = Redis & {
  ptyhubThrottleBegin?(userKey: string, addressKey: string, userLimit: number, addressLimit: number, windowMs: number): Promise<number>;
  ptyhubThrottleSucceeded?(userKey: string, addressKey: string): Promise<number>;
};

/** Counters in Redis, shared by every instance; in memory while Redis is unavailable. */
export class RedisLoginThrottle implements SignInThrottle {
  private readonly local: LoginThrottle;
  private readonly fallbackLog = new TokenBucket(1 / 10, 3);

  constructor(
    private readonly redis: RedisConnectionManager,
    private readonly logger: LoggerLike,
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE_LIMITS,
  ) {
    this.local = new LoginThrottle(limits);
  }

  async begin(address: string, username: string): Promise<number> {
    try {
      const [u, a] = this.keys(address, username);
      const { perUser, perAddress, windowMs } = this.limits;
      return Number(await this.client().ptyhubThrottleBegin!(u, a, perUser, perAddress, windowMs));
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      if (this.fallbackLog.take()) this.logger.warn({ err }, 'sign-in throttle counting in memory: Redis unavailable');
      return this.local.begin(address, username);
    }
  }

  async succeeded(address: string, username: string): Promise<void> {
    await this.local.succeeded(address, username);
    try {
      const [u, a] = this.keys(address, username);
      await this.client().ptyhubThrottleSucceeded!(u, a);
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
    }
  }

  /** Both keys share the address as hash tag: one slot, so one script can touch both. */
  private keys(address: string, username: string): [string, string] {
    const tag = `{signin:${address}}`;
    return [`${this.redis.prefix}${tag}:${userKey(address, username)}`, `${this.redis.prefix}${tag}:${addressKey(address)}`];
  }

  private client(): ThrottleClient {
    const c = this.redis.readyClient() as ThrottleClient;
    if (!c.ptyhubThrottleBegin) {
      c.defineCommand('ptyhubThrottleBegin', { numberOfKeys: 2, lua: BEGIN_SCRIPT });
      c.defineCommand('ptyhubThrottleSucceeded', { numberOfKeys: 2, lua: SUCCEEDED_SCRIPT });
    }
    return c;
  }
}
