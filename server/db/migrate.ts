// Applies prisma/migrations like `prisma migrate deploy`, but through the WebAssembly
// schema engine and a driver adapter, so it needs no engine binary and no network.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { findProjectFile, NO_FILTERS, openSchemaEngine, readMigrationsList } from './schema-engine.js';
import type { MigrationList } from './schema-engine.js';
import {
  allMigrationsApplied,
  isPostgresUrl,
  isSqliteUrl,
  prepareSqliteFile,
  SQLITE_BUSY_TIMEOUT_MS,
  serializeMigrations,
} from './sqlite.js';

export interface MigrateLog {
  info(obj: object, msg?: string): void;
}

export interface MigrateOptions {
  /** Defaults to the project's prisma/migrations. */
  migrationsDir?: string;
}

export async function applyMigrations(
  databaseUrl: string,
  log?: MigrateLog,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const migrationsDir = options.migrationsDir ?? findProjectFile('prisma/migrations');
  const migrations = await readMigrationsList(migrationsDir);
  const provider = lockedProvider(migrations);

  if (isSqliteUrl(databaseUrl)) {
    requireProvider(provider, 'sqlite', databaseUrl);
    const names = migrations.migrationDirectories.map((d) => d.path);
    return serializeMigrations(databaseUrl, async () => {
      prepareSqliteFile(databaseUrl);
      if (allMigrationsApplied(databaseUrl, names)) return upToDate(names.length, log);
      const factory = new PrismaBetterSqlite3({ url: databaseUrl, timeout: SQLITE_BUSY_TIMEOUT_MS });
      return run(factory, migrations, log);
    });
  }
  if (isPostgresUrl(databaseUrl)) {
    requireProvider(provider, 'postgresql', databaseUrl);
    // The engine takes a PostgreSQL advisory lock itself, as migrate deploy does.
    return run(new PrismaPg({ connectionString: databaseUrl }), migrations, log);
  }
  throw new Error(`unsupported DATABASE_URL scheme: ${redact(databaseUrl)} (use file: or postgresql://)`);
}

async function run(
  inner: SqlMigrationAwareDriverAdapterFactory,
  migrationsList: MigrationList,
  log?: MigrateLog,
): Promise<{ applied: string[] }> {
  const { factory, disposeAll } = trackConnections(inner);
  const engine = await openSchemaEngine({ adapterFactory: factory });
  try {
    const out = await engine.applyMigrations({ migrationsList, filters: NO_FILTERS });
    const applied = out.appliedMigrationNames;
    const total = migrationsList.migrationDirectories.length;
    if (applied.length === 0) return upToDate(total, log);
    log?.info({ applied, total }, 'database migrations applied');
    return { applied };
  } catch (err) {
    throw explainBusy(err);
  } finally {
    engine.free();
    await disposeAll();
  }
}

function upToDate(total: number, log?: MigrateLog): { applied: string[] } {
  log?.info({ applied: [], total }, 'database schema up to date');
  return { applied: [] };
}

/** The engine reports a busy SQLite file as an unknown adapter error variant. */
function explainBusy(err: unknown): unknown {
  if (!/SocketTimeout|database is locked/.test(String(err))) return err;
  return new Error(
    'cannot apply database migrations: the SQLite file stayed locked by another connection. ' +
      'Pending migrations need exclusive access: stop other ptyhub processes using this database ' +
      '(and apply migrations before opening a Prisma client in this process), then retry.',
    { cause: err },
  );
}

/**
 * The engine never closes its connections, and on SQLite it holds its one in
 * locking_mode=EXCLUSIVE: close them, or every other connection to the file would wait.
 */
function trackConnections(inner: SqlMigrationAwareDriverAdapterFactory) {
  const opened: { dispose(): Promise<void> }[] = [];
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => {
      const conn = await inner.connect();
      opened.push(conn);
      return conn;
    },
    connectToShadowDb: async () => {
      const conn = await inner.connectToShadowDb();
      opened.push(conn);
      return conn;
    },
  };
  const disposeAll = async () => {
    await Promise.allSettled(opened.splice(0).map((c) => c.dispose()));
  };
  return { factory, disposeAll };
}

function lockedProvider(list: MigrationList): string | null {
  return /provider\s*=\s*"([^"]+)"/.exec(list.lockfile.content ?? '')?.[1] ?? null;
}

function requireProvider(actual: string | null, wanted: 'sqlite' | 'postgresql', url: string): void {
  if (actual === null || actual === wanted) return;
  if (wanted === 'postgresql') {
    throw new Error(
      `DATABASE_URL ${redact(url)} is PostgreSQL but the migrations in prisma/migrations are for ${actual}. ` +
        'Set provider = "postgresql" in prisma/schema.prisma, regenerate the client and create PostgreSQL ' +
        'migrations (see docs), then run `npx prisma migrate deploy` or this migrator again.',
    );
  }
  throw new Error(`DATABASE_URL ${redact(url)} is SQLite but the migrations are for ${actual}.`);
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}
