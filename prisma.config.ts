// Prisma CLI configuration (Prisma 7 reads the datasource URL here, not from the schema).
// Only online CLI commands (`prisma migrate deploy`, `prisma studio`) use the URL;
// ptyhub itself migrates with server/db/migrate.ts and generates with scripts/prisma-generate.mjs.
import path from 'node:path';
import { config } from 'dotenv';
import { defineConfig } from 'prisma/config';

config({ quiet: true });

// ptyhub opens relative SQLite paths from the process cwd; make the CLI agree.
function databaseUrl(): string {
  const url = process.env.DATABASE_URL ?? 'file:./data/ptyhub.db';
  return url.startsWith('file:') ? `file:${path.resolve(url.slice('file:'.length))}` : url;
}

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: databaseUrl() },
});
