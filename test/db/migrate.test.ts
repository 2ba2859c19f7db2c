import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { applyMigrations } from '../../server/db/migrate.js';
import { loadSchemaTools, sqliteMigrationDiff } from '../../server/db/migration-diff.js';
import { makeTempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const namesIn = (dir: string) =>
  readdirSync(path.join(root, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
const migrationNames = namesIn('prisma/migrations');

describe('applyMigrations', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let url: string;
  beforeEach(async () => {
    tmp = await makeTempDir();
    url = `file:${path.join(tmp.dir, 'nested', 'dir', 'ptyhub.db')}`;
  });
  afterEach(() => tmp.cleanup());

  it('applies every migration to an empty database, then nothing', async () => {
    const logged: string[] = [];
    const log = { info: (_obj: object, msg?: string) => void logged.push(msg ?? '') };

    expect(await applyMigrations(url, log)).toEqual({ applied: migrationNames });
    expect(await applyMigrations(url, log)).toEqual({ applied: [] });
    expect(logged).toEqual(['database migrations applied', 'database schema up to date']);

    const prisma = createPrismaClient(url);
    try {
      const tables = await prisma.$queryRawUnsafe<{ name: string }[]>(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
      );
      expect(tables.map((t) => t.name)).toEqual(
        expect.arrayContaining(['AuthToken', 'TerminalSession', 'User', '_prisma_migrations']),
      );
      const recorded = await prisma.$queryRawUnsafe<{ migration_name: string; finished_at: string | null }[]>(
        'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name',
      );
      expect(recorded.map((r) => r.migration_name)).toEqual(migrationNames);
      expect(recorded.every((r) => r.finished_at !== null)).toBe(true);
      const [mode] = await prisma.$queryRawUnsafe<{ journal_mode: string }[]>('PRAGMA journal_mode');
      expect(mode?.journal_mode).toBe('wal');
    } finally {
      await prisma.$disconnect();
    }
  });

  it('returns at once when up to date, even with the database open elsewhere', async () => {
    await applyMigrations(url);
    // The engine would need exclusive access; an open client (a running instance) must not block a no-op.
    const prisma = createPrismaClient(url);
    try {
      await prisma.user.count();
      const started = Date.now();
      expect(await applyMigrations(url)).toEqual({ applied: [] });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('applies once when called concurrently in one process', async () => {
    const results = await Promise.all([applyMigrations(url), applyMigrations(url), applyMigrations(url)]);
    expect(results.flatMap((r) => r.applied)).toEqual(migrationNames);
  });

  it('applies once when several processes start together', async () => {
    const run = promisify(execFile);
    const child = path.join(here, 'fixtures', 'migrate-child.ts');
    const outs = await Promise.all(
      [1, 2].map(() => run(process.execPath, ['--import', 'tsx', child, url], { cwd: root })),
    );
    const applied = outs.flatMap((o) => JSON.parse(o.stdout) as string[]);
    expect(applied).toEqual(migrationNames);
  });

  it('refuses migrations of the other provider, before connecting', async () => {
    const pgUrl = 'postgresql://u:secret@127.0.0.1:1/ptyhub';
    const sqliteDir = path.join(root, 'prisma/migrations');
    await expect(applyMigrations(pgUrl, undefined, { migrationsDir: sqliteDir })).rejects.toThrow(
      /PostgreSQL but the migrations in .*prisma\/migrations are for sqlite/,
    );
    await expect(applyMigrations(pgUrl, undefined, { migrationsDir: sqliteDir })).rejects.not.toThrow(/secret/);
    await expect(
      applyMigrations(url, undefined, { migrationsDir: path.join(root, 'prisma/migrations-postgresql') }),
    ).rejects.toThrow(/SQLite but the migrations in .* are for postgresql/);
  });

  it('refuses a PostgreSQL schema other than public, before connecting', async () => {
    await expect(applyMigrations('postgresql://u:secret@127.0.0.1:1/ptyhub?schema=other')).rejects.toThrow(
      /u:\*\*\*@.* asks for schema "other"/,
    );
  });

  it('rejects unknown URL schemes', async () => {
    await expect(applyMigrations('mysql://localhost/x')).rejects.toThrow(/unsupported DATABASE_URL/);
  });
});

// One data model: the migrations of both providers and the derived PostgreSQL schema
// follow prisma/schema.prisma (postgres.test.ts checks the PostgreSQL migrations on a server).
describe('schema and migrations', () => {
  it('the SQLite migrations produce prisma/schema.prisma', async () => {
    const schemaPath = path.join(root, 'prisma/schema.prisma');
    const diff = await sqliteMigrationDiff(path.join(root, 'prisma/migrations'), {
      path: schemaPath,
      content: readFileSync(schemaPath, 'utf8'),
    });
    expect(diff.changed, `missing migration (npm run db:new-migration -- <name>):\n${diff.sql}`).toBe(false);
  });

  it('prisma/postgresql/schema.prisma is derived from prisma/schema.prisma', async () => {
    const tools = await loadSchemaTools();
    const derived = tools.derivePostgresqlSchema(readFileSync(path.join(root, tools.SOURCE_SCHEMA), 'utf8'));
    expect(readFileSync(path.join(root, tools.POSTGRESQL_SCHEMA), 'utf8'), 'run npm run db:new-migration -- <name>').toBe(
      derived,
    );
    expect(derived).toMatch(/provider = "postgresql"/);
    expect(derived).not.toMatch(/"sqlite"/);
  });

  it('both providers have the same migrations', () => {
    expect(namesIn('prisma/migrations-postgresql')).toEqual(migrationNames);
    expect(migrationNames.length).toBeGreaterThan(0);
  });
});
