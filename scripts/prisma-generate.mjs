#!/usr/bin/env node
// Generates the Prisma client into server/db/generated, offline too.
//   node scripts/prisma-generate.mjs [--force]
// Skips the work when the schema and Prisma versions match the last run (a stamp file).
// `prisma generate` needs no schema engine, yet the CLI insists on having one and
// tries to download it; without network we point it at any executable (node).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const outDir = path.join(root, 'server/db/generated');
const stampFile = path.join(outDir, '.ptyhub-stamp');

function stamp() {
  const hash = createHash('sha256');
  hash.update(readFileSync(path.join(root, 'prisma/schema.prisma')));
  for (const pkg of ['prisma', '@prisma/client']) hash.update(`\n${pkg}@${require(`${pkg}/package.json`).version}`);
  return hash.digest('hex');
}

/** A native engine the CLI may have downloaded on a machine with network. */
function hasSchemaEngineBinary() {
  if (process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.env.PRISMA_MIGRATION_ENGINE_BINARY) return true;
  const dirs = ['@prisma/engines', 'prisma'].map((pkg) => path.dirname(require.resolve(`${pkg}/package.json`)));
  return dirs.some((dir) => readdirSync(dir).some((f) => /^schema-engine-(?!.*\.(wasm|js|d\.ts)$)/.test(f)));
}

const wanted = stamp();
const force = process.argv.includes('--force');
if (!force && existsSync(path.join(outDir, 'client.ts')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === wanted) {
  console.log('prisma-generate: client is up to date');
  process.exit(0);
}

const env = { ...process.env };
if (!hasSchemaEngineBinary()) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;

const cli = require.resolve('prisma/build/index.js');
const result = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' });
if (result.status !== 0) {
  console.error(`prisma-generate: prisma generate failed (${result.error?.message ?? `exit ${result.status}`})`);
  process.exit(1);
}
writeFileSync(stampFile, wanted);
