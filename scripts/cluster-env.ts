// The settings `npm run start:cluster` gave its instances (Redis, database, key prefix),
// in ./data/cluster.env while it runs, so operator tools started from the same directory
// (`npm run inspect`) look at the same Redis and database without being told.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'dotenv';

export const CLUSTER_ENV_FILE = path.join('data', 'cluster.env');

const KEYS = ['REDIS_URL', 'REDIS_KEY_PREFIX', 'DATABASE_URL'] as const;
export type ClusterEnv = Partial<Record<(typeof KEYS)[number], string>>;

export function writeClusterEnv(values: ClusterEnv, file = CLUSTER_ENV_FILE): void {
  const lines = KEYS.filter((k) => values[k]).map((k) => `${k}=${values[k]}`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // May carry a Redis password: readable by this user only.
  fs.writeFileSync(file, `# written by npm run start:cluster; removed when it stops\n${lines.join('\n')}\n`, { mode: 0o600 });
}

export function readClusterEnv(file = CLUSTER_ENV_FILE): ClusterEnv | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const parsed = parse(text);
  return Object.fromEntries(KEYS.filter((k) => parsed[k]).map((k) => [k, parsed[k]]));
}

export function removeClusterEnv(file = CLUSTER_ENV_FILE): void {
  fs.rmSync(file, { force: true });
}
