// Pub/sub connections carry no commands of their own, so nothing would notice one that
// went half-open (a NAT or firewall dropped it silently): messages would just stop.
// The watchdog PINGs it (allowed in subscriber mode) and, when no answer comes in time,
// drops the connection; ioredis reconnects and re-subscribes by itself.
import type { LoggerLike, RedisClient } from './types.js';

export interface WatchdogOptions {
  intervalMs: number;
  timeoutMs: number;
  logger: LoggerLike;
}

/** Starts watching; returns a function that stops it (also stops when the connection ends). */
export function watchSubscriber(sub: RedisClient, name: string, o: WatchdogOptions): () => void {
  let inFlight = false;
  const check = async (): Promise<void> => {
    if (inFlight || sub.status !== 'ready') return;
    inFlight = true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), o.timeoutMs)));
    try {
      const result = await Promise.race([sub.ping().then(() => 'ok' as const, () => 'error' as const), timedOut]);
      if (result === 'timeout' && sub.status === 'ready') {
        o.logger.warn({ connection: name, timeoutMs: o.timeoutMs }, 'redis: subscriber connection not answering; reconnecting it');
        sub.disconnect(true);
      }
    } finally {
      clearTimeout(timer);
      inFlight = false;
    }
  };
  const interval = setInterval(() => void check(), o.intervalMs);
  interval.unref();
  const stop = () => clearInterval(interval);
  sub.once('end', stop);
  return stop;
}
