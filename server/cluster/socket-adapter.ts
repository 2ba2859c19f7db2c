// socket.io's Redis adapter on top of our one connection manager, so a broadcast to a
// terminal's room reaches devices on every instance.
import { createRequire } from 'node:module';
import type { FailureReporter } from '../log/failure-reporter.js';
import type { Logger } from '../log/logger.js';
import { watchSubscriber } from '../redis/subscriber-watchdog.js';
import type { RedisConnectionManager } from '../redis/types.js';

/**
 * The adapter publishes fire-and-forget and never handles a failed PUBLISH; with the
 * offline queue off (fail fast), that would be an unhandled rejection during a Redis
 * outage. This publisher reports the failure instead (warn, rate-limited; /healthz): local
 * devices are still served by the adapter's local broadcast, and cross-instance traffic
 * resumes when Redis returns.
 */
function safePublisher(redis: RedisConnectionManager, failures: FailureReporter) {
  const self = {
    publish(channel: string, message: string | Buffer): Promise<number> {
      let sent: Promise<number>;
      try {
        sent = redis.readyClient().publish(channel, message);
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
 * `onResubscribed` runs each time the subscriber is back after losing its connection:
 * broadcasts published meanwhile never reached this instance's devices.
 */
export function createClusterAdapter(redis: RedisConnectionManager, logger: Logger, pingTimeoutMs: number, publishFailures: FailureReporter, onResubscribed?: () => void) {
  const subscriber = redis.duplicate('socket.io-adapter', { offlineQueue: true });
  let connectedBefore = false;
  subscriber.on('ready', () => {
    if (connectedBefore) onResubscribed?.();
    connectedBefore = true;
  });
  watchSubscriber(subscriber, 'socket.io-adapter', { intervalMs: 5000, timeoutMs: pingTimeoutMs, logger });
  // Loaded only with Redis: a single instance never holds the adapter in memory.
  const { createAdapter } = createRequire(import.meta.url)('@socket.io/redis-adapter') as typeof import('@socket.io/redis-adapter');
  return createAdapter(safePublisher(redis, publishFailures), subscriber, {
    key: `${redis.prefix}socket.io`,
    requestsTimeout: 3000,
  });
}
