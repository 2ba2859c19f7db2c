#!/usr/bin/env node
// Generates both Prisma clients, offline too:
//   server/db/generated     from prisma/schema.prisma (SQLite: the one source of the data model)
//   server/db/generated-pg  from the same schema with provider "postgresql" (derived here)
//   node scripts/prisma-generate.mjs [--force]
// Each client is skipped when its schema and the Prisma versions match its last run (a
// stamp file), so an up-to-date run takes a fraction of a second; both run in parallel
// otherwise. `prisma generate` needs no schema engine, yet the CLI insists on having one
// and tries to download it; without network we point it at any executable (node).
//
// The PostgreSQL schema is derived, never edited: derivePostgresqlSchema() swaps the
// datasource provider and the client's output path, nothing else. The committed copy,
// prisma/postgresql/schema.prisma, is written by scripts/db-new-migration.ts together with
// the PostgreSQL migrations (it is the model those migrations produce); the client here is
// generated from the derivation of the current schema, so both clients always match.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const SOURCE_SCHEMA = 'prisma/schema.prisma';
/** The committed PostgreSQL schema (a migration artifact, see scripts/db-new-migration.ts). */
export const POSTGRESQL_SCHEMA = 'prisma/postgresql/schema.prisma';
const SQLITE_OUTPUT = 'server/db/generated';
const POSTGRESQL_OUTPUT = 'server/db/generated-pg';

const DERIVED_HEADER = `// GENERATED from ${SOURCE_SCHEMA}: do not edit. The data model has one source, the
// SQLite schema; this is the same model with provider "postgresql" (derivePostgresqlSchema in
// scripts/prisma-generate.mjs). scripts/db-new-migration.ts rewrites it together with
// prisma/migrations-postgresql, so it is the model those migrations produce.

`;

/**
 * The PostgreSQL variant of the SQLite schema: same models, provider "postgresql", the
 * client generated into server/db/generated-pg. `schemaDir` is the directory the result
 * will live in (the client output path is relative to it).
 */
export function derivePostgresqlSchema(source, schemaDir = path.join(root, path.dirname(POSTGRESQL_SCHEMA))) {
  const output = path.relative(schemaDir, path.join(root, POSTGRESQL_OUTPUT)).split(path.sep).join('/');
  let swappedProvider = 0;
  let swappedOutput = 0;
  const derived = source
    .replace(/^(datasource\s+\w+\s*\{[^}]*?\bprovider\s*=\s*)"sqlite"/m, (_m, head) => {
      swappedProvider++;
      return `${head}"postgresql"`;
    })
    .replace(/^(generator\s+client\s*\{[^}]*?\boutput\s*=\s*)"[^"]*"/m, (_m, head) => {
      swappedOutput++;
      return `${head}"${output}"`;
    });
  if (swappedProvider !== 1 || swappedOutput !== 1) {
    throw new Error(
      `${SOURCE_SCHEMA} must have one datasource with provider = "sqlite" and one generator "client" with an output`,
    );
  }
  if (/@db\./.test(source.replace(/\/\/.*$/gm, ''))) {
    throw new Error(`${SOURCE_SCHEMA} uses native types (@db.*): they cannot be shared by SQLite and PostgreSQL`);
  }
  return DERIVED_HEADER + derived;
}

/** A native engine the CLI may have downloaded on a machine with network. */
function hasSchemaEngineBinary(require) {
  if (process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.env.PRISMA_MIGRATION_ENGINE_BINARY) return true;
  const dirs = ['@prisma/engines', 'prisma'].map((pkg) => path.dirname(require.resolve(`${pkg}/package.json`)));
  return dirs.some((dir) => readdirSync(dir).some((f) => /^schema-engine-(?!.*\.(wasm|js|d\.ts)$)/.test(f)));
}

function prismaGenerate(cli, schemaPath, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, 'generate', '--schema', schemaPath], { cwd: root, env, stdio: 'inherit' });
    child.once('error', (err) => resolve(err.message));
    child.once('close', (code) => resolve(code === 0 ? null : `exit ${code}`));
  });
}

async function main() {
  const require = createRequire(path.join(root, 'package.json'));
  const versions = ['prisma', '@prisma/client'].map((pkg) => `${pkg}@${require(`${pkg}/package.json`).version}`).join('\n');
  const source = readFileSync(path.join(root, SOURCE_SCHEMA), 'utf8');
  // The derived schema is written where neither git nor the image sees it; a fixed path
  // keeps the generated client (which embeds the schema text) identical from run to run.
  const pgSchemaDir = path.join(root, 'node_modules/.cache/ptyhub-prisma');
  const targets = [
    { name: 'SQLite', outDir: SQLITE_OUTPUT, schemaPath: path.join(root, SOURCE_SCHEMA), schema: null },
    {
      name: 'PostgreSQL',
      outDir: POSTGRESQL_OUTPUT,
      schemaPath: path.join(pgSchemaDir, 'schema.prisma'),
      schema: derivePostgresqlSchema(source, pgSchemaDir),
    },
  ];
  const force = process.argv.includes('--force');
  const stale = targets.filter((t) => {
    t.stamp = createHash('sha256').update(t.schema ?? source).update(`\n${versions}`).digest('hex');
    const stampFile = path.join(root, t.outDir, '.ptyhub-stamp');
    const upToDate =
      existsSync(path.join(root, t.outDir, 'client.ts')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === t.stamp;
    return force || !upToDate;
  });
  if (stale.length === 0) {
    console.log('prisma-generate: clients are up to date');
    return;
  }

  const env = { ...process.env };
  if (!hasSchemaEngineBinary(require)) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
  const cli = require.resolve('prisma/build/index.js');
  const failures = await Promise.all(
    stale.map(async (t) => {
      if (t.schema !== null) {
        mkdirSync(path.dirname(t.schemaPath), { recursive: true });
        writeFileSync(t.schemaPath, t.schema);
      }
      const failed = await prismaGenerate(cli, t.schemaPath, env);
      if (failed) return `${t.name} (${failed})`;
      writeFileSync(path.join(root, t.outDir, '.ptyhub-stamp'), t.stamp);
      // Ignored whatever the project's .gitignore says: a generated client is never committed.
      writeFileSync(path.join(root, t.outDir, '.gitignore'), '*\n');
      return null;
    }),
  );
  const failed = failures.filter(Boolean);
  if (failed.length > 0) {
    console.error(`prisma-generate: prisma generate failed for ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

// Imported by scripts/db-new-migration.ts and the tests for derivePostgresqlSchema: run only as a script.
if (process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))) {
  await main();
}
