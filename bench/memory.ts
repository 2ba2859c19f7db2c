// Memory benchmarks (`npm run bench -- memory`): resident memory (RSS) of one instance as
// `npm start` runs it, the build in dist/ (tsx's loader would add its own), with
// default settings and a new SQLite database. "Server" is the web server process plus
// its pty host process; shells are not counted. See README.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { type BenchResult, Device, login, sleep } from './lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USER = 'bench';
const PASSWORD = 'bench-password-123';
const MiB = 1024 * 1024;

export const MEMORY_TARGETS = {
  /** Web server, idle after a sign-in, once V8 has settled (IDLE_SETTLE_MS). */
  idleWebMiB: 100,
  /** Web server + pty host per idle terminal (a device attached to each), shells not counted. */
  perTerminalKiB: 150,
};

/** Time to let start-up work finish (query compiler, background compilation) before measuring. */
const SETTLE_MS = 3000;
/** Idle time after which V8's memory reducer has shrunk the heap of an idle process. */
const IDLE_SETTLE_MS = 40_000;
const TERMINALS = 1000;

/** Resident set size of a process, in bytes (/proc; Linux). */
export function rssBytes(pid: number | null | undefined): number {
  if (!pid) return NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** `npm start` builds first; so do we (skipped when dist/ is up to date). */
function build(): void {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`build failed (${r.status})`);
}

async function startBuilt(env: Record<string, string> = {}): Promise<TestServer> {
  build();
  const server = await startServer({ built: true, serverId: `bench-mem-${process.pid}`, env: { LOG_LEVEL: 'info', ...env } });
  await server.addUser(USER, PASSWORD);
  return server;
}

/**
 * Stop the instance; a pty host still ending 1,000 shells on a loaded machine past the
 * helper's wait is killed (its shells get SIGHUP from their closed ptys).
 */
async function stop(server: TestServer): Promise<void> {
  const hostPid = server.hostPid();
  await server.stop().catch(() => {
    if (hostPid) process.kill(hostPid, 'SIGKILL');
  });
}

function both(server: TestServer): { web: number; host: number } {
  return { web: rssBytes(server.process.pid), host: rssBytes(server.hostPid()) };
}

/** Idle RSS: after start, after a sign-in (a device connected), and settled. */
async function benchIdle(): Promise<BenchResult> {
  const server = await startBuilt();
  const devices: Device[] = [];
  try {
    await sleep(SETTLE_MS);
    const started = both(server);
    const token = await login(server.url, USER, PASSWORD);
    devices.push(await Device.open(server.url, token, 'idle'));
    await sleep(SETTLE_MS);
    const signedIn = both(server);
    await sleep(IDLE_SETTLE_MS - SETTLE_MS);
    const settled = both(server);
    return {
      id: 'memory-idle',
      title: `(f) idle RSS of one instance (build, SQLite): after start, after a sign-in, and idle ${IDLE_SETTLE_MS / 1000} s`,
      checks: [{ metric: 'web server, idle', value: settled.web / MiB, unit: 'MiB', op: '<', target: MEMORY_TARGETS.idleWebMiB }],
      info: {
        'web after start': mib(started.web),
        'web after sign-in': mib(signedIn.web),
        'pty host after start': mib(started.host),
        'pty host idle': mib(settled.host),
        'web + host after sign-in': mib(signedIn.web + signedIn.host),
        'web + host idle': mib(settled.web + settled.host),
      },
    };
  } finally {
    for (const d of devices) d.close();
    await stop(server);
  }
}

/** RSS per idle terminal: 1,000 shells (dash), each with the device attached. */
async function benchTerminals(): Promise<BenchResult> {
  const server = await startBuilt({
    SHELL: '/bin/sh',
    MAX_TERMINALS_PER_USER: String(TERMINALS),
    // Creating 1,000 terminals is 2,000 requests: not a test of the rate limits.
    SOCKET_EVENTS_PER_SECOND: '5000',
    USER_EVENTS_PER_SECOND: '5000',
  });
  const devices: Device[] = [];
  try {
    const token = await login(server.url, USER, PASSWORD);
    const d = await Device.open(server.url, token, 'terminals');
    devices.push(d);
    const open = async () => {
      const r = await d.must('terminal:create', { cols: 80, rows: 24 });
      await d.must('terminal:attach', { terminalId: r.terminal.id });
    };
    // The first terminal loads what every terminal uses (node-pty, code paths): not per terminal.
    await open();
    await sleep(SETTLE_MS);
    const before = both(server);
    const t0 = performance.now();
    for (let i = 1; i < TERMINALS; i++) await open();
    const seconds = (performance.now() - t0) / 1000;
    await sleep(SETTLE_MS);
    const after = both(server);
    const n = TERMINALS - 1;
    const per = (k: 'web' | 'host') => (after[k] - before[k]) / n / 1024;
    return {
      id: 'memory-terminals',
      title: `(g) RSS per idle terminal: ${TERMINALS} terminals on one instance, a device attached to each (web server + pty host, shells not counted)`,
      checks: [{ metric: 'per terminal', value: per('web') + per('host'), unit: 'KiB', op: '<', target: MEMORY_TARGETS.perTerminalKiB }],
      info: {
        'web per terminal': `${per('web').toFixed(1)} KiB`,
        'pty host per terminal': `${per('host').toFixed(1)} KiB`,
        'web before / after': `${mib(before.web)} / ${mib(after.web)}`,
        'pty host before / after': `${mib(before.host)} / ${mib(after.host)}`,
        'created and attached in': `${seconds.toFixed(1)} s`,
      },
    };
  } finally {
    for (const d of devices) d.close();
    await stop(server);
  }
}

export const MEMORY_BENCHES: Array<{ id: string; run: () => Promise<BenchResult> }> = [
  { id: 'memory-idle', run: benchIdle },
  { id: 'memory-terminals', run: benchTerminals },
];
