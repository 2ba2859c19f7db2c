// Prisma Client 7 has no query engine binary: it talks to the database through a
// driver adapter chosen from the URL. A Prisma client is generated for one provider, so
// there are two (scripts/prisma-generate.mjs): server/db/generated for SQLite and
// server/db/generated-pg for PostgreSQL, both from the one data model in prisma/schema.prisma.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient as SqlitePrismaClient } from './generated/client.js';
import type * as Sqlite from './generated/client.js';
import { PrismaClient as PostgresPrismaClient } from './generated-pg/client.js';
import type * as Postgres from './generated-pg/client.js';
import { DEFAULT_DB_TIMEOUT_MS, withDeadline } from './deadline.js';
import { postgresAdapter } from './drivers.js';
import { databaseProvider, postgresConnectionString } from './provider.js';
import { prepareSqliteFile } from './sqlite.js';

/**
 * The client type all code uses, whatever the database: the SQLite client's. Both clients
 * come from the same models, so they have the same delegates, methods, rows and arguments,
 * except that PostgreSQL accepts a few more arguments (e.g. `mode: 'insensitive'`). Code
 * that type-checks against this type is therefore valid on PostgreSQL as well, and
 * ClientCompatibility below makes tsc fail should the two clients ever diverge.
 * (TypeScript cannot relate the two generated declarations directly: their generic
 * conditional types are distinct declarations.)
 */
export type PrismaClient = SqlitePrismaClient;
export { Prisma } from './generated/client.js';
export type { User, AuthToken, TerminalSession } from './generated/client.js';

/**
 * A client whose every call has a deadline (`timeoutMs`, busy retries included) and
 * fails with DatabaseUnavailableError when the database cannot answer (deadline.ts).
 */
export function createPrismaClient(databaseUrl: string, opts: { timeoutMs?: number } = {}): PrismaClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DB_TIMEOUT_MS;
  return withDeadlines(createBareClient(databaseUrl, timeoutMs), timeoutMs);
}

// The default ('colorless') reads the caller's source file, synchronously, to quote the
// failing line in every error: a stall of the event loop for each failed call.
const ERROR_FORMAT = 'minimal';

function createBareClient(databaseUrl: string, timeoutMs: number): PrismaClient {
  switch (databaseProvider(databaseUrl)) {
    case 'sqlite':
      // WAL, and busy_timeout 0: a synchronous wait for another process's lock would
      // block the event loop; the lock is waited for asynchronously (deadline.ts).
      prepareSqliteFile(databaseUrl);
      return new SqlitePrismaClient({
        adapter: new PrismaBetterSqlite3({ url: databaseUrl, timeout: 0 }),
        errorFormat: ERROR_FORMAT,
      });
    case 'postgresql': {
      const PrismaPg = postgresAdapter();
      const client = new PostgresPrismaClient({
        adapter: new PrismaPg({
          connectionString: postgresConnectionString(databaseUrl),
          // Nothing waits unbounded: not for a pooled connection, a lock, or a reply.
          connectionTimeoutMillis: timeoutMs,
          statement_timeout: timeoutMs,
          query_timeout: timeoutMs + 1000,
          idle_in_transaction_session_timeout: timeoutMs * 2,
        }),
        errorFormat: ERROR_FORMAT,
      });
      // The one place the two client types meet; see PrismaClient and ClientCompatibility.
      return client as unknown as PrismaClient;
    }
  }
}

function withDeadlines(client: PrismaClient, timeoutMs: number): PrismaClient {
  const extended = client.$extends({
    query: {
      $allOperations({ model, operation, args, query }) {
        return withDeadline(model ? `${model}.${operation}` : operation, timeoutMs, () => query(args));
      },
    },
  });
  // Same delegates and methods at run time; the extension only wraps each call.
  return extended as unknown as PrismaClient;
}

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Extends<A, B> = [A] extends [B] ? true : false;
type Assert<T extends true> = T;
type Model = 'user' | 'authToken' | 'terminalSession';

/** Compile-time proof that the PostgreSQL client can stand in for the SQLite client type. */
export type ClientCompatibility = [
  Assert<Same<Sqlite.Prisma.ModelName, Postgres.Prisma.ModelName>>,
  Assert<Same<keyof SqlitePrismaClient, keyof PostgresPrismaClient>>,
  // Same methods on every model...
  Assert<Same<{ [M in Model]: keyof SqlitePrismaClient[M] }, { [M in Model]: keyof PostgresPrismaClient[M] }>>,
  // ...returning the same rows...
  Assert<Same<Sqlite.User, Postgres.User>>,
  Assert<Same<Sqlite.AuthToken, Postgres.AuthToken>>,
  Assert<Same<Sqlite.TerminalSession, Postgres.TerminalSession>>,
  // ...and accepting at least every argument the SQLite client accepts.
  Assert<Extends<Sqlite.Prisma.UserWhereInput, Postgres.Prisma.UserWhereInput>>,
  Assert<Extends<Sqlite.Prisma.AuthTokenWhereInput, Postgres.Prisma.AuthTokenWhereInput>>,
  Assert<Extends<Sqlite.Prisma.TerminalSessionWhereInput, Postgres.Prisma.TerminalSessionWhereInput>>,
  Assert<Extends<Sqlite.Prisma.UserUncheckedCreateInput, Postgres.Prisma.UserUncheckedCreateInput>>,
  Assert<Extends<Sqlite.Prisma.AuthTokenUncheckedCreateInput, Postgres.Prisma.AuthTokenUncheckedCreateInput>>,
  Assert<Extends<Sqlite.Prisma.TerminalSessionUncheckedCreateInput, Postgres.Prisma.TerminalSessionUncheckedCreateInput>>,
  Assert<Extends<Sqlite.Prisma.AuthTokenUncheckedUpdateManyInput, Postgres.Prisma.AuthTokenUncheckedUpdateManyInput>>,
  Assert<
    Extends<Sqlite.Prisma.TerminalSessionUncheckedUpdateManyInput, Postgres.Prisma.TerminalSessionUncheckedUpdateManyInput>
  >,
  Assert<Extends<Sqlite.Prisma.TerminalSessionOrderByWithRelationInput, Postgres.Prisma.TerminalSessionOrderByWithRelationInput>>,
  Assert<Extends<Sqlite.Prisma.TerminalSessionScalarFieldEnum, Postgres.Prisma.TerminalSessionScalarFieldEnum>>,
];
