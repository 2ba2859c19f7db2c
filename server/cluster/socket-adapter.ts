// socket.io's Redis adapter on top of our one connection manager, so a broadcast to a
// terminal's room reaches devices on every instance. On a Redis Cluster it is the sharded
// adapter (SSUBSCRIBE/SPUBLISH, one channel per room), so each terminal's traffic stays on
// the shard of its channel instead of being broadcast to every node.
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Logger } from '../log/logger.js';
import { createPubSub } from '../redis/pubsub.js';
import type { RedisConnectionManager } from '../redis/types.js';

/**
 * The adapter publishes fire-and-forget and never handles a failed PUBLISH; with the
 * offline queue off (fail fast), that would be an unhandled rejection during a Redis
 * outage. This publisher logs the failure instead: local devices are still served by the
 * adapter's local broadcast, and cross-instance traffic resumes when Redis returns.
 */
function safePublisher(redis: RedisConnectionManager, logger: Logger) {
  let failures = 0;
  const send = (publish: () => Promise<number>): Promise<number> => {
    let sent: Promise<number>;
    try {
      sent = publish();
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.catch((err: unknown) => {
      // One line per burst, not per message.
      if (failures++ % 1000 === 0) logger.warn({ err, failures }, 'cross-instance broadcast dropped (Redis unavailable)');
      return 0;
    });
  };
  const self = {
    publish: (channel: string, message: string | Buffer): Promise<number> => send(() => redis.readyClient().publish(channel, message)),
    spublish: (channel: string, message: string | Buffer): Promise<number> => send(() => redis.readyClient().spublish(channel, message) as Promise<number>),
    // The sharded adapter counts instances with PUBSUB SHARDNUMSUB on every node of a cluster.
    isCluster: redis.isCluster,
    nodes: () => redis.masters(),
    // Used by the adapter for PUBSUB NUMSUB (how many instances to expect answers from).
    send_command(command: string, args: unknown[], cb: (err: Error | null, res?: unknown) => void): void {
      try {
        redis
          .readyClient()
          .call(command, ...(args as string[]))
          .then((res) => cb(null, res), (err: Error) => cb(err));
      } catch (err) {
        cb(err as Error);
      }
    },
    on: () => self,
    off: () => self,
  };
  return self;
}

export function createClusterAdapter(redis: RedisConnectionManager, logger: Logger, pingTimeoutMs: number) {
  const { subscriber } = createPubSub(redis, 'socket.io-adapter', { logger, pingTimeoutMs });
  if (redis.isCluster) {
    return createShardedAdapter(safePublisher(redis, logger), subscriber, {
      channelPrefix: `${redis.prefix}socket.io`,
      // One channel per room (t:<terminalId>, u:<userId>): spread over the shards.
      subscriptionMode: 'dynamic',
    });
  }
  return createAdapter(safePublisher(redis, logger), subscriber, {
    key: `${redis.prefix}socket.io`,
    requestsTimeout: 3000,
  });
}
