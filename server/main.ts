// Entry point: `npm start` (built) or `tsx server/main.ts` (source).
import { startApp } from './app.js';
import { ConfigError, loadConfig, loadDotEnv, requireClusterSecret } from './config/env.js';
import { createLogger } from './log/logger.js';
import { enterAccountMode } from './os-accounts/privileges.js';

await loadDotEnv();

let config;
try {
  config = loadConfig();
  requireClusterSecret(config);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`ptyhub: ${err.message}\nSee .env.example for every variable.`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger({ level: config.LOG_LEVEL, serverId: config.SERVER_ID, format: config.LOG_FORMAT });

let app;
try {
  // Account mode: root work first (the root pty host, migrations), then the web server
  // drops to SERVICE_USER for good, before it listens to anyone.
  const accountMode = config.TERMINAL_USER_MODE === 'account';
  if (accountMode) await enterAccountMode(config, logger);
  app = await startApp(config, logger, { migrated: accountMode });
} catch (err) {
  logger.fatal({ err }, 'ptyhub could not start');
  console.error(`ptyhub could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

let shuttingDown = false;
const shutdown = (signal: string) => {
  // A second signal (Ctrl-C reaches a whole process group, and a supervisor may
  // signal again) must not cut the graceful shutdown short.
  if (shuttingDown) {
    logger.info({ signal }, 'already shutting down');
    return;
  }
  shuttingDown = true;
  const timer = setTimeout(() => {
    logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'graceful shutdown timed out; exiting');
    process.exit(1);
  }, config.SHUTDOWN_TIMEOUT_MS);
  timer.unref();
  app.stop(signal).then(
    () => process.exit(0),
    (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
