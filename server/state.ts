// The shared-state backends of one instance: Redis (when configured), the registry, the
// session store, locks, heartbeat and crash reaper. Without Redis every piece runs on
// memory and the database, with the same interfaces.
import type { Config } from './config/env.js';
import type { PrismaClient } from './db/client.js';
import type { Logger } from './log/logger.js';
import { FallbackLockManager } from './locks/fallback-locks.js';
import { timeRedisCommands } from './metrics/instrument.js';
import type { Metrics } from './metrics/metrics.js';
import type { LockManager } from './locks/types.js';
import { createRedisManager } from './redis/connection-manager.js';
import { claimServerId, startHeartbeat, type InstanceHeartbeat } from './redis/instance-heartbeat.js';
import type { RedisConnectionManager } from './redis/types.js';
import { MemoryRegistry } from './registry/memory-registry.js';
import { startReaper, type Reaper } from './registry/reaper.js';
import { SwitchingRegistry } from './registry/switching-registry.js';
import type { UserTerminalRegistry } from './registry/types.js';
import { CachedSessionStore } from './sessions/cached-store.js';
import { DbSessionStore } from './sessions/db-store.js';

export interface StateBackends {
  redis: RedisConnectionManager;
  heartbeat: InstanceHeartbeat | null;
  registry: UserTerminalRegistry;
  /** 'memory' | 'redis': where registry reads go right now. */
  registryBackend(): string;
  db: DbSessionStore;
  store: CachedSessionStore;
  locks: LockManager;
  reaper: Reaper | null;
  close(): Promise<void>;
}

/** Per-process differences: a tool such as `npm run inspect` names itself and waits longer. */
export interface RedisManagerExtras {
  metrics?: Metrics;
  clientName?: string;
  commandTimeoutMs?: number;
}

/** The one Redis connection manager of a process, from the configuration. */
export function redisManagerFor(config: Config, log: Logger, extras: RedisManagerExtras = {}): RedisConnectionManager {
  const { metrics } = extras;
  return createRedisManager({
    clusterNodes: config.REDIS_CLUSTER_NODES,
    url: config.REDIS_URL,
    host: config.REDIS_HOST,
    port: config.REDIS_PORT,
    password: config.REDIS_PASSWORD,
    db: config.REDIS_DB,
    keyPrefix: config.REDIS_KEY_PREFIX,
    commandTimeoutMs: extras.commandTimeoutMs ?? config.REDIS_COMMAND_TIMEOUT_MS,
    connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
    logger: log,
    clientName: extras.clientName ?? `ptyhub:${config.SERVER_ID}`,
    onClient: metrics && ((client) => timeRedisCommands(client, metrics)),
  });
}

export async function createStateBackends(config: Config, prisma: PrismaClient, logger: Logger, metrics?: Metrics): Promise<StateBackends> {
  const log = logger.child({ component: 'redis' });
  const redis = redisManagerFor(config, log, { metrics });

  let heartbeat: InstanceHeartbeat | null = null;
  if (redis.enabled) {
    const ready = await redis.waitReady(config.REDIS_CONNECT_TIMEOUT_MS).then(
      () => true,
      () => false,
    );
    if (ready) {
      // Refuses to start when a live instance holds our SERVER_ID.
      heartbeat = await claimServerId(redis, config.SERVER_ID, config.HEARTBEAT_TTL_MS, { logger: log });
    } else {
      logger.warn('Redis is unreachable: starting on in-memory state; switching to Redis when it is ready');
      heartbeat = startHeartbeat(redis, config.SERVER_ID, config.HEARTBEAT_TTL_MS, { logger: log });
    }
  }

  const switching = redis.enabled
    ? new SwitchingRegistry({ manager: redis, serverId: config.SERVER_ID, logger: log, heartbeat: heartbeat ?? undefined })
    : null;
  const registry: UserTerminalRegistry = switching ?? new MemoryRegistry();
  const db = new DbSessionStore(prisma);
  const store = new CachedSessionStore({
    db,
    redis,
    ttlSeconds: config.SESSION_CACHE_TTL_SECONDS,
    tombstoneTtlSeconds: config.TOMBSTONE_TTL_SECONDS,
    logger: log,
  });
  const locks = new FallbackLockManager({
    redis,
    defaultTtlMs: config.LOCK_TTL_MS,
    defaultTimeoutMs: config.LOCK_WAIT_MS,
    logger: log,
  });
  const reaper = redis.enabled ? startReaper({ manager: redis, logger: log, selfId: config.SERVER_ID }) : null;

  return {
    redis,
    heartbeat,
    registry,
    registryBackend: () => switching?.backend ?? 'memory',
    db,
    store,
    locks,
    reaper,
    async close() {
      await reaper?.stop();
      await switching?.close({ purge: true });
      store.close();
      await heartbeat?.stop();
      await redis.quit();
    },
  };
}
