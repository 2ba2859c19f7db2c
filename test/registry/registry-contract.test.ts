// Runs the contract against every implementation, on a real redis-server.
import { afterAll, beforeAll } from 'vitest';
import { createRedisManager } from '../../server/redis/connection-manager.js';
import { MemoryRegistry } from '../../server/registry/memory-registry.js';
import { RedisRegistry } from '../../server/registry/redis-registry.js';
import { SwitchingRegistry } from '../../server/registry/switching-registry.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { testLogger, testManager, uniquePrefix } from '../redis/support.js';
import { registryContract } from './contract.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

registryContract('memory', async () => ({
  registry: new MemoryRegistry(),
  backend: 'memory',
  close: async () => {},
}));

registryContract('redis', async () => {
  const manager = testManager(server.url, uniquePrefix('contract-redis'));
  await manager.waitReady(5000);
  return { registry: new RedisRegistry(manager), backend: 'redis', close: () => manager.quit() };
});

registryContract('switching (Redis up)', async () => {
  const manager = testManager(server.url, uniquePrefix('contract-switch'));
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
