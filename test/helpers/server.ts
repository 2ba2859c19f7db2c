// Starts a real ptyhub server as a child process on an ephemeral port, with its own
// temp SQLite file, for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { hashPassword } from '../../server/auth/passwords.js';
import { createPrismaClient } from '../../server/db/client.js';
import { createUser } from '../../server/db/users.js';
import { PROJECT_ROOT } from '../../server/paths.js';
import { hostPaths, type HostPaths } from '../../server/pty-protocol/host-paths.js';
import { eventually } from './eventually.js';

export interface TestServer {
  url: string;
  port: number;
  serverId: string;
  databaseUrl: string;
  dir: string;
  process: ChildProcess;
  /** Every log line so far (pino JSON, parsed). */
  logs: Array<Record<string, unknown>>;
  addUser(username: string, password: string): Promise<void>;
  /** Resolves with the first log line matching, waiting up to timeoutMs. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The pty host's socket, pid file and log (it runs in its own process). */
  host: HostPaths;
  /**
   * SIGTERM and wait for exit; returns the exit code. Then stops the server's pty host
   * (ending its shells) and removes its directory, unless keepHost (a restart test).
   */
  stop(opts?: { keepHost?: boolean }): Promise<number | null>;
  kill9(): Promise<void>;
  /** The pty host's pid, or null when none runs. */
  hostPid(): number | null;
  /** End the pty host (SIGTERM: it ends its shells), wait until it is gone, remove its directory. */
  stopHost(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse a directory (and so the database) of an earlier server. */
  dir?: string;
  serverId?: string;
  /** Run the build (dist/, `npm start`'s `node dist/server/main.js`) instead of the sources through tsx. */
  built?: boolean;
}

/** `node --import <this>` runs the TypeScript sources directly, from any cwd. */
export const TSX_LOADER = pathToFileURL(path.join(PROJECT_ROOT, 'node_modules/tsx/dist/loader.mjs')).href;

/** The CLUSTER_SECRET every test server gets unless a test sets another. */
export const TEST_CLUSTER_SECRET = 'test-cluster-secret-0123456789abcdef';

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const hosts = new Set<HostPaths>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  // Pty hosts are detached on purpose (they outlive their web server): end them here.
  for (const h of hosts) {
    const pid = readPid(h);
    if (pid) signal(pid, 'SIGKILL');
  }
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-test-'));
  // Kept until the test process exits (tests may read the database after a stop).
  if (!process.env.PTYHUB_KEEP_TEST_DIRS) tempDirs.add(dir);
  // A test may point the server at another database (PostgreSQL) through env.DATABASE_URL.
  const databaseUrl = opts.env?.DATABASE_URL ?? `file:${path.join(dir, 'ptyhub.db')}`;
  const serverId = opts.serverId ?? `test-${randomUUID().slice(0, 8)}`;
  const host = hostPaths({ SERVER_ID: serverId, PTY_HOST_SOCKET: path.join(dir, 'data', 'pty-host', `${serverId}.sock`) });
  hosts.add(host);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    LANG: 'C.UTF-8',
    SHELL: '/bin/bash',
    HOST: '127.0.0.1',
    PORT: '0',
    SERVER_ID: serverId,
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'debug',
    TERMINAL_CWD: dir,
    PTY_HOST_SOCKET: host.socket,
    // Used only with Redis; the same on every test server, so they form one cluster.
    CLUSTER_SECRET: TEST_CLUSTER_SECRET,
    ...opts.env,
  };
  const entry = opts.built ? [path.join(PROJECT_ROOT, 'dist/server/main.js')] : ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/main.ts')];
  const child = spawn(process.execPath, entry, {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: Array<Record<string, unknown>> = [];
  const waiters = new Set<{ match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }>();
  const logFile = fs.createWriteStream(path.join(dir, 'server.log'));
  readline.createInterface({ input: child.stdout! }).on('line', (text) => {
    logFile.write(`${text}\n`);
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const w of waiters) if (w.match(line)) (waiters.delete(w), w.resolve(line));
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    logFile.write(d);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );

  const waitForLog = (match: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const w = { match, resolve: (l: Record<string, unknown>) => (clearTimeout(timer), resolve(l)) };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`timed out waiting for a log line (server ${serverId}); stderr: ${stderr.slice(-2000)}`));
      }, timeoutMs);
      waiters.add(w);
    });
  };

  const listening = await Promise.race([
    waitForLog((l) => l.msg === 'listening', 30_000),
    exited.then((code) => {
      throw new Error(`server exited with ${code} before listening: ${stderr.slice(-3000)}`);
    }),
  ]);
  const port = Number(listening.port);
  const stopHost = async () => {
    const pid = readPid(host);
    if (pid) {
      signal(pid, 'SIGTERM');
      await eventually(() => !isAlive(pid), 15_000, `pty host ${pid} of ${serverId} to exit`, 25);
    }
    // Instances sharing a directory share the socket folder: remove only this host's files.
    for (const f of [host.socket, host.pidFile, host.logFile]) fs.rmSync(f, { force: true });
    try {
      fs.rmdirSync(path.dirname(host.socket));
    } catch {
      // another instance's host still uses it
    }
    hosts.delete(host);
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    serverId,
    databaseUrl,
    dir,
    process: child,
    logs,
    waitForLog,
    async addUser(username, password) {
      const prisma = createPrismaClient(databaseUrl);
      try {
        await createUser(prisma, { id: randomUUID(), username, passwordHash: await hashPassword(password) });
      } finally {
        await prisma.$disconnect();
      }
    },
    host,
    async stop(o = {}) {
      let code = child.exitCode;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        code = await exited;
      }
      if (!o.keepHost) await stopHost();
      return code;
    },
    hostPid: () => readPid(host),
    stopHost,
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

function readPid(h: HostPaths): number | null {
  try {
    const pid = Number(fs.readFileSync(h.pidFile, 'utf8').trim());
    return pid > 0 && isAlive(pid) ? pid : null;
  } catch {
    return null;
  }
}

/** True while the process runs (a zombie awaiting its reaper counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** Resolves once the server reports Redis ready and its registry back on Redis. */
export function redisRecovered(server: TestServer, timeoutMs = 30_000): Promise<void> {
  return eventually(
    async () => {
      const h = (await (await fetch(`${server.url}/healthz`)).json()) as { redis: { state: string }; registry: { backend: string } };
      return h.redis.state === 'ready' && h.registry.backend === 'redis';
    },
    timeoutMs,
    `Redis recovery on ${server.serverId}`,
    100,
  );
}
