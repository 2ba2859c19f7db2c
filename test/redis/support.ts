// Shared bits for the Redis and registry tests.
import { randomBytes } from 'node:crypto';
import { createRedisManager, type RedisManagerOptions } from '../../server/redis/connection-manager.js';
import type { LoggerLike, RedisConnectionManager } from '../../server/redis/types.js';
import type { DeviceInfo } from '../../server/registry/types.js';
import { targetOptions } from '../helpers/redis-cluster.js';

export interface LogEntry {
  level: 'info' | 'warn' | 'error' | 'debug';
  msg: string;
  obj: object;
}

/** Collects log lines; prints them too when TEST_LOG=1. */
export function testLogger(name = 'test'): LoggerLike & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const print = process.env.TEST_LOG === '1';
  const at =
    (level: LogEntry['level']) =>
    (obj: object, msg = ''): void => {
      entries.push({ level, msg, obj });
      if (print) console.log(`[${name}] ${level} ${msg} ${JSON.stringify(obj)}`);
    };
  return { entries, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

/** A key prefix no other test uses. */
export function uniquePrefix(tag: string): string {
  return `ptyhub-test:${tag}:${randomBytes(4).toString('hex')}:`;
}

/** A manager with short timeouts so fault tests run fast. `url`: a redis:// URL or a cluster target. */
export function testManager(
  url: string,
  prefix: string,
  overrides: Partial<RedisManagerOptions> = {},
): RedisConnectionManager {
  return createRedisManager({
    ...targetOptions(url),
    keyPrefix: prefix,
    commandTimeoutMs: 300,
    connectTimeoutMs: 500,
    pingIntervalMs: 100,
    retryBaseMs: 20,
    retryMaxMs: 200,
    quitTimeoutMs: 300,
    logger: testLogger('manager'),
    ...overrides,
  });
}

export function device(socketId: string, over: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    socketId,
    deviceId: `dev-${socketId}`,
    deviceName: `Device ${socketId}`,
    serverId: 'srv-a',
    userId: 'user-1',
    connectedAt: 1_700_000_000_000,
    lastPingAt: 1_700_000_000_000,
    ...over,
  };
}

export { eventually } from '../helpers/eventually.js';

/** Resolves on the next occurrence of a manager event. */
export function nextEvent(manager: RedisConnectionManager, event: 'ready' | 'down', timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const fn = (): void => {
      clearTimeout(timer);
      manager.off(event, fn);
      resolve();
    };
    const timer = setTimeout(() => {
      manager.off(event, fn);
      reject(new Error(`no '${event}' within ${timeoutMs} ms (state ${manager.state})`));
    }, timeoutMs);
    manager.on(event, fn);
  });
}

/** Time an async call, ms. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error };
  }
}
