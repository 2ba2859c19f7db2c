// Prisma CLI configuration (Prisma 7 reads the datasource URL here, not from the schema).
// Only online CLI commands (`prisma migrate deploy`, `prisma migrate status`, `prisma studio`)
// use it; ptyhub itself migrates with server/db/migrate.ts, generates both clients with
// scripts/prisma-generate.mjs and writes migrations with scripts/db-new-migration.ts.
// The schema and migrations follow DATABASE_URL's provider, as ptyhub's own migrator does.
import path from 'node:path';
import { config } from 'dotenv';
import { defineConfig } from 'prisma/config';

config({ quiet: true });

const url = process.env.DATABASE_URL ?? 'file:./data/ptyhub.db';
const postgres = /^postgres(ql)?:\/\//i.test(url);

// ptyhub opens relative SQLite paths from the process cwd; make the CLI agree.
function databaseUrl(): string {
  return url.startsWith('file:') ? `file:${path.resolve(url.slice('file:'.length))}` : url;
}

export default defineConfig(
  postgres
    ? {
        schema: 'prisma/postgresql/schema.prisma',
        migrations: { path: 'prisma/migrations-postgresql' },
        datasource: { url: databaseUrl() },
      }
    : {
        schema: 'prisma/schema.prisma',
        migrations: { path: 'prisma/migrations' },
        datasource: { url: databaseUrl() },
      },
);
