// On a Redis Cluster ioredis runs one sharded subscriber per master and moves our
// SSUBSCRIBEs to a promoted replica by itself, but a failover under load has been seen to
// leave a channel unsubscribed: its publishes then reach nobody, silently. The probe checks
// delivery end to end instead of trusting the library's bookkeeping: every period it
// SPUBLISHes a probe on each channel we hold and expects it back on our own subscriber;
// only a channel whose probe does not come back is subscribed again. (Re-subscribing
// blindly is not free: ioredis appends the channel to its per-slot list on each SSUBSCRIBE.)
import { randomBytes } from 'node:crypto';
import { errorMessage } from './errors.js';
import type { LoggerLike, RedisClient, RedisConnectionManager } from './types.js';

/** Probe messages start with this; a NUL never starts a message of ours. Receivers drop them. */
const PROBE = '\u0000probe:';

export interface ShardedProbeOptions {
  name: string;
  intervalMs: number;
  /** How long a probe may take to come back before the channel counts as lost. */
  timeoutMs: number;
  logger: LoggerLike;
  /** A channel was found lost and subscribed again: what was published meanwhile never arrived. */
  onResubscribe?: (channel: string) => void;
}

export interface ShardedProbe {
  /** True for probe messages (ours and other instances'): not for the application. */
  isProbe(message: string): boolean;
  /** Probe every channel now (what each period runs). Resolves with the channels re-subscribed. */
  checkNow(): Promise<string[]>;
  stop(): void;
}

export function startShardedProbe(
  manager: RedisConnectionManager,
  sub: RedisClient,
  channels: () => Iterable<string>,
  o: ShardedProbeOptions,
): ShardedProbe {
  const waiting = new Map<string, () => void>(); // nonce -> resolve
  sub.on('smessage', (_channel: string, message: string) => {
    if (typeof message === 'string' && message.startsWith(PROBE)) waiting.get(message.slice(PROBE.length))?.();
  });

  /** True when the probe came back (or could not be sent: then Redis is down, nothing to judge). */
  const probe = async (channel: string): Promise<boolean> => {
    const nonce = randomBytes(8).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const back = new Promise<boolean>((resolve) => {
      waiting.set(nonce, () => resolve(true));
      timer = setTimeout(() => resolve(false), o.timeoutMs);
    });
    try {
      const receivers = (await manager.readyClient().spublish(channel, PROBE + nonce)) as number;
      if (receivers === 0) return false;
      return await back;
    } catch {
      return true;
    } finally {
      clearTimeout(timer);
      waiting.delete(nonce);
    }
  };

  const check = async (): Promise<string[]> => {
    if (manager.state !== 'ready') return [];
    const list = [...channels()];
    const ok = await Promise.all(list.map(probe));
    const lost = list.filter((_, i) => !ok[i]);
    for (const channel of lost) {
      o.logger.warn({ connection: o.name, channel }, 'redis: sharded subscription lost; subscribing again');
      // Not awaited: a subscriber queues while its node is unreachable (no command timeout).
      sub.ssubscribe(channel).then(
        () => o.onResubscribe?.(channel),
        (err: unknown) => o.logger.warn({ err: errorMessage(err), channel }, `${o.name}: re-subscribing failed`),
      );
    }
    return lost;
  };

  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      void check().finally(schedule);
    }, o.intervalMs);
    timer.unref();
  };
  schedule();

  return {
    isProbe: (message) => typeof message === 'string' && message.startsWith(PROBE),
    checkNow: check,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
