// Applies the migrations of the URL's provider like `prisma migrate deploy`, but through
// the WebAssembly schema engine and a driver adapter, so it needs no engine binary and no
// network: prisma/migrations for SQLite, prisma/migrations-postgresql for PostgreSQL.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import type { SqlDriverAdapter, SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { postgresAdapter } from './drivers.js';
import { databaseProvider, MIGRATIONS_DIR, postgresConnectionString, redactDatabaseUrl } from './provider.js';
import type { DatabaseProvider } from './provider.js';
import { findProjectFile, NO_FILTERS, openSchemaEngine, readMigrationsList } from './schema-engine.js';
import type { MigrationList } from './schema-engine.js';
import { allMigrationsApplied, prepareSqliteFile, SQLITE_BUSY_TIMEOUT_MS, serializeMigrations } from './sqlite.js';

export interface MigrateLog {
  info(obj: object, msg?: string): void;
}

export interface MigrateOptions {
  /** Defaults to the provider's folder: prisma/migrations or prisma/migrations-postgresql. */
  migrationsDir?: string;
}

export async function applyMigrations(
  databaseUrl: string,
  log?: MigrateLog,
  options: MigrateOptions = {},
): Promise<{ applied: string[] }> {
  const provider = databaseProvider(databaseUrl);
  const migrationsDir = options.migrationsDir ?? findProjectFile(MIGRATIONS_DIR[provider]);
  const migrations = await readMigrationsList(migrationsDir);
  requireProvider(lockedProvider(migrations), provider, migrationsDir, databaseUrl);

  if (provider === 'sqlite') {
    const names = migrations.migrationDirectories.map((d) => d.path);
    return serializeMigrations(databaseUrl, async () => {
      prepareSqliteFile(databaseUrl);
      if (allMigrationsApplied(databaseUrl, names)) return upToDate(names.length, log);
      const factory = new PrismaBetterSqlite3({ url: databaseUrl, timeout: SQLITE_BUSY_TIMEOUT_MS });
      return run(factory, migrations, log, explainBusy);
    });
  }
  // Instances starting together: the engine takes PostgreSQL's advisory lock first, as
  // `prisma migrate deploy` does, so each migration is applied once; the others wait and
  // then find nothing to do. But the engine gives up after 10 s, which a long migration
  // on another instance can exceed, so we take the same lock first and wait as long as it
  // takes; the engine's own request is then granted at once (advisory locks nest within a
  // session). Everything runs on one connection (a pool of one that never idles it out),
  // and closing that connection at the end releases the lock.
  const PrismaPg = postgresAdapter();
  const pg = new PrismaPg({ connectionString: postgresConnectionString(databaseUrl), max: 1, idleTimeoutMillis: 0 });
  const conn = await pg.connect();
  const explain = (err: unknown) => explainPostgres(err, databaseUrl);
  try {
    await takeMigrationLock(conn, log);
  } catch (err) {
    await conn.dispose();
    throw explain(err);
  }
  const oneConnection: SqlMigrationAwareDriverAdapterFactory = {
    provider: pg.provider,
    adapterName: pg.adapterName,
    connect: async () => conn,
    connectToShadowDb: () => pg.connectToShadowDb(),
  };
  return run(oneConnection, migrations, log, explain);
}

/** The advisory lock id of Prisma's migrations on PostgreSQL (schema engine and CLI). */
export const POSTGRES_MIGRATION_LOCK = 72707369;

async function takeMigrationLock(conn: SqlDriverAdapter, log?: MigrateLog): Promise<void> {
  const query = (sql: string) => ({ sql, args: [], argTypes: [] });
  const tried = await conn.queryRaw(query(`SELECT pg_try_advisory_lock(${POSTGRES_MIGRATION_LOCK})`));
  if (tried.rows[0]?.[0] === true) return;
  log?.info({}, 'waiting for another instance to finish applying database migrations');
  await conn.executeRaw(query(`SELECT pg_advisory_lock(${POSTGRES_MIGRATION_LOCK})`));
}

async function run(
  inner: SqlMigrationAwareDriverAdapterFactory,
  migrationsList: MigrationList,
  log: MigrateLog | undefined,
  explain: (err: unknown) => unknown,
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
    throw explain(err);
  } finally {
    engine.free();
    await disposeAll();
  }
}

/**
 * True when `databaseUrl` is SQLite and every migration is already recorded (the usual
 * start), read over an ordinary connection: nothing for the schema engine to do.
 */
export async function sqliteUpToDate(databaseUrl: string, options: MigrateOptions = {}): Promise<{ total: number } | null> {
  if (databaseProvider(databaseUrl) !== 'sqlite') return null;
  const migrations = await readMigrationsList(options.migrationsDir ?? findProjectFile(MIGRATIONS_DIR.sqlite));
  const names = migrations.migrationDirectories.map((d) => d.path);
  prepareSqliteFile(databaseUrl);
  return allMigrationsApplied(databaseUrl, names) ? { total: names.length } : null;
}

export function upToDate(total: number, log?: MigrateLog): { applied: string[] } {
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

/** Driver errors name only a kind (DatabaseNotReachable, ...): say what and where. */
function explainPostgres(err: unknown, url: string): unknown {
  const cause = (err as { cause?: { kind?: unknown; originalMessage?: unknown; host?: unknown; port?: unknown } } | null)
    ?.cause;
  if (!(err instanceof Error) || typeof cause?.kind !== 'string') return err;
  const where = typeof cause.host === 'string' ? ` (${cause.host}${cause.port ? `:${String(cause.port)}` : ''})` : '';
  const detail = typeof cause.originalMessage === 'string' ? cause.originalMessage : `${cause.kind}${where}`;
  return new Error(`cannot apply database migrations to ${redactDatabaseUrl(url)}: ${detail}`, { cause: err });
}

/**
 * The engine never closes its connections: close them. On SQLite it holds its one in
 * locking_mode=EXCLUSIVE (every other connection to the file would wait); on PostgreSQL
 * closing the connection releases the migration advisory lock.
 */
function trackConnections(inner: SqlMigrationAwareDriverAdapterFactory) {
  const opened = new Set<{ dispose(): Promise<void> }>();
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => {
      const conn = await inner.connect();
      opened.add(conn);
      return conn;
    },
    connectToShadowDb: async () => {
      const conn = await inner.connectToShadowDb();
      opened.add(conn);
      return conn;
    },
  };
  const disposeAll = async () => {
    const all = [...opened];
    opened.clear();
    await Promise.allSettled(all.map((c) => c.dispose()));
  };
  return { factory, disposeAll };
}

function lockedProvider(list: MigrationList): string | null {
  return /provider\s*=\s*"([^"]+)"/.exec(list.lockfile.content ?? '')?.[1] ?? null;
}

function requireProvider(locked: string | null, wanted: DatabaseProvider, dir: string, url: string): void {
  if (locked === null || locked === wanted) return;
  throw new Error(
    `DATABASE_URL ${redactDatabaseUrl(url)} is ${wanted === 'sqlite' ? 'SQLite' : 'PostgreSQL'} but the migrations in ` +
      `${dir} are for ${locked} (migration_lock.toml); the ${wanted} migrations are in ${MIGRATIONS_DIR[wanted]}.`,
  );
}
