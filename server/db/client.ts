// Prisma Client 7 has no query engine binary: it talks to the database through a
// driver adapter chosen from the URL.
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.js';
import { isPostgresUrl, isSqliteUrl, prepareSqliteFile, SQLITE_BUSY_TIMEOUT_MS } from './sqlite.js';

export { PrismaClient, Prisma } from './generated/client.js';
export type { User, AuthToken, TerminalSession } from './generated/client.js';

export function createPrismaClient(databaseUrl: string): PrismaClient {
  if (isSqliteUrl(databaseUrl)) {
    // WAL + busy timeout: concurrent writers (other processes, tests) wait instead of SQLITE_BUSY.
    prepareSqliteFile(databaseUrl);
    return new PrismaClient({
      adapter: new PrismaBetterSqlite3({ url: databaseUrl, timeout: SQLITE_BUSY_TIMEOUT_MS }),
    });
  }
  if (isPostgresUrl(databaseUrl)) {
    // Needs a client generated with provider = "postgresql" (see docs); the committed one is SQLite.
    return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
  }
  throw new Error('unsupported DATABASE_URL scheme (use file: or postgresql://)');
}
