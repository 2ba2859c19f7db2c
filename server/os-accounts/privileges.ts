// TERMINAL_USER_MODE=account, web server side. Started as root, the web server does what
// needs root first (starts or adopts the root pty host, applies the migrations, loads
// every module it will need, makes its files the service user's), then drops to
// SERVICE_USER for good: setgroups, setgid, setuid. After that it never
// needs to read anything root alone can (the checkout may sit in a folder like /root).
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/env.js';
import { createPrismaClient } from '../db/client.js';
import { applyMigrations } from '../db/migrate.js';
import { isSqliteUrl } from '../db/provider.js';
import { sqlitePath } from '../db/sqlite.js';
import type { Logger } from '../log/logger.js';
import { connectOrStartHost } from '../pty-host-client/launcher.js';
import { hostPaths } from '../pty-protocol/host-paths.js';
import { lookupOsAccount, type OsAccount } from './passwd.js';

export class PrivilegeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrivilegeError';
  }
}

const HOST_START_TIMEOUT_MS = 15_000;

export const CREATE_SERVICE_USER_HINT = 'useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin';

/** The service account, checked: it exists and is not root. */
export async function serviceAccount(config: Pick<Config, 'SERVICE_USER'>): Promise<OsAccount> {
  const service = await lookupOsAccount(config.SERVICE_USER);
  if (!service) {
    throw new PrivilegeError(
      `SERVICE_USER "${config.SERVICE_USER}" is not an OS account: create it (${CREATE_SERVICE_USER_HINT} ${config.SERVICE_USER}) or set SERVICE_USER`,
    );
  }
  if (service.uid === 0 || service.gid === 0) throw new PrivilegeError(`SERVICE_USER "${config.SERVICE_USER}" is root: the web server never runs as root`);
  return service;
}

/** Everything account mode does as root, then the drop to SERVICE_USER. Throws PrivilegeError with what to do. */
export async function enterAccountMode(config: Config, logger: Logger): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new PrivilegeError(
      'TERMINAL_USER_MODE=account must be started as root: the pty host (root) starts each shell as its ' +
        `account's OS user, and the web server then runs as SERVICE_USER (${config.SERVICE_USER}). ` +
        'Start it as root, or use TERMINAL_USER_MODE=shared.',
    );
  }
  const service = await serviceAccount(config);
  // Whatever is created from here on (database, WAL files, logs) is private.
  process.umask(0o077);

  // The root pty host: started now, while this process may still start a root process.
  // Its socket's folder is root's (group: the service user's); the folder above must let
  // the service user through, so when it is created here it is the service user's.
  const paths = hostPaths(config);
  const above = path.dirname(path.dirname(paths.socket));
  if (!fs.existsSync(above)) {
    fs.mkdirSync(above, { recursive: true });
    makePrivate({ path: above, dir: true }, service);
  }
  const { socket } = await connectOrStartHost(paths, { start: config.PTY_HOST_START === 'auto', startTimeoutMs: HOST_START_TIMEOUT_MS });
  socket.destroy();

  // The migrations and Prisma's lazily loaded parts need files of the checkout.
  await applyMigrations(config.DATABASE_URL, logger);
  const prisma = createPrismaClient(config.DATABASE_URL, { timeoutMs: config.DB_TIMEOUT_MS });
  try {
    await prisma.user.count();
  } finally {
    await prisma.$disconnect();
  }

  for (const file of privateFiles(config)) makePrivate(file, service);

  // Its primary group only: none of root's supplementary groups is kept.
  const { setgroups, setgid, setuid, getuid, geteuid, getgroups } = process;
  if (!setgroups || !setgid || !setuid || !getuid || !geteuid || !getgroups) throw new PrivilegeError('account mode needs a POSIX system');
  setgroups([service.gid]);
  setgid(service.gid);
  setuid(service.uid);
  if (getuid() !== service.uid || geteuid() === 0 || getgroups().includes(0)) {
    throw new PrivilegeError('could not drop root privileges');
  }
  logger.info({ user: service.name, uid: service.uid, gid: service.gid }, 'root privileges dropped');
}

/** The data directory and database files (SQLite), and .env: the service user's alone. */
function privateFiles(config: Config): Array<{ path: string; dir: boolean }> {
  const files: Array<{ path: string; dir: boolean }> = [];
  if (isSqliteUrl(config.DATABASE_URL)) {
    const db = path.resolve(sqlitePath(config.DATABASE_URL));
    files.push({ path: path.dirname(db), dir: true });
    for (const suffix of ['', '-wal', '-shm', '-journal']) files.push({ path: `${db}${suffix}`, dir: false });
  }
  files.push({ path: path.resolve('.env'), dir: false });
  return files;
}

function makePrivate(file: { path: string; dir: boolean }, owner: OsAccount): void {
  try {
    // lstat: never follow a link planted in place of one of these.
    const stat = fs.lstatSync(file.path);
    if (stat.isSymbolicLink() || stat.isDirectory() !== file.dir) throw new PrivilegeError(`${file.path}: not a ${file.dir ? 'directory' : 'file'}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  fs.chownSync(file.path, owner.uid, owner.gid);
  fs.chmodSync(file.path, file.dir ? 0o700 : 0o600);
}
