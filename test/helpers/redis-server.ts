// A private redis-server per test file, on a free loopback port, that tests can kill -9,
// freeze (SIGSTOP) and restart on the same port.
//
// redis-server runs as a guarded daemon (see guarded-daemon.ts): no server outlives the
// test run. `pid` is redis-server's own pid.
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGuardedDaemon, type Daemon } from './guarded-daemon.js';

export interface RedisServer {
  port: number;
  url: string;
  pid: number;
  /** SIGTERM, wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, no waiting (a crash). */
  kill9(): void;
  /** SIGSTOP: the server keeps its socket open but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stop (or reap a killed one) and start again on the same port, empty. */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  port?: number;
  /** Adds --requirepass; the url then carries it. */
  password?: string;
  readyTimeoutMs?: number;
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

let binaryReady: Promise<void> | null = null;

function onPath(cmd: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  return dirs.some((d) => {
    try {
      accessSync(path.join(d, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Install redis-server once if missing (root only; a file lock serialises parallel test files). */
function ensureRedisBinary(): Promise<void> {
  binaryReady ??= (async () => {
    if (onPath('redis-server')) return;
    if (process.getuid?.() !== 0) {
      throw new Error('redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server) and re-run the tests.');
    }
    const script = 'command -v redis-server >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server)';
    await promisify(execFile)('flock', [path.join(os.tmpdir(), 'ptyhub-redis-install.lock'), 'sh', '-c', script], {
      timeout: 10 * 60_000,
    });
    if (!onPath('redis-server')) throw new Error('installing redis-server with apt-get did not put it on PATH');
  })();
  return binaryReady;
}

/** Start redis-server on `port`; resolves once it logs "Ready to accept connections". */
function spawnServer(port: number, dir: string, password: string | undefined, timeoutMs: number): Promise<Daemon> {
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--pidfile', path.join(dir, 'redis.pid'),
    '--dir', dir,
    '--logfile', '',
    ...(password ? ['--requirepass', password] : []),
  ];
  return startGuardedDaemon({
    name: `redis-server on port ${port}`,
    command: ['redis-server', ...args],
    ready: /Ready to accept connections/,
    timeoutMs,
    orphanSignal: 'KILL',
  });
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  await ensureRedisBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptyhub-redis-'));
  const timeoutMs = opts.readyTimeoutMs ?? 10_000;
  let port = opts.port ?? 0;
  let running: Daemon | null = null;
  // A free port can be taken between asking and binding: try a few when we chose it.
  for (let attempt = 0; !running; attempt++) {
    const tryPort = opts.port ?? (await freePort());
    try {
      running = await spawnServer(tryPort, dir, opts.password, timeoutMs);
      port = tryPort;
    } catch (err) {
      if (opts.port !== undefined || attempt >= 4) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  let paused = false;
  let current: Daemon | null = running;

  const shutdown = async (): Promise<void> => {
    const r = current;
    current = null;
    if (!r) return;
    if (paused) {
      try {
        process.kill(r.pid, 'SIGCONT');
      } catch {
        /* already dead (kill9) */
      }
    }
    paused = false;
    await r.stop('SIGTERM');
  };

  const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : '';
  const handle: RedisServer = {
    port,
    url: `redis://${auth}127.0.0.1:${port}`,
    pid: running.pid,
    async stop() {
      await shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
    kill9() {
      if (current) process.kill(current.pid, 'SIGKILL');
    },
    pause() {
      if (current) process.kill(current.pid, 'SIGSTOP');
      paused = true;
    },
    resume() {
      if (current) process.kill(current.pid, 'SIGCONT');
      paused = false;
    },
    async restart() {
      await shutdown();
      current = await spawnServer(port, dir, opts.password, timeoutMs);
      handle.pid = current.pid;
    },
  };
  return handle;
}
