// `npm test`: everything except the browser test (test/e2e, run by `npm run test:e2e`).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests run servers, ptys and redis-servers: two files at a time on 2 cores.
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
