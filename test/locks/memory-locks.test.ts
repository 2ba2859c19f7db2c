import { MemoryLockManager } from '../../server/locks/memory-locks.js';
import { lockContract } from './contract.js';

// One process-wide lock space: "n instances" are the same manager.
lockContract('MemoryLockManager', () => {
  const m = new MemoryLockManager();
  return { managers: async (n) => Array.from({ length: n }, () => m) };
});
