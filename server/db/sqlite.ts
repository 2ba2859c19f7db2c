// SQLite file helpers shared by the client and the migrator.
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** How long a connection waits for another writer before SQLITE_BUSY. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** The path the better-sqlite3 adapter opens: it only strips `file:` (relative to cwd). */
export function sqlitePath(url: string): string {
  return url.replace(/^file:/, '');
}

function isMemory(file: string): boolean {
  return file === ':memory:' || file === '';
}

// No @types/better-sqlite3 is installed; this is the little we use.
interface RawDatabase {
  pragma(source: string, options?: { simple: boolean }): unknown;
  prepare(sql: string): { all(): unknown[] };
  close(): void;
}
type RawDatabaseCtor = new (file: string, options?: { timeout?: number; readonly?: boolean }) => RawDatabase;

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3') as RawDatabaseCtor;

/**
 * Creates the file's directory and switches the database to WAL (a persistent
 * setting), so readers never block the writer and writers queue on the busy timeout.
 */
export function prepareSqliteFile(url: string): void {
  const file = sqlitePath(url);
  if (isMemory(file)) return;
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}

interface MigrationRow {
  migration_name: string;
  finished_at: string | null;
  rolled_back_at: string | null;
}

/**
 * Whether every named migration is already recorded as applied, read over an
 * ordinary connection. The engine locks the file exclusively (locking_mode=EXCLUSIVE)
 * and so would wait for every other open connection, e.g. a running instance; this
 * lets the usual "nothing to do" start skip it. Anything unusual (no table yet, a
 * failed migration) is left to the engine.
 */
export function allMigrationsApplied(url: string, names: string[]): boolean {
  const file = sqlitePath(url);
  if (isMemory(file) || !existsSync(file)) return false;
  const db = new Database(file, { timeout: SQLITE_BUSY_TIMEOUT_MS, readonly: true });
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'").all();
    if (table.length === 0) return false;
    const rows = db
      .prepare('SELECT migration_name, finished_at, rolled_back_at FROM _prisma_migrations')
      .all() as MigrationRow[];
    const live = rows.filter((r) => r.rolled_back_at === null);
    if (live.some((r) => r.finished_at === null)) return false;
    const done = new Set(live.map((r) => r.migration_name));
    return names.every((n) => done.has(n));
  } finally {
    db.close();
  }
}

const inProcess = new Map<string, Promise<unknown>>();

/**
 * Runs migrations on one file one call at a time within this process. Across
 * processes the engine itself serializes (it sets locking_mode=EXCLUSIVE and the
 * others wait on the busy timeout), but in one process that wait would block the
 * event loop the lock holder needs, so calls are chained here instead.
 */
export function serializeMigrations<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const key = path.resolve(sqlitePath(url));
  const run = (inProcess.get(key) ?? Promise.resolve()).catch(() => undefined).then(fn);
  inProcess.set(key, run);
  const forget = () => {
    if (inProcess.get(key) === run) inProcess.delete(key);
  };
  run.then(forget, forget);
  return run;
}
