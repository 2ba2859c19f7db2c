// Ends the terminals of instances that died without cleaning up (kill -9, power loss):
// once an owner's heartbeat has expired, its running sessions are marked ended
// (owner_lost) in the database and cache, and every attached device is told.
//
// Any live instance may do this; the database decides who wins (end() returns null for
// a session that is already ended), so exactly one instance announces each terminal.
import type { Logger } from '../log/logger.js';
import type { RedisConnectionManager } from '../redis/types.js';
import type { SessionStore } from '../sessions/types.js';

export interface OwnerLossOptions {
  serverId: string;
  redis: RedisConnectionManager;
  store: SessionStore;
  /** Owners (serverIds) of running sessions, from the database. */
  runningOwners: () => Promise<string[]>;
  isAlive: (serverId: string) => Promise<boolean>;
  /** A planned restart is under way (within its grace): not lost. */
  isRestarting: (serverId: string) => Promise<boolean>;
  /** Tell devices and drop attachments of a terminal whose owner was lost. */
  onLost: (terminalId: string) => Promise<void>;
  heartbeatTtlMs: number;
  intervalMs?: number;
  logger: Logger;
}

export class OwnerLossWatcher {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readySince: number | null = null;
  /** When each owner's heartbeat was first seen missing (cleared when seen alive). */
  private readonly missingSince = new Map<string, number>();
  private readonly onReady = () => (this.readySince = Date.now());
  private readonly onDown = () => {
    this.readySince = null;
    this.missingSince.clear();
  };

  constructor(private readonly o: OwnerLossOptions) {}

  start(): void {
    if (this.o.redis.state === 'ready') this.readySince = Date.now();
    this.o.redis.on('ready', this.onReady);
    this.o.redis.on('down', this.onDown);
    const every = this.o.intervalMs ?? Math.max(500, Math.floor(this.o.heartbeatTtlMs / 4));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.o.redis.off('ready', this.onReady);
    this.o.redis.off('down', this.onDown);
  }

  async sweep(): Promise<void> {
    // After Redis comes back (possibly empty), live instances need one heartbeat period
    // to re-publish themselves; until then a missing heartbeat proves nothing.
    if (this.running || this.readySince === null || Date.now() - this.readySince < this.o.heartbeatTtlMs) return;
    this.running = true;
    try {
      const owners = await this.o.runningOwners();
      for (const id of [...this.missingSince.keys()]) if (!owners.includes(id)) this.missingSince.delete(id);
      for (const owner of owners) {
        if (owner === this.o.serverId) continue;
        if (await this.o.isAlive(owner)) {
          this.missingSince.delete(owner);
          continue;
        }
        if (await this.o.isRestarting(owner)) {
          this.missingSince.delete(owner);
          this.o.logger.debug({ owner }, 'owner is restarting; its terminals are kept');
          continue;
        }
        // One missing heartbeat is not a death (a flushed or restarted Redis, a key
        // evicted): it must stay missing for a whole TTL, during which a live instance
        // re-publishes it several times.
        const since = this.missingSince.get(owner) ?? Date.now();
        this.missingSince.set(owner, since);
        if (Date.now() - since < this.o.heartbeatTtlMs) continue;
        this.missingSince.delete(owner);
        await this.endAllOf(owner);
      }
    } catch (err) {
      this.o.logger.debug({ err }, 'owner-loss sweep skipped');
    } finally {
      this.running = false;
    }
  }

  private async endAllOf(owner: string): Promise<void> {
    const sessions = await this.o.store.listRunningForServer(owner);
    this.o.logger.warn({ owner, terminals: sessions.length }, 'instance lost; ending its terminals');
    for (const s of sessions) {
      const ended = await this.o.store.end(s.id, { exitCode: null, reason: 'owner_lost' });
      if (ended) await this.o.onLost(s.id);
    }
  }
}
