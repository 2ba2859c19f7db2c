// One user's (or one address's) event budget shared by every instance, without a Redis
// round trip per event: the budget is a token bucket in Redis (by Redis's clock), and each
// instance leases tokens from it in small batches that its sockets then spend locally.
// A batch is re-leased in the background once half of it is spent, so steady typing never
// waits for Redis; a flood empties the shared bucket and is refused on every instance.
// The cluster as a whole admits at most what the Redis bucket grants (a burst of twice the
// rate, then the rate), plus at most one batch per instance let through on credit while a
// lease is under way (paid back from the next grants); tokens leased but unspent are
// simply lost (at most one batch per instance), which errs on the safe side.
// While Redis is unavailable the budget steps aside and each instance's own bucket decides
// (see UsageLimiter), as without Redis; the next lease brings the shared budget back.
import type { Redis } from 'ioredis';
import { isRedisUnavailable } from '../redis/errors.js';
import type { LoggerLike, RedisConnectionManager } from '../redis/types.js';
import { TokenBucket } from './event-queue.js';

// KEYS: the bucket. ARGV: rate per second, burst, tokens wanted.
// Returns the tokens granted (0..wanted). The key expires once the bucket would be full
// again, which is the same as no key.
const LEASE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(b[1]), tonumber(b[2])
if tokens == nil or at == nil then tokens = burst; at = now end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return granted
`;

type LeaseClient = Redis & { ptyhubLeaseEvents?(key: string, rate: number, burst: number, want: number): Promise<number> };

/** How long to rely on the local bucket alone after a lease failed, before trying again. */
const RETRY_AFTER_FAILURE_MS = 1000;

export class SharedEventBudget {
  /** Tokens leased from Redis and not spent yet. */
  private leased = 0;
  /**
   * Events let through on credit while a lease was under way (at most one batch): a burst
   * (a device re-attaching its terminals) is not refused just because the next batch is
   * still on its way. Paid back from the next grants before anything else.
   */
  private debt = 0;
  private leasing: Promise<void> | null = null;
  /** No lease before this time (the shared bucket is empty, or Redis just failed). */
  private notBefore = 0;
  /** The last lease was answered by Redis: the shared budget applies. */
  private shared = false;
  private readonly batch: number;
  /** A failing Redis must not fill the log: a few lines, then one a minute. */
  private readonly failureLog = new TokenBucket(1 / 60, 3);

  constructor(
    private readonly key: string,
    private readonly rate: number,
    private readonly redis: RedisConnectionManager,
    private readonly logger: LoggerLike,
  ) {
    // A quarter second of the rate: one lease per ~125 ms of steady use at most, and a
    // burst of up to two batches (leased plus credit) passes at once, however far Redis is.
    this.batch = Math.max(1, Math.ceil(rate / 4));
  }

  /** True when an event may be spent: a leased token is on hand, or the budget is not shared right now. */
  has(): boolean {
    if (this.shared && this.leased >= 1) return true;
    this.lease();
    if (!this.shared) return true;
    // On credit, unless the shared bucket is known to be empty (a short grant, lately).
    return this.debt < this.batch && Date.now() >= this.notBefore;
  }

  /** Spends one token (call after has() said true, for every budget of the event). */
  spend(): void {
    if (!this.shared) return;
    if (this.leased >= 1) this.leased--;
    else this.debt++;
    if (this.leased < this.batch / 2) this.lease();
  }

  /** Leases a first batch (a new socket, before its first event); never throws. */
  async prime(): Promise<void> {
    this.lease();
    await this.leasing;
  }

  private lease(): void {
    if (this.leasing || Date.now() < this.notBefore) return;
    const want = this.batch + this.debt;
    this.leasing = this.requestLease(want)
      .then((granted) => {
        const paid = Math.min(this.debt, granted);
        this.debt -= paid;
        this.leased += granted - paid;
        this.shared = true;
        // Short: the shared bucket is (nearly) empty; ask again once it has refilled.
        if (granted < want) this.notBefore = Date.now() + Math.ceil(((want - granted) * 1000) / this.rate);
      })
      .catch((err: unknown) => {
        this.shared = false;
        this.leased = 0;
        this.debt = 0; // each instance's own bucket decides meanwhile
        this.notBefore = Date.now() + RETRY_AFTER_FAILURE_MS;
        if (!this.failureLog.take()) return;
        if (isRedisUnavailable(err)) this.logger.debug({ err }, 'event budget lease failed: each instance limits on its own until Redis is back');
        else this.logger.warn({ err }, 'event budget lease failed: each instance limits on its own meanwhile');
      })
      .finally(() => {
        this.leasing = null;
      });
  }

  private async requestLease(want: number): Promise<number> {
    const c = this.redis.readyClient() as LeaseClient;
    if (!c.ptyhubLeaseEvents) c.defineCommand('ptyhubLeaseEvents', { numberOfKeys: 1, lua: LEASE_SCRIPT });
    const granted = Number(await c.ptyhubLeaseEvents!(this.key, this.rate, this.rate * 2, want));
    if (!Number.isInteger(granted) || granted < 0 || granted > want) throw new Error(`event budget lease: unexpected reply ${granted}`);
    return granted;
  }
}
