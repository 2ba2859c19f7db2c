// Subscriber connections: one that stops answering is dropped and comes back subscribed,
// and closing one never leaves a rejection nobody handles.
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { watchSubscriber } from '../../server/redis/subscriber-watchdog.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
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

it('closing while its automatic re-subscription is unanswered leaves no unhandled rejection', async () => {
  const proxy = await startTcpProxy(redis.port);
  const m = testManager(proxy.url('redis'), uniquePrefix('resubscribe'));
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await m.waitReady(5000);
    const sub = m.duplicate('resubscriber', { offlineQueue: true });
    await sub.subscribe('resubscribe-test');

    proxy.swallowFrom(/\r\nsubscribe\r\n/i); // Redis will never see the re-subscription
    const readyAgain = once(sub, 'ready');
    sub.disconnect(true); // ioredis reconnects and re-subscribes by itself
    await readyAgain;
    const ended = once(sub, 'end');
    await m.quit(); // QUIT goes unanswered too; the connection is cut after quitTimeoutMs
    await ended;
    await new Promise((resolve) => setImmediate(resolve)); // let Node report unhandled rejections
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await m.quit();
    await proxy.close();
  }
});
