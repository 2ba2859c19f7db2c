// The PostgreSQL driver and client, loaded only by a server that uses PostgreSQL. A SQLite
// server (the default) would otherwise keep node-postgres, its Prisma adapter and the
// second generated client in memory for nothing (about 8 MiB of RSS). Node >= 20.19
// loads ES modules with require(), so createPrismaClient stays synchronous.
import { createRequire } from 'node:module';

type PgAdapterModule = typeof import('@prisma/adapter-pg');
type PgClientModule = typeof import('./generated-pg/client.js');

const require = createRequire(import.meta.url);

export function postgresAdapter(): PgAdapterModule['PrismaPg'] {
  return (require('@prisma/adapter-pg') as PgAdapterModule).PrismaPg;
}

export function postgresClient(): PgClientModule['PrismaClient'] {
  return (require('./generated-pg/client.js') as PgClientModule).PrismaClient;
}
