// Finds this instance's pty host, or starts one: detached (its own process group and
// session), stdio to its log file, so that stopping the web server (Ctrl-C, SIGTERM,
// kill -9) leaves the host and its shells running.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type net from 'node:net';
import type { HostPaths } from '../pty-protocol/host-paths.js';
import { backoffDelay } from '../redis/backoff.js';
import { connectSocket } from './host-connection.js';

/** The host's entry point next to this file's folder, as source (tsx) or built (dist). */
const HOST_MAIN = path.join(import.meta.dirname, '..', 'pty-host', `main${path.extname(import.meta.filename)}`);

export interface LaunchOptions {
  startTimeoutMs: number;
  /** False when a supervisor runs the host: wait for it instead of starting one. */
  start: boolean;
  env?: NodeJS.ProcessEnv;
}

const isAbsent = (err: unknown) => ['ENOENT', 'ECONNREFUSED'].includes((err as NodeJS.ErrnoException).code ?? '');

/** Connect to a running host, or start one (or wait for the supervisor's) and connect. */
export async function connectOrStartHost(paths: HostPaths, opts: LaunchOptions): Promise<{ socket: net.Socket; started: boolean }> {
  try {
    return { socket: await connectSocket(paths.socket, opts.startTimeoutMs), started: false };
  } catch (err) {
    if (!isAbsent(err)) throw err;
  }
  if (opts.start) {
    await startHost(paths, opts);
    return { socket: await connectSocket(paths.socket, opts.startTimeoutMs), started: true };
  }
  const deadline = Date.now() + opts.startTimeoutMs;
  for (let attempt = 1; ; attempt++) {
    await new Promise((r) => setTimeout(r, backoffDelay(attempt, { baseMs: 100, maxMs: 2000 })));
    try {
      return { socket: await connectSocket(paths.socket, opts.startTimeoutMs), started: false };
    } catch (err) {
      if (!isAbsent(err)) throw err;
      if (Date.now() > deadline) {
        throw new Error(`no pty host answers at ${paths.socket} (PTY_HOST_START=never): start it, e.g. systemctl start ptyhub-host`);
      }
    }
  }
}

/** Start a host and wait until it listens (it says so on a pipe; no polling). */
export async function startHost(paths: HostPaths, opts: Pick<LaunchOptions, 'startTimeoutMs' | 'env'>): Promise<void> {
  fs.mkdirSync(path.dirname(paths.socket), { recursive: true, mode: 0o700 });
  const log = fs.openSync(paths.logFile, 'a', 0o600);
  const child = spawn(process.execPath, [...process.execArgv, HOST_MAIN], {
    detached: true,
    stdio: ['ignore', log, log, 'pipe'],
    env: { ...(opts.env ?? process.env), PTY_HOST_READY_FD: '3', PTY_HOST_SOCKET: paths.socket },
  });
  fs.closeSync(log);
  const ready = child.stdio[3] as NodeJS.ReadableStream;
  try {
    await new Promise<void>((resolve, reject) => {
      let said = '';
      const timer = setTimeout(() => fail(`did not start within ${opts.startTimeoutMs} ms`), opts.startTimeoutMs);
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`the pty host ${why}; see ${paths.logFile}`));
      };
      ready.on('data', (d: Buffer) => {
        said += d.toString();
        if (/^(ready|running)\n/.test(said)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (err) => fail(`could not be started (${err.message})`));
      child.once('exit', (code, signal) => {
        if (!/^(ready|running)\n/.test(said)) fail(`exited at start (${signal ?? `code ${code}`})`);
      });
    });
  } finally {
    (ready as unknown as net.Socket).destroy();
    child.unref();
  }
}
