// A subscriber connection that stops answering is dropped and comes back subscribed.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { watchSubscriber } from '../../server/redis/subscriber-watchdog.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { eventually, testLogger, testManager, uniquePrefix } from './support.js';

let redis: RedisServer;
let manager: RedisConnectionManager;

beforeAll(async () => {
  redis = await startRedis();
  manager = testManager(redis.url, uniquePrefix('watchdog'));
  await manager.waitReady(5000);
});

afterAll(async () => {
  await manager?.quit();
  await redis?.stop();
});

it('reconnects a subscriber that does not answer PING, which then receives messages again', async () => {
  const sub = manager.duplicate('watched', { offlineQueue: true });
  const log = testLogger('watchdog');
  const received: string[] = [];
  sub.on('message', (_channel: string, message: string) => received.push(message));
  await sub.subscribe('watchdog-test');
  watchSubscriber(sub, 'watched', { intervalMs: 50, timeoutMs: 200, logger: log });

  redis.pause(); // the connection stays open but nothing answers, like a half-open link
  await eventually(() => log.entries.some((e) => e.msg.includes('not answering')), 5000, 'the watchdog to fire');
  redis.resume();

  await eventually(async () => (await manager.readyClient().publish('watchdog-test', 'hello')) === 1, 10_000, 're-subscription');
  await eventually(() => received.includes('hello'), 5000, 'the message');
  expect(received).toContain('hello');
});
