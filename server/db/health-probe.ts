// The database part of /healthz: can it read, and can it write? A write is probed by
// moving a counter of one row of the migrations table up and back down in one
// transaction: a real write, committed, that leaves no change. (An UPDATE matching no
// row, or writing a row's own values, writes nothing, so a file that turned read-only
// under an open connection would pass.) The row always exists once migrated and
// nothing reads it at run time. A read-only file, a locked database or a read-only
// replica all show here. The answer always comes within
// `budgetMs`, whatever the pool is doing. Error details go to the log, not the reply
// (/healthz needs no sign-in).
import type { PrismaClient } from './client.js';
import { isDatabaseBusy } from './deadline.js';

export interface DatabaseHealth {
  ok: boolean;
  writable: boolean;
  latencyMs: number;
  /** A short, generic reason when not ok or not writable. */
  problem?: 'unreachable' | 'timeout' | 'locked' | 'write_failed';
}

const PROBE_ROW = '"id" = (SELECT "id" FROM "_prisma_migrations" ORDER BY "started_at" LIMIT 1)';
const probeWrite = (prisma: PrismaClient) =>
  prisma.$transaction([
    prisma.$executeRawUnsafe(`UPDATE "_prisma_migrations" SET "applied_steps_count" = "applied_steps_count" + 1 WHERE ${PROBE_ROW}`),
    prisma.$executeRawUnsafe(`UPDATE "_prisma_migrations" SET "applied_steps_count" = "applied_steps_count" - 1 WHERE ${PROBE_ROW}`),
  ]);

export async function probeDatabase(
  prisma: PrismaClient,
  budgetMs: number,
  onError: (err: unknown, what: 'read' | 'write') => void,
): Promise<DatabaseHealth> {
  const t0 = Date.now();
  const deadline = t0 + budgetMs;
  const read = await within(prisma.$queryRawUnsafe('SELECT 1'), deadline);
  if (read !== true) {
    onError(read, 'read');
    return { ok: false, writable: false, latencyMs: Date.now() - t0, problem: read === TIMEOUT ? 'timeout' : 'unreachable' };
  }
  const write = await within(probeWrite(prisma), deadline);
  const latencyMs = Date.now() - t0;
  if (write === true) return { ok: true, writable: true, latencyMs };
  onError(write, 'write');
  const busy = write === TIMEOUT || isDatabaseBusy(write) || isDatabaseBusy((write as { cause?: unknown }).cause);
  return { ok: true, writable: false, latencyMs, problem: busy ? 'locked' : 'write_failed' };
}

const TIMEOUT = Symbol('timeout');

/** true, the error, or TIMEOUT; the call itself is bounded by the client's own deadline. */
async function within(call: PromiseLike<unknown>, deadline: number): Promise<true | unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TIMEOUT>((r) => (timer = setTimeout(() => r(TIMEOUT), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([Promise.resolve(call).then(() => true as const, (err: unknown) => err), late]);
  } finally {
    clearTimeout(timer);
  }
}
