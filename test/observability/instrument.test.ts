// The seams' instrumentation against real components: Redis commands on a real
// redis-server, lock waits and timeouts of the Redis lock manager, owner RPC latency and
// timeouts between two ClusterChannel endpoints, and counters mirrored at scrape time.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterChannel } from '../../server/cluster/cluster-channel.js';
import { RedisLockManager } from '../../server/locks/redis-locks.js';
import { LockTimeoutError } from '../../server/locks/types.js';
import { meteredLocks, meteredOwnerOps, timeRedisCommands } from '../../server/metrics/instrument.js';
import { Metrics } from '../../server/metrics/metrics.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import type { TerminalSessionRecord } from '../../server/sessions/types.js';
import { connectManager, quietLogger, uniquePrefix } from '../locks/helpers.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { TEST_CLUSTER_SECRET } from '../helpers/server.js';

let redis: RedisServer;
let manager: RedisConnectionManager;
let metrics: Metrics;
const read = async () => parsePrometheus(await metrics.render());

beforeAll(async () => {
  redis = await startRedis();
  metrics = new Metrics();
  manager = await connectManager(redis.url, uniquePrefix('instrument'), { onClient: (c) => timeRedisCommands(c, metrics) });
});

afterAll(async () => {
  await manager?.quit();
  await redis?.stop();
});

describe('instrumentation', () => {
  it('times every Redis command by name and counts failed ones', async () => {
    const client = manager.readyClient();
    await client.set(`${manager.prefix}k`, 'v');
    await client.get(`${manager.prefix}k`);
    await client.get(`${manager.prefix}k`);
    await expect(client.call('NOSUCHCOMMAND')).rejects.toThrow();
    const s = await read();
    expect(s.value('ptyhub_redis_command_duration_seconds_count', { command: 'get' })).toBe(2);
    expect(s.value('ptyhub_redis_command_duration_seconds_count', { command: 'set' })).toBe(1);
    expect(s.value('ptyhub_redis_command_errors_total', { command: 'nosuchcommand' })).toBe(1);
    expect(s.value('ptyhub_redis_command_errors_total', { command: 'get' })).toBeUndefined();
  });

  it('times lock waits and counts timeouts', async () => {
    const locks = meteredLocks(new RedisLockManager({ redis: manager, defaultTtlMs: 5000, defaultTimeoutMs: 5000, logger: quietLogger() }), metrics);
    const held = await locks.acquire('resize', 't1');
    await expect(locks.withLock('resize', 't1', async () => 'never', { timeoutMs: 150 })).rejects.toBeInstanceOf(LockTimeoutError);
    await held.release();
    expect(await locks.withLock('resize', 't1', async () => 'ran')).toBe('ran');
    const s = await read();
    expect(s.value('ptyhub_lock_wait_seconds_count', { kind: 'resize', outcome: 'acquired' })).toBe(2);
    expect(s.value('ptyhub_lock_wait_seconds_count', { kind: 'resize', outcome: 'timeout' })).toBe(1);
    expect(s.value('ptyhub_lock_wait_seconds_sum', { kind: 'resize', outcome: 'timeout' })).toBeGreaterThanOrEqual(0.14);
    expect(s.value('ptyhub_lock_timeouts_total', { kind: 'resize' })).toBe(1);
  });

  it('times forwarded operations by outcome and counts the owner not answering', async () => {
    const logger = pino({ level: 'silent' });
    // The owner answers replays at once and never answers status (a stuck owner). (Not
    // input: its reply waits for the program to read it, so its deadline is minutes.)
    const owner = new ClusterChannel({
      redis: manager,
      serverId: 'owner',
      logger,
      timeoutMs: 300,
      onEvent: () => undefined,
      secret: TEST_CLUSTER_SECRET,
      handle: (op) => (op.op === 'replay' ? Promise.resolve({ data: Buffer.from('screen'), start: 0, end: 6 }) : new Promise(() => {})),
    });
    const caller = new ClusterChannel({
      redis: manager,
      serverId: 'caller',
      logger,
      timeoutMs: 300,
      onTimeout: (op) => metrics.ownerRpcTimeouts.inc({ op }),
      onEvent: () => undefined,
      secret: TEST_CLUSTER_SECRET,
      handle: () => Promise.reject(new Error('not an owner')),
    });
    await Promise.all([owner.start(), caller.start()]);
    try {
      const ops = meteredOwnerOps(caller, metrics);
      const session = { id: 't-remote', serverId: 'owner' } as TerminalSessionRecord;
      expect(await ops.replay(session)).toEqual({ data: Buffer.from('screen'), start: 0, end: 6 });
      await expect(ops.status(session)).rejects.toMatchObject({ code: 'unavailable' });
      const s = await read();
      expect(s.value('ptyhub_owner_rpc_duration_seconds_count', { op: 'replay', outcome: 'ok' })).toBe(1);
      expect(s.value('ptyhub_owner_rpc_duration_seconds_count', { op: 'status', outcome: 'unavailable' })).toBe(1);
      expect(s.value('ptyhub_owner_rpc_duration_seconds_sum', { op: 'status', outcome: 'unavailable' })).toBeGreaterThanOrEqual(0.29);
      expect(s.value('ptyhub_owner_rpc_timeouts_total', { op: 'status' })).toBe(1);
    } finally {
      await Promise.all([owner.stop(), caller.stop()]);
    }
  });

  it('mirrors counters kept elsewhere, and reads levels at scrape time', async () => {
    const own = new Metrics();
    const cache = { hits: 0, misses: 0, errors: 0 };
    let terminals = 0;
    own.readFrom({ sessionCache: () => cache, terminalsRunning: () => terminals, redisHealth: () => manager.health() });
    const scrape = async () => parsePrometheus(await own.render());
    let s = await scrape();
    expect(s.value('ptyhub_session_cache_requests_total', { result: 'hit' })).toBe(0);
    expect(s.value('ptyhub_terminals_running')).toBe(0);
    Object.assign(cache, { hits: 5, misses: 2, errors: 1 });
    terminals = 3;
    s = await scrape();
    expect(s.value('ptyhub_session_cache_requests_total', { result: 'hit' })).toBe(5);
    expect(s.value('ptyhub_session_cache_requests_total', { result: 'miss' })).toBe(2);
    expect(s.value('ptyhub_session_cache_errors_total')).toBe(1);
    expect(s.value('ptyhub_terminals_running')).toBe(3);
    expect(s.value('ptyhub_redis_state', { state: 'ready' })).toBe(1);
    cache.hits = 9;
    s = await scrape();
    expect(s.value('ptyhub_session_cache_requests_total', { result: 'hit' })).toBe(9);
  });
});
