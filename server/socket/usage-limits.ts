// Limits per user and per address, on top of each socket's own: how many sockets, and
// how many events per second all of them together may send. Without them one user (or
// one address) opening many sockets multiplies the per-socket limit and slows everyone.
//
// Socket counts are shared by every instance when Redis is enabled: each socket holds a
// lease in a sorted set per user and per address (score: lease expiry, by Redis's own
// clock), renewed while it lives, so the sockets of a crashed instance stop counting
// once their leases run out. A Lua script drops expired leases, checks and adds in one
// step. While Redis is unavailable each instance counts its own sockets only.
// Event rates are shared too, without a Redis round trip per event: each instance leases
// tokens in small batches from one Redis token bucket per user and per address (see
// SharedEventBudget). Each instance also keeps its own bucket of the same rate, which
// alone decides while Redis is unavailable or not configured.
import type { Redis } from 'ioredis';
import { isRedisUnavailable } from '../redis/errors.js';
import type { LoggerLike, RedisConnectionManager } from '../redis/types.js';
import { TokenBucket } from './event-queue.js';
import { limitKeys } from './limit-keys.js';
import { SharedEventBudget } from './shared-event-budget.js';

export interface UsageLimits {
  socketsPerUser: number;
  socketsPerAddress: number;
  eventsPerSecondPerUser: number;
  eventsPerSecondPerAddress: number;
}

/** What a connected socket holds; release() once it disconnects. */
export interface Usage {
  /** Takes one event from the user's and the address's budgets; false: refuse it. */
  takeEvent(): boolean;
  /**
   * A refused event: false once the user has had too many refusals lately. Refused
   * events still cost parsing and a reply, so a user whose sockets keep sending long
   * after being told to slow down is flooding, not typing, and is cut off (and gets no
   * new socket on this instance for FLOOD_COOLDOWN_MS).
   */
  tolerateRefusal(): boolean;
  release(): void;
}

interface Shared {
  bucket: TokenBucket;
  /** The budget shared with the other instances (null without Redis). */
  events: SharedEventBudget | null;
  refusals: TokenBucket;
  sockets: number;
}

/** Refusals tolerated per user: a burst (a paste, a reconnect storm), then a trickle. */
const REFUSAL_BURST = 500;
const REFUSALS_PER_SECOND = 50;
/**
 * A user cut off for flooding gets no new socket on this instance for this long: else
 * a flooder that reconnects at once starts over with a fresh socket, and the server
 * spends its time on handshakes and on reading what was sent before each cut-off.
 */
const FLOOD_COOLDOWN_MS = 10_000;
/** Cooldowns remembered at most (a few users flood at once, not thousands). */
const MAX_COOLDOWNS = 10_000;

const LEASE_MS = 30_000;

// KEYS: user set, address set. ARGV: socket id, user limit, address limit, lease ms.
// Returns 0 (admitted), 1 (user full) or 2 (address full).
const ADMIT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, ARGV[1]) == false and redis.call('ZCARD', key) >= tonumber(ARGV[i + 1]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + tonumber(ARGV[4]), ARGV[1])
  redis.call('PEXPIRE', key, ARGV[4])
end
return 0
`;

// KEYS: user set, address set. ARGV: lease ms, socket ids... (renews the leases still held)
const RENEW_SCRIPT = `
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  for i = 2, #ARGV do redis.call('ZADD', key, 'XX', expiry, ARGV[i]) end
  redis.call('PEXPIRE', key, ARGV[1])
