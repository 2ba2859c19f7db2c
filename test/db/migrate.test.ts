import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPrismaClient } from '../../server/db/client.js';
import { applyMigrations } from '../../server/db/migrate.js';
import { makeTempDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const migrationNames = readdirSync(path.join(here, '../../prisma/migrations'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

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
      [1, 2].map(() => run(process.execPath, ['--import', 'tsx', child, url], { cwd: path.join(here, '../..') })),
    );
    const applied = outs.flatMap((o) => JSON.parse(o.stdout) as string[]);
    expect(applied).toEqual(migrationNames);
  });

  it('refuses PostgreSQL with the SQLite migrations, before connecting', async () => {
    await expect(applyMigrations('postgresql://u:secret@127.0.0.1:1/ptyhub')).rejects.toThrow(
      /migrations in prisma\/migrations are for sqlite.*prisma migrate deploy/s,
    );
    await expect(applyMigrations('postgresql://u:secret@127.0.0.1:1/ptyhub')).rejects.not.toThrow(/secret/);
  });

  it('rejects unknown URL schemes', async () => {
    await expect(applyMigrations('mysql://localhost/x')).rejects.toThrow(/unsupported DATABASE_URL/);
  });
});
