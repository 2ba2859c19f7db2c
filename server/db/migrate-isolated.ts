// Migrations applied in a short-lived child process, so the schema engine (WebAssembly:
// its compiled code, memory and the malloc arenas of its compilation, 12-18 MiB) never
// stays in the server. An up-to-date SQLite database, the usual start, needs neither
// engine nor child.
import { fork } from 'node:child_process';
import path from 'node:path';
import { sqliteUpToDate, upToDate, type MigrateLog, type MigrateOptions } from './migrate.js';

/** The child's entry next to this file, as source (tsx) or built (dist). */
const CHILD_MAIN = path.join(import.meta.dirname, `migrate-child${path.extname(import.meta.filename)}`);

/** Sent over the IPC channel, never in argv (a PostgreSQL URL may hold a password). */
export interface MigrateRequest {
  databaseUrl: string;
  options: MigrateOptions;
}

export type MigrateMessage =
  | { type: 'log'; obj: object; msg?: string }
  | { type: 'done'; applied: string[] }
  | { type: 'failed'; message: string; stack?: string };

/** applyMigrations (migrate.ts) in a child process; same result, same log lines. */
export async function applyMigrationsIsolated(
  databaseUrl: string,
  log?: MigrateLog,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const current = await sqliteUpToDate(databaseUrl, options);
  if (current) return upToDate(current.total, log);
  // Same Node flags (e.g. tsx's loader when run from source), environment and directory.
  const child = fork(CHILD_MAIN, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      // Its work is over (connections closed): nothing may keep it, and its memory, alive.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    child.on('message', (m: MigrateMessage) => {
      if (m.type === 'log') log?.info(m.obj, m.msg);
      else if (m.type === 'done') settle(() => resolve({ applied: m.applied }));
      else settle(() => reject(Object.assign(new Error(m.message), { stack: m.stack })));
    });
    child.once('error', (err) => settle(() => reject(err)));
    child.once('exit', (code, signal) =>
      settle(() => reject(new Error(`the database migration process exited (${signal ?? `code ${code}`}) without an answer`))),
    );
    const request: MigrateRequest = { databaseUrl, options };
    child.send(request);
  });
}
