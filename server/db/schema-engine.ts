// Prisma's schema engine compiled to WebAssembly: creates and applies migrations with
// no native engine binary (which the Prisma CLI cannot download offline).
import { readFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as bg from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { MigrationList, SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';

export type { SchemaEngine, MigrationList };

export const NO_FILTERS: SchemaFilter = { externalTables: [], externalEnums: [] };

// lib ES2023 without DOM declares no WebAssembly types; this is the part we use.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

let ready: Promise<void> | undefined;

/**
 * The package's entry does `import './x.wasm'`, which plain Node 20 rejects without
 * --experimental-wasm-modules; so instantiate the .wasm next to its glue ourselves.
 *
 * The engine's timers (e.g. its 10 s limit on taking PostgreSQL's migration lock) are
 * never cleared once the awaited step finishes; unref them, or every process that
 * migrated a PostgreSQL database would linger 10 s before it could exit.
 */
function initWasm(): Promise<void> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const glue = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const bytes = await readFile(path.join(path.dirname(glue), 'schema_engine_bg.wasm'));
    const imports: Record<string, unknown> = { ...bg };
    for (const [name, fn] of Object.entries(bg)) {
      if (!name.startsWith('__wbg_setTimeout_') || typeof fn !== 'function') continue;
      imports[name] = (...args: unknown[]): unknown => {
        const timer: unknown = Reflect.apply(fn, undefined, args);
        (timer as { unref?: () => void } | null)?.unref?.();
        return timer;
      };
    }
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': imports });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
  })();
  return ready;
}

export interface EngineOptions {
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  /** Prisma schema files as [path, content]; needed by diff against a datamodel. */
  datamodels?: [string, string][];
  log?: (line: string) => void;
}

export async function openSchemaEngine(opts: EngineOptions): Promise<SchemaEngine> {
  await initWasm();
  const adapter = bindMigrationAwareSqlAdapterFactory(opts.adapterFactory);
  return bg.SchemaEngine.new({ datamodels: opts.datamodels }, (line: string) => opts.log?.(line), adapter);
}

/** Walks up from this file to the project root (works from server/db and dist/server/db). */
export function findProjectFile(rel: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, rel);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${rel} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Reads prisma/migrations the way the Prisma CLI hands it to the engine. */
export async function readMigrationsList(baseDir: string): Promise<MigrationList> {
  const lockPath = path.join(baseDir, 'migration_lock.toml');
  const lockContent = existsSync(lockPath) ? await readFile(lockPath, 'utf8') : null;
  const entries = existsSync(baseDir) ? await readdir(baseDir, { withFileTypes: true }) : [];
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const migrationDirectories = await Promise.all(
    dirs.map(async (name) => {
      const file = path.join(baseDir, name, 'migration.sql');
      const content = await readFile(file, 'utf8').then(
        (value) => ({ tag: 'ok' as const, value }),
        (err: Error) => ({ tag: 'error' as const, value: err.message }),
      );
      return { path: name, migrationFile: { path: 'migration.sql', content } };
    }),
  );
  return {
    baseDir,
    lockfile: { path: 'migration_lock.toml', content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}
