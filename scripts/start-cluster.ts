// npm run start:cluster: a local cluster for development and demos.
// Starts redis-server (unless REDIS_URL or REDIS_HOST is set) and two ptyhub instances,
// server-1 on port 3000 and server-2 on port 3001, sharing one SQLite database and one
// Redis, each with its metrics on loopback (9464, 9465). Prints the addresses once every
// instance answers /healthz, and leaves its settings in ./data/cluster.env for
// `npm run inspect`. Ctrl-C stops the web servers and Redis; each instance's pty host keeps
// its terminals, re-adopted by the next start (`SERVER_ID=server-1 npm run host:stop` ends them).
// The Redis it starts requires a password (REDIS_PASSWORD from the environment or .env,
// else random per run; given to redis-server on its stdin, not its command line), and the
// instances sign their messages with CLUSTER_SECRET (from the environment or .env, else
// random per run).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { parseArgs } from 'node:util';
import { loadDotEnv } from '../server/config/env.js';
import { applyMigrations } from '../server/db/migrate.js';
import { PROJECT_ROOT } from '../server/paths.js';
import { removeClusterEnv, writeClusterEnv } from './cluster-env.js';

await loadDotEnv();
const { values } = parseArgs({
  options: {
    ports: { type: 'string', default: '3000,3001' },
    'redis-port': { type: 'string', default: '6390' },
    /** Metrics port of the first instance; the next ones count up. "off": no metrics. */
    'metrics-port': { type: 'string', default: '9464' },
  },
});
const ports = values.ports.split(',').map(Number);
const metricsPorts = values['metrics-port'] === 'off' ? null : ports.map((_, i) => Number(values['metrics-port']) + i);
const instances: ChildProcess[] = [];
let redisProcess: ChildProcess | null = null;
const DATA = path.join(PROJECT_ROOT, 'data');
fs.mkdirSync(DATA, { recursive: true });

function pipeLogs(name: string, child: ChildProcess): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    readline.createInterface({ input: stream }).on('line', (line) => {
      let text = line;
      try {
        const j = JSON.parse(line) as { level: number; msg: string; [k: string]: unknown };
        const { level, msg, time: _t, serverId: _s, pid: _p, hostname: _h, ...rest } = j;
        const lvl = level >= 50 ? 'ERROR' : level >= 40 ? 'WARN ' : level >= 30 ? 'INFO ' : 'DEBUG';
        text = `${lvl} ${msg}${Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : ''}`;
      } catch {
        /* not JSON: print as is */
      }
      console.log(`[${name}] ${text}`);
    });
  }
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve()));
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Resolves once the instance answers /healthz (ok or degraded); rejects if it exits first. */
function waitHealthy(name: string, port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    let delay = 50;
    let timer: NodeJS.Timeout | undefined;
    const exited = () => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (see its log above)`));
    };
    child.once('exit', exited);
    const attempt = () => {
      fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })
        .then((r) => r.status === 200, () => false)
        .then((healthy) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          if (healthy) {
            child.off('exit', exited);
            return resolve();
          }
          if (Date.now() > deadline) {
            child.off('exit', exited);
            return reject(new Error(`${name} did not answer /healthz within ${timeoutMs / 1000} s`));
          }
          timer = setTimeout(attempt, (delay = Math.min(delay * 2, 1000)));
        });
    };
    attempt();
  });
}

let redisUrl = process.env.REDIS_URL;
if (!redisUrl && !process.env.REDIS_HOST) {
  const port = Number(values['redis-port']);
  console.log(`[cluster] starting redis-server on 127.0.0.1:${port}`);
  const password = process.env.REDIS_PASSWORD || randomBytes(24).toString('hex');
  const redis = spawn('redis-server', ['-'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  redis.stdin!.end([`port ${port}`, 'bind 127.0.0.1', 'save ""', 'appendonly no', `requirepass ${password}`, ''].join('\n'));
  redis.once('error', (err) => {
    console.error(`[cluster] could not start redis-server (${err.message}). Install it (apt-get install redis-server) or set REDIS_URL.`);
    process.exit(1);
  });
  redisProcess = redis;
  pipeLogs('redis', redis);
  await waitForPort(port, 10_000);
  redisUrl = `redis://:${password}@127.0.0.1:${port}`;
}

const databaseUrl = process.env.DATABASE_URL ?? `file:${path.join(DATA, 'ptyhub.db')}`;
// Migrate once, before the instances start, so they never race for the schema.
await applyMigrations(databaseUrl);

const clusterSecret = process.env.CLUSTER_SECRET || randomBytes(32).toString('hex');
const entry = path.join(PROJECT_ROOT, 'dist/server/main.js');
if (!fs.existsSync(entry)) {
  console.error('[cluster] dist/ is missing: run `npm run build` first (npm run start:cluster does).');
  process.exit(1);
}
const clusterEnv = path.join(DATA, 'cluster.env');
writeClusterEnv({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: process.env.REDIS_KEY_PREFIX, DATABASE_URL: databaseUrl }, clusterEnv);
const ready = ports.map((port, i) => {
  const serverId = `server-${i + 1}`;
  const child = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      PORT: String(port),
      SERVER_ID: serverId,
      REDIS_URL: redisUrl,
      CLUSTER_SECRET: clusterSecret,
      DATABASE_URL: databaseUrl,
      ...(metricsPorts ? { METRICS_PORT: String(metricsPorts[i]), METRICS_HOST: '127.0.0.1' } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Own process group: Ctrl-C reaches only this script, which stops the instances in order.
    detached: true,
  });
  instances.push(child);
  pipeLogs(serverId, child);
  child.once('exit', (code) => console.log(`[cluster] ${serverId} exited with ${code}`));
  return waitHealthy(serverId, port, child, 60_000).then(() => ({ serverId, port, metricsPort: metricsPorts?.[i] }));
});

let stopping = false;
const stopAll = (exitCode = 0) => {
  if (stopping) return;
  stopping = true;
  console.log('[cluster] stopping');
  // Instances first (they tell their devices to reconnect; terminals stay in the pty hosts), Redis last.
  const exited = (c: ChildProcess) =>
    new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve(null);
      c.once('exit', resolve);
      c.kill('SIGTERM');
    });
  Promise.all(instances.map(exited))
    .then(() => redisProcess && exited(redisProcess))
    .finally(() => {
      removeClusterEnv(clusterEnv);
      process.exit(exitCode);
    });
};
process.on('SIGINT', () => stopAll());
process.on('SIGTERM', () => stopAll());

try {
  const up = await Promise.all(ready);
  console.log('[cluster] ready:');
  for (const s of up) {
    const metrics = s.metricsPort ? `   metrics http://127.0.0.1:${s.metricsPort}/metrics` : '';
    console.log(`[cluster]   ${s.serverId}  http://127.0.0.1:${s.port}${metrics}`);
  }
  console.log('[cluster] npm run inspect shows the live registry; Ctrl-C stops them (their pty hosts keep the terminals)');
} catch (err) {
  console.error(`[cluster] ${err instanceof Error ? err.message : String(err)}; stopping`);
  stopAll(1);
}
