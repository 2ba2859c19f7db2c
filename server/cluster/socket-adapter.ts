// socket.io's Redis adapter on top of our one connection manager, so a broadcast to a
// terminal's room reaches devices on every instance. On a Redis Cluster it is the sharded
// adapter (SSUBSCRIBE/SPUBLISH on one channel: its shard carries the adapter's traffic,
// instead of classic PUBLISH copying every message to every node).
import { createRequire } from 'node:module';
import type { FailureReporter } from '../log/failure-reporter.js';
import type { Logger } from '../log/logger.js';
import { createPubSub } from '../redis/pubsub.js';
import type { RedisConnectionManager } from '../redis/types.js';

/**
 * The adapter publishes fire-and-forget and never handles a failed PUBLISH; with the
 * offline queue off (fail fast), that would be an unhandled rejection during a Redis
 * outage. This publisher reports the failure instead (warn, rate-limited; /healthz): local
 * devices are still served by the adapter's local broadcast, and cross-instance traffic
 * resumes when Redis returns.
 */
function safePublisher(redis: RedisConnectionManager, failures: FailureReporter) {
  const send = (publish: () => Promise<number>): Promise<number> => {
    let sent: Promise<number>;
    try {
      sent = publish();
    } catch (err) {
      sent = Promise.reject(err);
    }
    return sent.then(
      (receivers) => {
        failures.succeeded();
        return receivers;
      },
      (err: unknown) => {
        failures.failed(err);
        return 0;
      },
    );
  };
  const self = {
    publish: (channel: string, message: string | Buffer): Promise<number> => send(() => redis.readyClient().publish(channel, message)),
    spublish: (channel: string, message: string | Buffer): Promise<number> => send(() => redis.readyClient().spublish(channel, message) as Promise<number>),
    // The sharded adapter counts instances with PUBSUB SHARDNUMSUB on every node of a cluster.
    isCluster: redis.isCluster,
    nodes: () => {
      try {
        return redis.masters();
      } catch {
        return []; // not ready: no instance can be counted
      }
    },
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

/**
 * The sharded adapter applies a broadcast or room change to its own sockets only once its
 * SPUBLISH is answered, while a local-only operation (`io.local...`) applies at once: a
 * local leave right after a broadcast would overtake it (devices here would miss the
 * broadcast). Local-only operations therefore wait for the operations sent before them.
 */
function localAfterPublished<A extends object>(adapter: A): A {
  let tail: Promise<unknown> = Promise.resolve();
  const target = adapter as unknown as Record<string, (...args: unknown[]) => unknown>;
  // Where each method takes its options ({ rooms, except, flags }).
  const optsAt = { broadcast: 1, addSockets: 0, delSockets: 0, disconnectSockets: 0 } as const;
  for (const [method, at] of Object.entries(optsAt)) {
    const original = target[method]!.bind(adapter);
    target[method] = (...args) => {
      if ((args[at] as { flags?: { local?: boolean } } | undefined)?.flags?.local) {
        const done = tail.then(() => original(...args));
        tail = done.catch(() => undefined);
        return done;
      }
      const sent = Promise.resolve(original(...args));
      tail = Promise.all([tail, sent]).catch(() => undefined);
      return sent;
    };
  }
  return adapter;
}

/**
 * `onResubscribed` runs each time the subscriber is back after losing its connection:
 * broadcasts published meanwhile never reached this instance's devices.
 */
export function createClusterAdapter(
  redis: RedisConnectionManager,
  logger: Logger,
  pingTimeoutMs: number,
  publishFailures: FailureReporter,
  onResubscribed?: () => void,
) {
  const bus = createPubSub(redis, 'socket.io-adapter', { logger, pingTimeoutMs, onResubscribe: () => onResubscribed?.() });
  const { subscriber } = bus;
  let connectedBefore = false;
  subscriber.on('ready', () => {
    if (connectedBefore) onResubscribed?.();
    connectedBefore = true;
  });
  // Loaded only with Redis: a single instance never holds the adapter in memory.
  const { createAdapter, createShardedAdapter } = createRequire(import.meta.url)(
    '@socket.io/redis-adapter',
  ) as typeof import('@socket.io/redis-adapter');
  if (redis.isCluster) {
    const make = createShardedAdapter(safePublisher(redis, publishFailures), subscriber, {
      channelPrefix: `${redis.prefix}socket.io`,
      // One channel for everything: a room's broadcasts and its membership changes (a
      // terminal's `terminal:exit`, then every socket leaving its room) must arrive in the
      // order they were sent. 'dynamic' (a channel per room, spread over the shards) loses
      // that order between channels.
      subscriptionMode: 'static',
    });
    // socket.io calls it with `new`: a plain function returning the adapter.
    return function orderedShardedAdapter(nsp: Parameters<typeof make>[0]) {
      // The adapter subscribes by itself; a failover can leave that subscription lost
      // (output from other instances would stop, silently): probe it like our own channels.
      bus.probeAlso(`${redis.prefix}socket.io#${nsp.name}#`);
      return localAfterPublished(make(nsp));
    };
  }
  return createAdapter(safePublisher(redis, publishFailures), subscriber, {
    key: `${redis.prefix}socket.io`,
    requestsTimeout: 3000,
  });
}
