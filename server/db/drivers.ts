// The PostgreSQL driver, loaded only by a server that uses PostgreSQL: a SQLite server
// (the default) would otherwise keep node-postgres and its Prisma adapter in memory for
// nothing. require() keeps createPrismaClient synchronous.
import { createRequire } from 'node:module';

type PgAdapterModule = typeof import('@prisma/adapter-pg');

const require = createRequire(import.meta.url);

export function postgresAdapter(): PgAdapterModule['PrismaPg'] {
  return (require('@prisma/adapter-pg') as PgAdapterModule).PrismaPg;
}
