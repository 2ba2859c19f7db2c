// Which database a DATABASE_URL names, and where that provider's migrations live.
// `file:` is SQLite (the default), `postgresql://` / `postgres://` is PostgreSQL.

export type DatabaseProvider = 'sqlite' | 'postgresql';

/** Migrations per provider, relative to the project root. Both get the same migration names. */
export const MIGRATIONS_DIR: Record<DatabaseProvider, string> = {
  sqlite: 'prisma/migrations',
  postgresql: 'prisma/migrations-postgresql',
};

export function isSqliteUrl(url: string): boolean {
  return url.startsWith('file:');
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export function databaseProvider(url: string): DatabaseProvider {
  if (isSqliteUrl(url)) return 'sqlite';
  if (isPostgresUrl(url)) return 'postgresql';
  throw new Error(
    `unsupported DATABASE_URL scheme: ${redactDatabaseUrl(url)} (use file:./path.db or postgresql://user:pass@host:5432/db)`,
  );
}

/** A URL safe for messages and logs: any password replaced. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * The pg connection string for a PostgreSQL URL. Everything in it (host, port, user,
 * password, database, sslmode, ...) is read by node-postgres. ptyhub keeps its tables in
 * the database's `public` schema; Prisma's `?schema=` parameter is not read by the driver
 * adapter, so another schema is refused instead of being silently ignored.
 */
export function postgresConnectionString(url: string): string {
  let schema: string | null = null;
  try {
    schema = new URL(url).searchParams.get('schema');
  } catch {
    throw new Error(`DATABASE_URL is not a valid URL: ${redactDatabaseUrl(url)}`);
  }
  if (schema !== null && schema !== 'public') {
    throw new Error(
      `DATABASE_URL ${redactDatabaseUrl(url)} asks for schema "${schema}": ptyhub uses the public schema; ` +
        'give it a database of its own instead',
    );
  }
  return url;
}
