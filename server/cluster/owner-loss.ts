// Ends the terminals of instances that died without cleaning up (kill -9, power loss):
// once an owner's heartbeat has expired, its running sessions are marked ended
// (owner_lost) in the database and cache, and every attached device is told.
//
// Any live instance may do this; the database decides who wins (end() returns null for
// a session that is already ended), so exactly one instance announces each terminal.
import type { FailureReporter } from '../log/failure-reporter.js';
import { audit } from '../log/audit.js';
import type { Logger } from '../log/logger.js';
import { redisCall } from '../redis/errors.js';
import { rpcChannel } from './cluster-channel.js';
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
  /**
   * Whether the owner still holds its connection to Redis (default: subscribers of its
   * RPC channel). A killed process's connection closes at once; a live but slow one
   * keeps it.
   */
  isConnected?: (serverId: string) => Promise<boolean>;
  logger: Logger;
  /** A failing sweep turns owner-loss detection off: it is reported (warn, /healthz). */
  failures: FailureReporter;
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
    // Often: a verdict is due within a second or so of the heartbeat expiring.
    const every = this.o.intervalMs ?? Math.min(1000, Math.max(250, Math.floor(this.o.heartbeatTtlMs / 4)));
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
        // evicted): the owner is probed directly, and a killed process has lost its Redis
        // connection too. Otherwise (a power loss leaves the connection open until TCP
        // gives up; a slow owner keeps it) the heartbeat must stay missing for a whole
        // TTL, during which a live instance re-publishes it several times.
        // On a Redis Cluster the probe proves nothing: after a master failover (during
        // which nobody could refresh a heartbeat) the owner's channel may sit on the new
        // master before the owner's subscription has moved there. So there the
        // heartbeat must always stay missing for a whole TTL.
        const since = this.missingSince.get(owner) ?? Date.now();
        this.missingSince.set(owner, since);
        const gone = (this.o.isConnected !== undefined || !this.o.redis.isCluster) && !(await this.isConnected(owner));
        if (!gone && Date.now() - since < this.o.heartbeatTtlMs) continue;
        this.missingSince.delete(owner);
        await this.endAllOf(owner);
      }
      this.o.failures.succeeded();
    } catch (err) {
      this.o.failures.failed(err);
    } finally {
      this.running = false;
    }
  }

  private isConnected(owner: string): Promise<boolean> {
    if (this.o.isConnected) return this.o.isConnected(owner);
    const channel = rpcChannel(this.o.redis.prefix, owner);
    return redisCall('owner probe', async () => {
      const reply = (await this.o.redis.readyClient().pubsub('NUMSUB', channel)) as unknown[];
      return Number(reply[1] ?? 0) > 0;
    });
  }

  private async endAllOf(owner: string): Promise<void> {
    const sessions = await this.o.store.listRunningForServer(owner);
    this.o.logger.warn({ owner, terminals: sessions.length }, 'instance lost; ending its terminals');
    for (const s of sessions) {
      const ended = await this.o.store.end(s.id, { exitCode: null, reason: 'owner_lost' });
      if (!ended) continue;
      audit(this.o.logger, 'terminal_ended', { terminalId: s.id, userId: s.userId, reason: 'owner_lost', exitCode: null });
      await this.o.onLost(s.id);
    }
  }
}
