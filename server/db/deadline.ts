// Every database call gets a deadline, and a database that cannot answer becomes one
// error: DatabaseUnavailableError (code 'unavailable', as the protocol names it).
//
// SQLite: better-sqlite3 is synchronous, so its busy_timeout would wait for another
// process's write lock INSIDE the event loop, freezing every terminal of the instance.
// The connection therefore runs with busy_timeout 0 and a locked database is retried
// here, asynchronously, with jittered exponential backoff until the call's deadline.
// (A worker thread would also free the event loop, but would put a second copy of
// Prisma's query path behind a message channel; a retry loop is a few lines.)
// PostgreSQL: the pool's connection, statement and query timeouts bound the server
// side; the deadline here bounds what the caller waits whatever the pool does.
import { backoffDelay } from '../redis/backoff.js';

export class DatabaseUnavailableError extends Error {
  readonly code = 'unavailable' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Default deadline of one database call, retries included. */
export const DEFAULT_DB_TIMEOUT_MS = 5000;

const BUSY_RETRY_BASE_MS = 5;
const BUSY_RETRY_MAX_MS = 250;

// Prisma codes for "could not reach / timed out / connection closed / pool exhausted".
const UNAVAILABLE_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
// Driver adapter error kinds of the same nature.
const UNAVAILABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TlsConnectionError']);
// SQLite: locked, read-only, I/O failures, full disk, unopenable file.
const UNAVAILABLE_SQLITE = /^SQLITE_(BUSY|LOCKED|READONLY|IOERR|FULL|CANTOPEN|PROTOCOL)/;
// PostgreSQL SQLSTATEs: connection exceptions, read-only transaction, shutdown, too many
// connections, statement cancelled by a timeout.
const UNAVAILABLE_PG = /^(08...|25006|57P0[1-3]|53300|57014)$/;

interface DriverCause {
  originalCode?: unknown;
  kind?: unknown;
  code?: unknown;
}

function driverCause(err: unknown): DriverCause | null {
  const meta = (err as { meta?: { driverAdapterError?: { cause?: DriverCause } } } | null)?.meta;
  return meta?.driverAdapterError?.cause ?? (err as { cause?: DriverCause } | null)?.cause ?? null;
}

/** SQLite's "another connection holds the lock": worth retrying shortly. */
export function isDatabaseBusy(err: unknown): boolean {
  const code = driverCause(err)?.originalCode;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/** True when the database could not do the work, as opposed to refusing it (constraints, bugs). */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  if (e.name === 'PrismaClientInitializationError' || e.name === 'PrismaClientRustPanicError') return true;
  if (typeof e.code === 'string' && UNAVAILABLE_PRISMA_CODES.has(e.code)) return true;
  const cause = driverCause(err);
  if (cause) {
    if (typeof cause.kind === 'string' && UNAVAILABLE_KINDS.has(cause.kind)) return true;
    if (typeof cause.originalCode === 'string' && (UNAVAILABLE_SQLITE.test(cause.originalCode) || UNAVAILABLE_PG.test(cause.originalCode))) return true;
    if (typeof cause.code === 'string' && UNAVAILABLE_PG.test(cause.code)) return true;
  }
  // pg's own pool and socket errors that reach Prisma unmapped.
  return typeof e.message === 'string' && /ECONNREFUSED|ECONNRESET|Connection terminated|timeout exceeded when trying to connect/.test(e.message);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs one database call with busy retries, within `timeoutMs`. Failures of the
 * database become DatabaseUnavailableError (the original as `cause`); any other error
 * propagates unchanged.
 */
export async function withDeadline<T>(what: string, timeoutMs: number, call: () => PromiseLike<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const remaining = deadline - Date.now();
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DatabaseUnavailableError(`database ${what} timed out after ${timeoutMs} ms`)), remaining);
      });
      return await Promise.race([Promise.resolve(call()), timedOut]);
    } catch (err) {
      if (err instanceof DatabaseUnavailableError) throw err;
      if (isDatabaseBusy(err)) {
        const wait = backoffDelay(attempt, { baseMs: BUSY_RETRY_BASE_MS, maxMs: BUSY_RETRY_MAX_MS });
        if (Date.now() + wait < deadline) {
          await sleep(wait);
          continue;
        }
        throw new DatabaseUnavailableError(`database ${what}: still locked after ${timeoutMs} ms`, { cause: err });
      }
      if (isDatabaseUnavailable(err)) throw new DatabaseUnavailableError(`database ${what} failed`, { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}
