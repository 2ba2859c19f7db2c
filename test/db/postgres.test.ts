// PostgreSQL: migrations (applied, concurrent, matching the data model) and the same
// session-store and users contract as on SQLite, on a private server started here.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { applyMigrations, POSTGRES_MIGRATION_LOCK } from '../../server/db/migrate.js';
import { loadSchemaTools, postgresqlSchemaDiff } from '../../server/db/migration-diff.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres-server.js';
import { sessionStoreContract, usersContract } from './contract.js';
import { makeTempDir, openTestDb, type TestDb } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const migrationNames = readdirSync(path.join(root, 'prisma/migrations-postgresql'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

let pg: PostgresServer;
let db: TestDb;

beforeAll(async () => {
  pg = await startPostgres();
  db = await openTestDb(await pg.createDatabase());
}, 10 * 60_000); // the first run on a fresh machine may install PostgreSQL with apt-get

afterAll(async () => {
  await db?.close();
  await pg?.stop();
});

const databaseOf = (url: string) => new URL(url).pathname.slice(1);

describe('PostgreSQL migrations', () => {
  it('applies every migration to an empty database, then nothing, and lets go of the database', async () => {
    const url = await pg.createDatabase();
    const logged: string[] = [];
    const log = { info: (_obj: object, msg?: string) => void logged.push(msg ?? '') };

    expect(await applyMigrations(url, log)).toEqual({ applied: migrationNames });
    expect(await applyMigrations(url, log)).toEqual({ applied: [] });
    expect(logged).toEqual(['database migrations applied', 'database schema up to date']);

    const name = databaseOf(url);
    const tables = await pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename", name);
    expect(tables.split('\n')).toEqual(['AuthToken', 'TerminalSession', 'User', '_prisma_migrations']);
    const recorded = await pg.psql(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY 1',
      name,
    );
    expect(recorded.split('\n')).toEqual(migrationNames);
    // The migrator's connection is closed, so its advisory lock is gone too.
    expect(await pg.psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${name}'`)).toBe('0');
    const lockSql = `SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
      WHERE l.locktype = 'advisory' AND d.datname = '${name}'`;
    expect(await pg.psql(lockSql)).toBe('0');
  });

  it('waits for the migration lock held by another instance', async () => {
    const url = await pg.createDatabase();
    const other = createPrismaClient(url);
    try {
      let migrated = false;
      let migration: Promise<unknown> = Promise.resolve();
      const logged: string[] = [];
      const log = { info: (_obj: object, msg?: string) => void logged.push(msg ?? '') };
      await other.$transaction(async (tx) => {
        await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK})`);
        migration = applyMigrations(url, log).then((r) => {
          migrated = true;
          return r;
        });
        await new Promise((r) => setTimeout(r, 500));
        expect(migrated).toBe(false);
        expect(logged).toEqual(['waiting for another instance to finish applying database migrations']);
      });
      expect(await migration).toEqual({ applied: migrationNames });
    } finally {
      await other.$disconnect();
    }
  });

  it('applies each migration once when several instances start together', async () => {
    const url = await pg.createDatabase();
    const child = path.join(here, 'fixtures', 'migrate-child.ts');
    // One other process, and two callers here: each has its own connection, as instances do.
    const inProcesses = [1].map(async () => {
      const out = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, url], { cwd: root });
      return JSON.parse(out.stdout) as string[];
    });
    const inThisProcess = [1, 2].map(async () => (await applyMigrations(url)).applied);
    const applied = (await Promise.all([...inProcesses, ...inThisProcess])).flat();
    expect(applied).toEqual(migrationNames);
    expect(await pg.psql('SELECT count(*) FROM _prisma_migrations', databaseOf(url))).toBe(String(migrationNames.length));
  });

  it('produce exactly the data model of prisma/schema.prisma', async () => {
    // One database from the committed migrations, one from the current model's full
    // script (the engine's diff from an empty database): their schemas must be identical.
    const migrated = await pg.createDatabase();
    await applyMigrations(migrated);
    const tools = await loadSchemaTools();
    const model = tools.derivePostgresqlSchema(readFileSync(path.join(root, tools.SOURCE_SCHEMA), 'utf8'));
    const { sql } = await postgresqlSchemaDiff(null, { path: tools.POSTGRESQL_SCHEMA, content: model });
    const expected = databaseOf(await pg.createDatabase());
    await pg.psql(sql, expected);
    const actual = await pg.describeSchema(databaseOf(migrated), ['_prisma_migrations']);
    expect(actual).toContain('TerminalSession|status|text');
    expect(actual).toBe(await pg.describeSchema(expected));
  });

  it('a next migration written offline takes a migrated database to the new model', async () => {
    // What db-new-migration writes for PostgreSQL: the diff between two models, no server.
    const tools = await loadSchemaTools();
    const model = readFileSync(path.join(root, tools.POSTGRESQL_SCHEMA), 'utf8');
    const next = model.replace(
      /^(model TerminalSession \{\n)/m,
      '$1  note String? @default("n")\n  @@index([status, lastActivityAt])\n',
    );
    expect(next).not.toBe(model);
    const file = (content: string) => ({ path: tools.POSTGRESQL_SCHEMA, content });
    const step = await postgresqlSchemaDiff(file(model), file(next));
    expect(step.changed).toBe(true);
    expect(step.sql).toMatch(/ALTER TABLE "TerminalSession" ADD COLUMN\s+"note" TEXT DEFAULT 'n'/);

    const tmp = await makeTempDir();
    try {
      const dir = path.join(tmp.dir, 'migrations');
      await cp(path.join(root, 'prisma/migrations-postgresql'), dir, { recursive: true });
      await mkdir(path.join(dir, '99990101000000_next'));
      await writeFile(path.join(dir, '99990101000000_next', 'migration.sql'), step.sql);
      const upgraded = await pg.createDatabase();
      await applyMigrations(upgraded);
      expect(await applyMigrations(upgraded, undefined, { migrationsDir: dir })).toEqual({
        applied: ['99990101000000_next'],
      });
      const fresh = databaseOf(await pg.createDatabase());
      await pg.psql((await postgresqlSchemaDiff(null, file(next))).sql, fresh);
      const actual = await pg.describeSchema(databaseOf(upgraded), ['_prisma_migrations']);
      expect(actual).toContain('TerminalSession|TerminalSession_status_lastActivityAt_idx|');
      expect(actual).toContain('TerminalSession|note|text');
      expect(actual).toBe(await pg.describeSchema(fresh));
    } finally {
      await tmp.cleanup();
    }
  });
});

sessionStoreContract(() => db);
usersContract(() => db);
