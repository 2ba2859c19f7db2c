// A private PostgreSQL per test file: initdb in a temp dir, `postgres` on a free loopback
// port, password authentication, fsync off. Installs Debian's `postgresql` with apt-get
// when running as root and it is missing (like redis-server.ts does for Redis).
//
// initdb and postgres refuse to run as root: as root they run as the `postgres` OS user
// (created by the package), otherwise as the current user. The server runs as a guarded
// daemon (see guarded-daemon.ts), so none outlives the test run.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, chownSync, constants, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGuardedDaemon, type Daemon } from './guarded-daemon.js';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

export interface PostgresServer {
  port: number;
  /** Superuser URL of the `postgres` database (carries the password). */
  url: string;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs SQL as the superuser through psql; returns its unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>;
  /** The database's tables, columns, indexes, constraints, enums and sequences as text, minus `excludeTables`. */
  describeSchema(database: string, excludeTables?: string[]): Promise<string>;
  /** Fast shutdown (clients are disconnected), wait for exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const SUPERUSER = 'ptyhub';


function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Debian keeps initdb/postgres in /usr/lib/postgresql/<major>/bin, off PATH: the newest wins. */
function findBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  let majors: string[] = [];
  try {
    majors = readdirSync(base).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a));
  } catch {
    /* not there */
  }
  const dirs = [...majors.map((m) => path.join(base, m, 'bin')), ...(process.env.PATH ?? '').split(path.delimiter)];
  return dirs.find((d) => ['initdb', 'postgres', 'psql'].every((b) => executable(path.join(d, b)))) ?? null;
}

let binDirReady: Promise<string> | null = null;

/** The PostgreSQL bin dir; installs the package once if missing (root only, serialised by a file lock). */
function ensurePostgresBinaries(): Promise<string> {
  binDirReady ??= (async () => {
    const found = findBinDir();
    if (found) return found;
    if (process.getuid?.() !== 0) {
      throw new Error(
        'PostgreSQL is not installed. Install it (Debian/Ubuntu: sudo apt-get install -y postgresql) and re-run the tests.',
      );
    }
    const script =
      'ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ' +
      '(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)';
    await run('flock', [path.join(os.tmpdir(), 'ptyhub-postgres-install.lock'), 'sh', '-c', script], {
      timeout: 10 * 60_000,
    });
    const installed = findBinDir();
    if (!installed) throw new Error('installing postgresql with apt-get did not provide initdb/postgres');
    return installed;
  })();
  return binDirReady;
}

/** Who runs initdb and postgres: ourselves, or (as root) the `postgres` OS user. */
async function serverUser(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'nobody']) {
    try {
      const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
      return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
    } catch {
      /* no such user */
    }
  }
  throw new Error('running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL');
}

function spawnServer(bin: string, dataDir: string, port: number, user: { uid: number; gid: number } | null): Promise<Daemon> {
  const args = [
    path.join(bin, 'postgres'),
    '-D', dataDir,
    '-p', String(port),
    '-k', dataDir, // the unix socket stays in the temp dir
    '-c', 'listen_addresses=127.0.0.1',
    // A throwaway cluster: durability buys nothing here.
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    '-c', 'max_connections=100',
  ];
  return startGuardedDaemon({
    name: `postgres on port ${port}`,
    command: args,
    ready: /database system is ready to accept connections/,
    timeoutMs: 30_000,
    orphanSignal: 'QUIT',
    spawn: { cwd: dataDir, ...(user ?? {}), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } },
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = await ensurePostgresBinaries();
  const user = await serverUser();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ptyhub-postgres-'));
  const dataDir = path.join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  const pwFile = path.join(dir, 'pw');
  writeFileSync(pwFile, `${password}\n`);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(pwFile, user.uid, user.gid);
  }
  chmodSync(dir, 0o700);

  let running: Daemon | null = null;
  let port = 0;
  try {
    await run(
      path.join(bin, 'initdb'),
      ['-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
        '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions'],
      { cwd: dir, ...(user ?? {}), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' }, timeout: 60_000 },
    );
    // A free port can be taken between asking and binding: try a few.
    for (let attempt = 0; !running; attempt++) {
      const tryPort = await freePort();
      try {
        running = await spawnServer(bin, dataDir, tryPort, user);
        port = tryPort;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const urlOf = (database: string) => `postgresql://${SUPERUSER}:${password}@127.0.0.1:${port}/${database}`;
  const psql = async (sql: string, database = 'postgres'): Promise<string> => {
    const { stdout } = await run(
      path.join(bin, 'psql'),
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER, '-d', database, '-c', sql],
      { env: { ...process.env, PGPASSWORD: password } },
    );
    return stdout.trim();
  };
  /** Column order is left out: migrations append added columns where a fresh schema has them in place. */
  const describeSchema = async (database: string, excludeTables: string[] = []): Promise<string> => {
    const skip = excludeTables.map((t) => `'${t.replace(/'/g, "''")}'`).join(', ') || "''";
    const queries = [
      `SELECT table_name, column_name, data_type, character_maximum_length, numeric_precision, datetime_precision,
              is_nullable, column_default
         FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name NOT IN (${skip}) ORDER BY 1, 2`,
      `SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = 'public' AND tablename NOT IN (${skip}) ORDER BY 1, 2`,
      `SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT IN (${skip}) ORDER BY 1, 2`,
      `SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_type t
         JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typnamespace = 'public'::regnamespace GROUP BY 1 ORDER BY 1`,
      `SELECT sequencename, data_type FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1`,
    ];
    const parts = await Promise.all(queries.map((q) => psql(q, database)));
    return parts.join('\n--\n');
  };
  let seq = 0;
  let current: Daemon | null = running;
  return {
    port,
    url: urlOf('postgres'),
    psql,
    describeSchema,
    async createDatabase(name = `test_${process.pid}_${++seq}`) {
      await psql(`CREATE DATABASE "${name}"`);
      return urlOf(name);
    },
    async stop() {
      const r = current;
      current = null;
      if (!r) return;
      await r.stop('SIGINT'); // fast shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
