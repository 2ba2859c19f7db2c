// Entry of the migration child process (migrate-isolated.ts): takes one request over
// IPC, applies the migrations, reports log lines and the result, and exits, taking the
// schema engine with it.
import type { MigrateMessage, MigrateRequest } from './migrate-isolated.js';
import { applyMigrations } from './migrate.js';

const send = (m: MigrateMessage) => new Promise<void>((resolve) => process.send!(m, undefined, undefined, () => resolve()));

process.once('message', (request: MigrateRequest) => {
  void (async () => {
    try {
      const logs: Promise<void>[] = [];
      const log = { info: (obj: object, msg?: string) => void logs.push(send({ type: 'log', obj, msg })) };
      const { applied } = await applyMigrations(request.databaseUrl, log, request.options);
      await Promise.all(logs);
      await send({ type: 'done', applied });
    } catch (err) {
      // Errors cross as text: a driver error's cause may not survive serialization.
      const error = err instanceof Error ? err : new Error(String(err));
      await send({ type: 'failed', message: error.message, stack: error.stack });
    }
    process.exit(0);
  })();
});