end
return 1
`;

type LimitsClient = Redis & {
  ptyhubAdmitSocket?(userKey: string, addressKey: string, socketId: string, perUser: number, perAddress: number, leaseMs: number): Promise<number>;
  ptyhubRenewSockets?(userKey: string, addressKey: string, leaseMs: number, ...socketIds: string[]): Promise<number>;
};

export class UsageLimiter {
  private readonly users = new Map<string, Shared>();
  private readonly addresses = new Map<string, Shared>();
  /** Sockets holding Redis leases, for renewal: socket id -> [user key, address key]. */
  private readonly leases = new Map<string, [string, string]>();
  /** Users cut off for flooding: user id -> end of their cooldown (ms). */
  private readonly cooldowns = new Map<string, number>();
  private renewTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly limits: UsageLimits,
    private readonly redis: RedisConnectionManager | null,
    private readonly logger: LoggerLike,
  ) {}

  /** Admits a new socket, or says which limit it hits. */
  async admit(userId: string, address: string, socketId: string): Promise<Usage | { refused: 'user' | 'address' | 'flooding' }> {
    const cooldown = this.cooldowns.get(userId);
    if (cooldown !== undefined) {
      if (Date.now() < cooldown) return { refused: 'flooding' };
      this.cooldowns.delete(userId);
    }
    if ((this.users.get(userId)?.sockets ?? 0) >= this.limits.socketsPerUser) return { refused: 'user' };
    if ((this.addresses.get(address)?.sockets ?? 0) >= this.limits.socketsPerAddress) return { refused: 'address' };
    // Held before the shared check, so concurrent handshakes here cannot overshoot.
    const u = this.hold(this.users, userId, this.limits.eventsPerSecondPerUser, (k) => k.userEvents(userId));
    const a = this.hold(this.addresses, address, this.limits.eventsPerSecondPerAddress, (k) => k.addressEvents(address));
    const shared = await this.admitShared(userId, address, socketId).catch((err: unknown) => {
      this.drop(this.users, userId, u);
      this.drop(this.addresses, address, a);
      throw err;
    });
    if (shared) {
      this.drop(this.users, userId, u);
      this.drop(this.addresses, address, a);
      return { refused: shared };
    }
    // A first lease before the first event, so a new socket is not refused while it runs.
    await Promise.all([u.events?.prime(), a.events?.prime()]);
    let released = false;
    return {
      takeEvent: () => {
        // Checked before anything is spent: a refusal by one budget costs the others nothing.
        if (!(u.events?.has() ?? true) || !(a.events?.has() ?? true)) return false;
        if (!(u.bucket.take() && a.bucket.take())) return false;
        u.events?.spend();
        a.events?.spend();
        return true;
      },
      tolerateRefusal: () => {
        if (u.refusals.take()) return true;
        this.coolDown(userId);
        return false;
      },
      release: () => {
        if (released) return;
        released = true;
        this.drop(this.users, userId, u);
        this.drop(this.addresses, address, a);
        this.releaseShared(socketId);
      },
    };
  }

  private coolDown(userId: string): void {
    const now = Date.now();
    if (this.cooldowns.size >= MAX_COOLDOWNS) {
      for (const [id, until] of this.cooldowns) if (until <= now) this.cooldowns.delete(id);
      // Still full: the oldest goes (Map order is insertion order).
      if (this.cooldowns.size >= MAX_COOLDOWNS) this.cooldowns.delete(this.cooldowns.keys().next().value!);
    }
    this.cooldowns.delete(userId);
    this.cooldowns.set(userId, now + FLOOD_COOLDOWN_MS);
  }

  stop(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
  }

  private hold(map: Map<string, Shared>, key: string, rate: number, eventsKey: (k: ReturnType<typeof limitKeys>) => string): Shared {
    let s = map.get(key);
    if (!s) {
      const events = this.redis?.enabled ? new SharedEventBudget(eventsKey(limitKeys(this.redis.prefix)), rate, this.redis, this.logger) : null;
      map.set(key, (s = { bucket: new TokenBucket(rate, rate * 2), events, refusals: new TokenBucket(REFUSALS_PER_SECOND, REFUSAL_BURST), sockets: 0 }));
    }
    s.sockets++;
    return s;
  }

  private drop(map: Map<string, Shared>, key: string, s: Shared): void {
    if (--s.sockets <= 0 && map.get(key) === s) map.delete(key);
  }

  private async admitShared(userId: string, address: string, socketId: string): Promise<'user' | 'address' | null> {
    if (!this.redis?.enabled) return null;
    const keys = this.keys(userId, address);
    try {
      const c = this.client();
      const r = Number(await c.ptyhubAdmitSocket!(keys[0], keys[1], socketId, this.limits.socketsPerUser, this.limits.socketsPerAddress, LEASE_MS));
      if (r === 1) return 'user';
      if (r === 2) return 'address';
      this.leases.set(socketId, keys);
      this.renewTimer ??= setInterval(() => void this.renew(), LEASE_MS / 3);
      this.renewTimer.unref();
      return null;
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      return null; // counted on this instance only until Redis is back
    }
  }

  private releaseShared(socketId: string): void {
    const keys = this.leases.get(socketId);
    if (!keys) return;
    this.leases.delete(socketId);
    try {
      const c = this.client();
      void Promise.all(keys.map((k) => c.zrem(k, socketId))).catch(() => undefined); // else the lease runs out
    } catch {
      // Redis unavailable: the lease runs out by itself
    }
  }

  private async renew(): Promise<void> {
    const byKeys = new Map<string, { keys: [string, string]; ids: string[] }>();
    for (const [id, keys] of this.leases) {
      const k = keys.join('\n');
      let g = byKeys.get(k);
      if (!g) byKeys.set(k, (g = { keys, ids: [] }));
      g.ids.push(id);
    }
    try {
      const c = this.client();
      await Promise.all([...byKeys.values()].map((g) => c.ptyhubRenewSockets!(g.keys[0], g.keys[1], LEASE_MS, ...g.ids)));
    } catch (err) {
      this.logger.debug({ err }, 'socket lease renewal failed; retrying at the next round');
    }
  }

  private keys(userId: string, address: string): [string, string] {
    const k = limitKeys(this.redis!.prefix);
    return [k.userSockets(userId), k.addressSockets(address)];
  }

  private client(): LimitsClient {
    const c = this.redis!.readyClient() as LimitsClient;
    if (!c.ptyhubAdmitSocket) {
      c.defineCommand('ptyhubAdmitSocket', { numberOfKeys: 2, lua: ADMIT_SCRIPT });
      c.defineCommand('ptyhubRenewSockets', { numberOfKeys: 2, lua: RENEW_SCRIPT });
    }
    return c;
  }
}
