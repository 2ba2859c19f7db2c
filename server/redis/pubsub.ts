// Our own pub/sub channels (owner RPC, cluster events) on either kind of Redis:
// - standalone: SUBSCRIBE / PUBLISH;
// - Redis Cluster: sharded pub/sub (SSUBSCRIBE / SPUBLISH, Redis 7). A channel lives on
//   the master of its slot and a message crosses only that shard, so no single node
//   carries every message (classic PUBLISH on a cluster is broadcast to every node).
// The subscriber connection queues its (S)SUBSCRIBEs until Redis is reachable and
// re-subscribes after reconnects (and, on a cluster, after slots move to another master).
// Publishing uses the shared command connection and fails fast while Redis is not ready.
import { errorMessage } from './errors.js';
import { startShardedProbe, type ShardedProbe } from './sharded-probe.js';
import { watchSubscriber } from './subscriber-watchdog.js';
import type { LoggerLike, RedisClient, RedisConnectionManager } from './types.js';

export interface PubSub {
  /** Resolves once subscribed (waits while Redis is unreachable: bound it yourself). */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** Messages of every subscribed channel. */
  onMessage(fn: (channel: string, message: string) => void): void;
  /** Resolves with the number of subscribers that received it (0: nobody listens). */
  publish(channel: string, message: string): Promise<number>;
  /** The dedicated subscriber connection (for libraries that take one). */
  readonly subscriber: RedisClient;
  /**
   * Cluster: also probe a channel that a library subscribed on `subscriber` itself (the
   * socket.io adapter's): a lost subscription is subscribed again, its handler kept.
   */
  probeAlso(channel: string): void;
  /** Cluster: probe the channels we subscribed now (sharded-probe.ts); the channels subscribed again. */
  checkSubscriptions(): Promise<string[]>;
  close(): Promise<void>;
}

export interface PubSubOptions {
  logger: LoggerLike;
  /**
   * Standalone: PING the subscriber connection this often and redial it when no answer
   * comes within pingTimeoutMs (a half-open connection would drop messages silently).
   * Cluster (ioredis runs the per-master subscribers): check this often that each sharded
   * subscription still delivers (sharded-probe.ts), pingTimeoutMs for a probe to come back.
   * Default 5000 ms.
   */
  pingEveryMs?: number;
  pingTimeoutMs: number;
  /** Cluster: a lost subscription was found and made again (messages published meanwhile were missed). */
  onResubscribe?: (channel: string) => void;
}

export function createPubSub(manager: RedisConnectionManager, name: string, o: PubSubOptions): PubSub {
  const sub = manager.duplicate(name, { offlineQueue: true });
  const sharded = manager.isCluster;
  const stopWatchdog = sharded
    ? () => {}
    : watchSubscriber(sub, name, { intervalMs: o.pingEveryMs ?? 5000, timeoutMs: o.pingTimeoutMs, logger: o.logger });
  // A sharded subscription lost in a failover lasts at most one period plus a probe.
  const channels = new Set<string>();
  const probe: ShardedProbe | null = sharded
    ? startShardedProbe(manager, sub, () => channels, {
        name,
        intervalMs: o.pingEveryMs ?? 5000,
        timeoutMs: o.pingTimeoutMs,
        logger: o.logger,
        onResubscribe: o.onResubscribe,
      })
    : null;
  return {
    subscriber: sub,
    probeAlso(channel) {
      if (sharded) channels.add(channel);
    },
    checkSubscriptions: () => probe?.checkNow() ?? Promise.resolve([]),
    async subscribe(channel) {
      channels.add(channel);
      await (sharded ? sub.ssubscribe(channel) : sub.subscribe(channel));
    },
    async unsubscribe(channel) {
      channels.delete(channel);
      await (sharded ? sub.sunsubscribe(channel) : sub.unsubscribe(channel));
    },
    onMessage(fn) {
      sub.on(sharded ? 'smessage' : 'message', (channel: string, message: string) => {
        if (probe?.isProbe(message)) return;
        try {
          fn(channel, message);
        } catch (err) {
          o.logger.error({ err: errorMessage(err), channel }, `${name}: message handler failed`);
        }
      });
    },
    publish(channel, message) {
      const client = manager.readyClient();
      // SPUBLISH answers the number of receivers on the channel's shard, like PUBLISH.
      return sharded ? (client.spublish(channel, message) as Promise<number>) : client.publish(channel, message);
    },
    async close() {
      stopWatchdog();
      probe?.stop();
      await sub.quit().catch(() => undefined);
    },
  };
}
