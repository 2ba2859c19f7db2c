// Ends what a shell leaves behind. A shell started on a pty leads its own session, so every
// process it started (`nohup cmd &`, `( cmd & )`, jobs) keeps the shell's pid as its
// session id, even after the shell has exited; only setsid() leaves it, and that is
// documented. The processes are found in /proc (Linux): their session id, and the process
// groups they lead.
import fs from 'node:fs/promises';

/** Check again after these delays (ms) whether the SIGHUP was enough, until the grace time. */
const RECHECK_MS = [25, 50, 100, 200, 400, 800];

interface ProcStat {
  pid: number;
  state: string;
  pgrp: number;
  session: number;
}

async function readStat(pid: string): Promise<ProcStat | null> {
  try {
    const text = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp session ...": comm may hold spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid: Number(pid), state: fields[0]!, pgrp: Number(fields[2]), session: Number(fields[3]) };
  } catch {
    return null; // exited meanwhile
  }
}

/** Live (not zombie) processes of a session, and of the process groups its members are in. */
export async function sessionMembers(sessionId: number): Promise<number[]> {
  const pids = (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name));
  const stats = (await Promise.all(pids.map(readStat))).filter((s): s is ProcStat => s !== null && s.state !== 'Z');
  const groups = new Set(stats.filter((s) => s.session === sessionId).map((s) => s.pgrp));
  return stats.filter((s) => s.session === sessionId || groups.has(s.pgrp)).map((s) => s.pid).filter((pid) => pid !== process.pid);
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/**
 * SIGHUP to every process of the session, SIGKILL to those left after the grace time.
 * Resolves when none is left (or all have been sent SIGKILL).
 */
export async function endSession(sessionId: number, graceMs: number): Promise<void> {
  let left = await sessionMembers(sessionId);
  if (left.length === 0) return;
  signalAll(left, 'SIGHUP');
  // SIGCONT too: a stopped process would not act on the SIGHUP until continued.
  signalAll(left, 'SIGCONT');
  const deadline = performance.now() + graceMs;
  for (let i = 0; left.length > 0; i++) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(RECHECK_MS[Math.min(i, RECHECK_MS.length - 1)]!, remaining)));
    left = await sessionMembers(sessionId);
  }
  if (left.length) signalAll(await sessionMembers(sessionId), 'SIGKILL');
}
