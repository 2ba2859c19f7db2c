// Shared by test/locks and test/sessions: Redis managers on a test redis-server, a quiet
// logger that keeps what it was told, and promises a test resolves by hand.
import { randomUUID } from 'node:crypto';
import { createRedisManager, type RedisManagerOptions } from '../../server/redis/connection-manager.js';
import type { LoggerLike, RedisConnectionManager, RedisState } from '../../server/redis/types.js';
import { targetOptions } from '../helpers/redis-cluster.js';

export interface LogLine {
  level: 'info' | 'warn' | 'error' | 'debug';
  obj: object;
  msg: string | undefined;
}

export function quietLogger(): LoggerLike & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string) => {
    lines.push({ level, obj, msg });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

export const uniquePrefix = (what: string): string => `t-${what}-${randomUUID().slice(0, 8)}:`;

export async function connectManager(
  url: string,
  prefix: string,
  over: Partial<RedisManagerOptions> = {},
): Promise<RedisConnectionManager> {
  const manager = createRedisManager({
    ...targetOptions(url),
    keyPrefix: prefix,
    commandTimeoutMs: 1000,
    connectTimeoutMs: 1000,
    logger: quietLogger(),
    retryBaseMs: 20,
    retryMaxMs: 200,
    ...over,
  });
  await manager.waitReady(5000);
  return manager;
}

/** A manager with Redis not configured (state 'disabled'). */
export function disabledManager(): RedisConnectionManager {
  return createRedisManager({ keyPrefix: 'x:', commandTimeoutMs: 100, connectTimeoutMs: 100, logger: quietLogger() });
}

/** Resolves when the manager reaches `state` (event-driven, no polling). */
export function stateReached(manager: RedisConnectionManager, state: RedisState, timeoutMs = 10_000): Promise<void> {
  if (manager.state === state) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      manager.off('state', on);
      reject(new Error(`manager did not reach ${state} within ${timeoutMs} ms (is ${manager.state})`));
    }, timeoutMs);
    const on = (s: RedisState): void => {
      if (s !== state) return;
      clearTimeout(timer);
      manager.off('state', on);
      resolve();
    };
    manager.on('state', on);
  });
}

export interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** A promise the test resolves when it chooses. */
export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** The rejection of p (fails the test if p resolves). */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}
