// Applies pending migrations to DATABASE_URL (default file:./data/ptyhub.db), offline:
// prisma/migrations on SQLite, prisma/migrations-postgresql on PostgreSQL.
//   npx tsx scripts/db-migrate.ts        (or, after the build: node dist/scripts/db-migrate.js)
import { config } from 'dotenv';
import { applyMigrations } from '../server/db/migrate.js';

config({ quiet: true });

const url = process.env.DATABASE_URL ?? 'file:./data/ptyhub.db';
const log = { info: (obj: object, msg?: string) => console.log(msg ?? '', JSON.stringify(obj)) };

applyMigrations(url, log).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
