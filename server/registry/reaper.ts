// Crash cleanup. Every live instance runs one: every ~intervalMs (jittered, so instances do
// not fire together) it looks at `<prefix>servers` and, for each instance whose heartbeat
// key has expired, removes all of that instance's registry entries. The Lua script checks
// the heartbeat atomically and is idempotent, so racing reapers are harmless.
import { errorMessage, isRedisUnavailable, redisCall } from '../redis/errors.js';
import { serversKey } from '../redis/instance-heartbeat.js';
import { Listeners } from '../redis/listeners.js';
import type { LoggerLike, RedisConnectionManager } from '../redis/types.js';
import { RedisRegistry } from './redis-registry.js';
import type { RemovedAttachment } from './types.js';

export interface ReaperOptions {
  manager: RedisConnectionManager;
  logger: LoggerLike;
  /** This instance (never reaped by itself). */
  selfId?: string;
  /** Mean period (default 2000); each wait is uniform in [0.5, 1.5] x this. */
  intervalMs?: number;
  /** Sockets removed per script call, to keep each call short (default 500). */
  batchSize?: number;
}

export interface ReaperEvents {
  /** Entries removed because their instance died; the cluster layer reacts to these. */
  reaped: (removed: RemovedAttachment[], serverId: string) => void;
}

export interface Reaper {
  /** One pass now; resolves with what it removed. Errors propagate (never "nothing"). */
  runOnce(): Promise<RemovedAttachment[]>;
  on<E extends keyof ReaperEvents>(event: E, fn: ReaperEvents[E]): void;
  off<E extends keyof ReaperEvents>(event: E, fn: ReaperEvents[E]): void;
  stop(): Promise<void>;
}

export function startReaper(opts: ReaperOptions): Reaper {
  return new PeriodicReaper(opts);
}

class PeriodicReaper implements Reaper {
  private readonly registry: RedisRegistry;
  private readonly events: Listeners<ReaperEvents>;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<RemovedAttachment[]> | null = null;
  private stopped = false;

  constructor(private readonly opts: ReaperOptions) {
    this.registry = new RedisRegistry(opts.manager, { logger: opts.logger });
    this.events = new Listeners(opts.logger, 'reaper');
    this.intervalMs = opts.intervalMs ?? 2000;
    this.schedule();
  }

  runOnce(): Promise<RemovedAttachment[]> {
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  on<E extends keyof ReaperEvents>(event: E, fn: ReaperEvents[E]): void {
    this.events.on(event, fn);
  }

  off<E extends keyof ReaperEvents>(event: E, fn: ReaperEvents[E]): void {
    this.events.off(event, fn);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
    this.events.clear();
  }

  private schedule(): void {
    if (this.stopped) return;
    const delay = Math.round(this.intervalMs * (0.5 + Math.random()));
    this.timer = setTimeout(() => {
      const tick = this.opts.manager.state === 'ready' ? this.runOnce() : Promise.resolve([]);
      tick
        .catch((err: unknown) => {
          const level = isRedisUnavailable(err) ? 'debug' : 'error';
          this.opts.logger[level]({ err: errorMessage(err) }, 'reaper: pass failed');
        })
        .finally(() => this.schedule());
    }, delay);
    this.timer.unref();
  }

  private async pass(): Promise<RemovedAttachment[]> {
    const m = this.opts.manager;
    const ids = await redisCall('reaper', () => m.readyClient().smembers(serversKey(m.prefix)));
    const all: RemovedAttachment[] = [];
    for (const id of ids) {
      if (id === this.opts.selfId) continue;
      const removed: RemovedAttachment[] = [];
      let r;
      do {
        r = await this.registry.reapServer(id, this.opts.batchSize ?? 500);
        removed.push(...r.removed);
      } while (r.dead && r.remaining > 0);
      if (!r.dead) continue;
      if (removed.length) {
        this.opts.logger.warn({ serverId: id, attachments: removed.length }, 'reaper: removed entries of a dead instance');
        this.events.emit('reaped', removed, id);
      } else {
        this.opts.logger.info({ serverId: id }, 'reaper: forgot a dead instance');
      }
      all.push(...removed);
    }
    return all;
  }
}
