// `npm run test:e2e`: the browser test (real server + headless Chromium).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    // Prisma client (the server helper needs it), then the browser client build.
    globalSetup: ['test/helpers/global-setup.ts', 'test/e2e/global-setup.ts'],
  },
});
