// Runs once before the suite: make sure the Prisma client has been generated.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '../..');
  if (!fs.existsSync(path.join(root, 'server/db/generated'))) {
    execFileSync(process.execPath, [path.join(root, 'scripts/prisma-generate.mjs')], { cwd: root, stdio: 'inherit' });
  }
}
