// Authenticates messages between instances: whoever can publish into Redis without
// CLUSTER_SECRET must not be able to type into, resize or end anyone's terminal.
// A message travels as `<hex HMAC-SHA256>.<json>`; the MAC covers the channel too, so a
// message for one instance cannot be redirected to another.
import { createHmac, timingSafeEqual } from 'node:crypto';

const MAC_HEX_LENGTH = 64;

export class MessageAuth {
  private readonly key: Buffer;

  constructor(secret: string) {
    if (!secret) throw new Error('CLUSTER_SECRET is required to sign messages between instances');
    this.key = Buffer.from(secret, 'utf8');
  }

  private mac(channel: string, json: string): Buffer {
    return createHmac('sha256', this.key).update(channel).update('\n').update(json).digest();
  }

  seal(channel: string, json: string): string {
    return `${this.mac(channel, json).toString('hex')}.${json}`;
  }

  /** The JSON of an authentic message, or null (forged, altered, or sent to another channel). */
  open(channel: string, raw: string): string | null {
    if (raw.length <= MAC_HEX_LENGTH || raw[MAC_HEX_LENGTH] !== '.') return null;
    const given = Buffer.from(raw.slice(0, MAC_HEX_LENGTH), 'hex');
    const json = raw.slice(MAC_HEX_LENGTH + 1);
    const expected = this.mac(channel, json);
    // Non-hex input decodes short: compare lengths first (timingSafeEqual needs equal lengths).
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return json;
  }
}

/**
 * Refuses a message id seen before, and any message whose deadline is outside the window
 * in which ids are remembered (too old to be new, or too far ahead to be remembered).
 * Remembers at most `maxIds` ids; beyond that, new messages are refused until ids expire.
 */
export class ReplayGuard {
  /** id -> until when it is remembered (ms since the epoch). */
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;

  constructor(
    private readonly o: {
      /** Clock difference between instances tolerated (ms). */
      skewMs: number;
      /** Furthest a deadline may lie ahead (ms); the senders' timeout. */
      maxAheadMs: number;
      maxIds: number;
      now?: () => number;
    },
  ) {}

  /** 'ok' (and remembered), or why it is refused. */
  admit(id: string, deadline: number): 'ok' | 'replayed' | 'expired' | 'too-far-ahead' | 'too-many' {
    const now = (this.o.now ?? Date.now)();
    this.sweep(now);
    if (deadline < now - this.o.skewMs) return 'expired';
    if (deadline > now + this.o.maxAheadMs + this.o.skewMs) return 'too-far-ahead';
    if (this.seen.has(id)) return 'replayed';
    if (this.seen.size >= this.o.maxIds) return 'too-many';
    this.seen.set(id, deadline + this.o.skewMs);
    return 'ok';
  }

  get size(): number {
    return this.seen.size;
  }

  private sweep(now: number): void {
    // At most a few sweeps a second: each one walks every remembered id.
    if (now - this.lastSweep < 250 && this.seen.size < this.o.maxIds) return;
    this.lastSweep = now;
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
  }
}
