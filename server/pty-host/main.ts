// Entry point of the pty host process: owns this instance's ptys so that they outlive
// the web server (restarts, upgrades, crashes). Started detached by the web server
// (server/pty-host-client/launcher.ts) with the web server's environment and working
// directory; ended by `npm run host:stop`, SIGTERM, or idling.
import fs from 'node:fs';
import net from 'node:net';
import { loadConfig, loadDotEnv } from '../config/env.js';
import { createLogger } from '../log/logger.js';
import { hostPaths } from '../pty-protocol/host-paths.js';
import { lookupOsAccount } from '../os-accounts/passwd.js';
import { PtyHostServer } from './host-server.js';
import { detectCgroupV2 } from './cgroup.js';
import { accountModeProblem } from './os-account.js';

/** Set by the launcher: a pipe on which the host says `ready` (or `running`, if another host answers). */
const READY_FD_KEY = 'PTY_HOST_READY_FD';
const readyFd = process.env[READY_FD_KEY] ? Number(process.env[READY_FD_KEY]) : null;
delete process.env[READY_FD_KEY];

function tellLauncher(word: 'ready' | 'running'): void {
  if (readyFd === null) return;
  try {
    fs.writeSync(readyFd, `${word}\n`);
    fs.closeSync(readyFd);
  } catch {
    // the launcher is gone; nothing to tell
  }
}

await loadDotEnv();
const config = loadConfig();
const logger = createLogger({ level: config.LOG_LEVEL, serverId: config.SERVER_ID, format: 'json' }).child({ component: 'pty-host' });
const paths = hostPaths(config);

// Account mode: root, so that each shell can run as its own OS account; the web server
// (SERVICE_USER) may connect to the socket, nobody else.
let socketGroup: number | undefined;
if (config.TERMINAL_USER_MODE === 'account') {
  const problem = accountModeProblem();
  const service = problem ? null : await lookupOsAccount(config.SERVICE_USER);
  const why = problem ?? (service ? null : `SERVICE_USER "${config.SERVICE_USER}" is not an OS account (see README, Security model)`);
  if (why) {
    logger.fatal(why);
    console.error(`ptyhub pty host: ${why}`);
    process.exit(1);
  }
  socketGroup = service!.gid;
}

// Another host already answering on the socket (two web servers starting at once)?
const alive = await new Promise<boolean>((resolve) => {
  const probe = net.connect(paths.socket);
  probe.once('connect', () => (probe.destroy(), resolve(true)));
  probe.once('error', () => resolve(false));
});
if (alive) {
  logger.info({ socket: paths.socket }, 'a pty host already runs on this socket; exiting');
  tellLauncher('running');
  process.exit(0);
}

const host = new PtyHostServer({
  socketPath: paths.socket,
  serverId: config.SERVER_ID,
  hostEnv: process.env,
  userMode: config.TERMINAL_USER_MODE,
  socketGroup,
  replayChars: config.REPLAY_BUFFER_CHARS,
  killGraceMs: 2000,
  idleExitMs: config.PTY_HOST_IDLE_EXIT_MS,
  logger,
  onStopped: () => exit(),
});
await host.listen();
fs.writeFileSync(paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
logger.info({ socket: paths.socket, pid: process.pid, mode: config.TERMINAL_USER_MODE }, 'pty host listening');
// Said once, plainly: there are no per-terminal cgroup limits (README, "Security model").
const cgroup = detectCgroupV2();
logger.info(
  { cgroupV2: cgroup.usable, reason: cgroup.reason },
  'resource limits: no per-terminal cgroup; shells get the pty host\'s resource limits (ulimit) and whatever limits the service manager sets for the host as a whole',
);
tellLauncher('ready');

function exit(): void {
  // Only our own pid file: a newer host may have replaced it.
  try {
    if (fs.readFileSync(paths.pidFile, 'utf8').trim() === String(process.pid)) fs.rmSync(paths.pidFile);
  } catch {
    // already gone
  }
  logger.info('pty host stopped');
  process.exit(0);
}

// The web server's Ctrl-C reaches only its own process group; the host has its own.
// SIGTERM/SIGINT sent to the host itself end its terminals, like `npm run host:stop`.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void host.stop().then(exit));
process.on('SIGHUP', () => logger.info('SIGHUP ignored'));
