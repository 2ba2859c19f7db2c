#!/usr/bin/env node
// `npm run build` (and the first step of `npm start`): Prisma clients, the server (tsc)
// and the browser client (vite), each skipped when its inputs are unchanged since its
// last build (a content hash in a stamp file under dist/), so a restart with no source
// change starts in seconds instead of rebuilding everything.
//   node scripts/build.mjs [--force]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');

const STEPS = [
  {
    name: 'server',
    inputs: ['server', 'common', 'scripts', 'tsconfig.json', 'package-lock.json'],
    output: 'dist/server/main.js',
    command: [process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']],
  },
  {
    name: 'client',
    inputs: ['client', 'common', 'vite.config.ts', 'package-lock.json'],
    output: 'dist/client/index.html',
    command: [process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn']],
  },
];

/** Every file under the inputs (sorted), hashed with its path and content. */
function hashInputs(inputs) {
  const hash = createHash('sha256');
  const walk = (rel) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const entry of readdirSync(abs).sort()) if (entry !== 'node_modules') walk(path.join(rel, entry));
      return;
    }
    hash.update(rel).update('\0').update(readFileSync(abs)).update('\0');
  };
  for (const input of inputs) walk(input);
  return hash.digest('hex');
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

run(process.execPath, [path.join(root, 'scripts/prisma-generate.mjs')]);
mkdirSync(path.join(root, 'dist'), { recursive: true });
for (const step of STEPS) {
  // Hashed after Prisma generation: the generated clients are server inputs.
  const digest = hashInputs(step.inputs);
  const stampFile = path.join(root, 'dist', `.build-${step.name}.stamp`);
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '';
  if (!force && stamp === digest && existsSync(path.join(root, step.output))) {
    console.log(`build: ${step.name} is up to date`);
    continue;
  }
  const started = Date.now();
  run(...step.command);
  writeFileSync(stampFile, digest);
  console.log(`build: ${step.name} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
