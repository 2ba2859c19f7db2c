// Writes the next migration for BOTH databases, offline (replaces
// `prisma migrate dev --create-only`), under one name:
//   prisma/migrations/<ts>_<name>/migration.sql             SQLite: the engine replays the
//       existing migrations on an in-memory shadow database and diffs against prisma/schema.prisma
//   prisma/migrations-postgresql/<ts>_<name>/migration.sql  PostgreSQL: the engine diffs the
//       model the PostgreSQL migrations produce (prisma/postgresql/schema.prisma) against the
//       model derived from prisma/schema.prisma; then that file is updated to the new model
//
//   npx tsx scripts/db-new-migration.ts <name> [--allow-empty]
//   (npm run db:new-migration -- <name>)
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  loadSchemaTools,
  postgresqlSchemaDiff,
  POSTGRESQL_LOCKFILE,
  sqliteMigrationDiff,
  SQLITE_LOCKFILE,
  type MigrationDiff,
} from '../server/db/migration-diff.js';
import { MIGRATIONS_DIR } from '../server/db/provider.js';
import { findProjectFile } from '../server/db/schema-engine.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const allowEmpty = args.includes('--allow-empty');
  const rawName = args.find((a) => !a.startsWith('--'));
  const name = rawName?.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  if (!name) throw new Error('usage: npx tsx scripts/db-new-migration.ts <name> [--allow-empty]');

  const tools = await loadSchemaTools();
  const root = path.dirname(findProjectFile('package.json'));
  const sourcePath = path.join(root, tools.SOURCE_SCHEMA);
  const pgSchemaPath = path.join(root, tools.POSTGRESQL_SCHEMA);
  const sqliteDir = path.join(root, MIGRATIONS_DIR.sqlite);
  const pgDir = path.join(root, MIGRATIONS_DIR.postgresql);

  const source = await readFile(sourcePath, 'utf8');
  const pgSchema = tools.derivePostgresqlSchema(source);
  const pgCurrent = existsSync(pgSchemaPath) ? await readFile(pgSchemaPath, 'utf8') : null;

  // Both folders carry the same history, migration for migration.
  const [sqliteNames, pgNames] = await Promise.all([migrationNames(sqliteDir), migrationNames(pgDir)]);
  if (sqliteNames.join('\n') !== pgNames.join('\n')) {
    throw new Error(
      `${MIGRATIONS_DIR.sqlite} and ${MIGRATIONS_DIR.postgresql} must hold the same migrations; ` +
        `only SQLite: [${sqliteNames.filter((n) => !pgNames.includes(n)).join(', ')}], ` +
        `only PostgreSQL: [${pgNames.filter((n) => !sqliteNames.includes(n)).join(', ')}]`,
    );
  }
  if (pgCurrent === null && pgNames.length > 0) {
    throw new Error(`${tools.POSTGRESQL_SCHEMA} is missing: it must be the model ${MIGRATIONS_DIR.postgresql} produces`);
  }

  const sqlite = await sqliteMigrationDiff(sqliteDir, { path: sourcePath, content: source });
  const pg = await postgresqlSchemaDiff(pgCurrent === null ? null : { path: pgSchemaPath, content: pgCurrent }, {
    path: pgSchemaPath,
    content: pgSchema,
  });

  if (!sqlite.changed && !pg.changed && !allowEmpty) {
    if (pgCurrent !== pgSchema) {
      // e.g. only comments changed: no migration, but the derived file follows the source.
      await writeFile(pgSchemaPath, pgSchema);
      console.log(`No schema changes that need a migration; updated ${tools.POSTGRESQL_SCHEMA}.`);
    } else {
      console.log('No schema changes since the last migration; nothing written (use --allow-empty to force).');
    }
    return;
  }

  const dirName = `${timestamp(new Date())}_${name}`;
  const last = sqliteNames.at(-1);
  if (last !== undefined && dirName <= last) {
    throw new Error(`the new migration ${dirName} would not sort after ${last} (check the clock)`);
  }
  const written = [
    await writeMigration(sqliteDir, dirName, sqlite, SQLITE_LOCKFILE),
    await writeMigration(pgDir, dirName, pg, POSTGRESQL_LOCKFILE),
  ];
  await mkdir(path.dirname(pgSchemaPath), { recursive: true });
  await writeFile(pgSchemaPath, pgSchema);
  for (const file of [...written, pgSchemaPath]) console.log(`Wrote ${path.relative(process.cwd(), file)}`);
  console.log('Review both migrations, then run the tests (they apply them to SQLite and PostgreSQL).');
}

async function writeMigration(baseDir: string, dirName: string, diff: MigrationDiff, lockfile: string): Promise<string> {
  const file = path.join(baseDir, dirName, 'migration.sql');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, diff.sql);
  const lockPath = path.join(baseDir, 'migration_lock.toml');
  if (!existsSync(lockPath)) await writeFile(lockPath, lockfile);
  return file;
}

async function migrationNames(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Prisma's migration folder prefix: UTC YYYYMMDDHHMMSS. */
function timestamp(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
