// SCAN that also works on Redis Cluster, where each master holds only its own slots' keys
// and a cluster client's SCAN would ask one random node: every master is scanned.
import { redisCall } from './errors.js';
import type { RedisConnectionManager } from './types.js';

/** Calls `onBatch` with the keys matching `pattern` on every master; the batch may be empty. */
export async function scanKeys(
  manager: RedisConnectionManager,
  pattern: string,
  onBatch: (keys: string[]) => Promise<void> | void,
  count = 1000,
): Promise<void> {
  for (const node of manager.masters()) {
    let cursor = '0';
    do {
      const [next, keys] = await redisCall('scan', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', count));
      cursor = next;
      if (keys.length) await onBatch(keys);
    } while (cursor !== '0');
  }
}

/** Every key matching `pattern` (tests and operator tools; never on a hot path). */
export async function allKeys(manager: RedisConnectionManager, pattern: string): Promise<string[]> {
  const out: string[] = [];
  await scanKeys(manager, pattern, (keys) => void out.push(...keys));
  return out;
}
