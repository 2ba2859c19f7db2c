// Runs the contract against every implementation, on a real redis-server and on a real
// 3-master Redis Cluster.
import { afterAll, beforeAll } from 'vitest';
import { createRedisManager } from '../../server/redis/connection-manager.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import { RedisRegistry } from '../../server/registry/redis-registry.js';
import { SwitchingRegistry } from '../../server/registry/switching-registry.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { testLogger, testManager, uniquePrefix } from '../redis/support.js';
import { registryContract } from './contract.js';

let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

registryContract('memory', async () => ({
  registry: new MemoryRegistry(),
  backend: 'memory',
  close: async () => {},
}));

// The contract is not about timeouts: on a loaded 2-core machine (other suites, a cluster
// of six servers) every command gets a production-like time.
for (const [name, target, commandTimeoutMs] of [
  ['', () => server.url, 2000],
  [', Redis Cluster', () => cluster.url, 2000],
] as const) {
  registryContract(`redis${name}`, async () => {
    const manager = testManager(target(), uniquePrefix('contract-redis'), { commandTimeoutMs });
    await manager.waitReady(5000);
    return { registry: new RedisRegistry(manager), backend: 'redis', close: () => manager.quit() };
  });

  registryContract(`switching (Redis up${name})`, async () => {
    const manager = testManager(target(), uniquePrefix('contract-switch'), { commandTimeoutMs });
    await manager.waitReady(5000);
    const registry = new SwitchingRegistry({ manager, serverId: 'srv-a', logger: testLogger('switching') });
    await registry.waitForBackend('redis', 5000);
    return {
      registry,
      backend: 'redis',
      close: async () => {
        await registry.close();
        await manager.quit();
      },
    };
  });
}

registryContract('switching (no Redis configured)', async () => {
  const manager = createRedisManager({ keyPrefix: 'x:', commandTimeoutMs: 100, connectTimeoutMs: 100, logger: testLogger() });
  const registry = new SwitchingRegistry({ manager, serverId: 'srv-a', logger: testLogger('switching') });
  return {
    registry,
    backend: 'memory',
    close: async () => {
      await registry.close();
      await manager.quit();
    },
  };
});
