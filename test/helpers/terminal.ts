// Small helpers for tests that drive a shell.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { sessionCacheKey } from '../../server/sessions/session-cache-scripts.js';
import type { TestClient } from './client.js';

let counter = 0;

/** Variables a shell may hold: the allowlist (shell-env.ts), plus what bash itself sets. */
export const ALLOWED_SHELL_VARIABLES = /^(TERM|COLORTERM|LANG|LANGUAGE|LC_[A-Z_]+|TZ|PATH|HOME|USER|LOGNAME|SHELL|PTYHUB|PWD|OLDPWD|SHLVL|_)$/;

/** Runs `stty size` in the terminal and returns what the shell sees as [cols, rows]. */
export async function shellSize(c: TestClient, terminalId: string): Promise<[number, number]> {
  const mark = `SZ${++counter}${randomUUID().slice(0, 6)}`;
  const reply = await c.call('terminal:input', { terminalId, data: `echo ${mark}-$(stty size | tr ' ' x)-END\r` });
  if (!reply.ok) throw new Error(`input failed: ${reply.error.message}`);
  const out = await c.waitForOutput(terminalId, new RegExp(`${mark}-\\d+x\\d+-END`));
  const m = out.match(new RegExp(`${mark}-(\\d+)x(\\d+)-END`))!;
  return [Number(m[2]), Number(m[1])];
}

/** The session cache entry of a terminal, as stored in Redis (null when absent). */
export async function cachedSession(redisUrl: string, prefix: string, terminalId: string) {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const h = await r.hgetall(sessionCacheKey(prefix, terminalId));
    if (!h.t) return null;
    return { kind: h.t, version: Number(h.v), record: h.d ? (JSON.parse(h.d) as { cols: number; rows: number; version: number }) : null };
  } finally {
    r.disconnect();
  }
}

/** Every key under a prefix that mentions a terminal id. */
export async function keysMentioning(redisUrl: string, prefix: string, id: string): Promise<string[]> {
  const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const k of keys) {
        if (k.includes(id)) found.push(k);
        else if ((await r.type(k)) === 'set' && (await r.sismember(k, id))) found.push(`${k} (member)`);
      }
    } while (cursor !== '0');
    return found;
  } finally {
    r.disconnect();
  }
}

/**
 * Runs a command in the shell and returns what it printed (one line per output line,
 * trimmed). The markers are printed by arithmetic, so the echo of the typed line never
 * matches them.
 */
export async function runInShell(c: TestClient, terminalId: string, command: string, timeoutMs = 30_000): Promise<string> {
  const mark = `RUN${++counter}${randomUUID().slice(0, 6)}`;
  const reply = await c.call('terminal:input', { terminalId, data: `echo ${mark}-$((1))-B; ${command}; echo ${mark}-$((2))-E\r` });
  if (!reply.ok) throw new Error(`input failed: ${reply.error.message}`);
  const out = await c.waitForOutput(terminalId, new RegExp(`${mark}-1-B[\\s\\S]*${mark}-2-E`), timeoutMs);
  const m = out.match(new RegExp(`${mark}-1-B([\\s\\S]*)${mark}-2-E`))!;
  return m[1]!.replace(/\r/g, '').trim();
}

/**
 * Starts leftovers of every kind in a terminal's session: `nohup` (ignores SIGHUP),
 * `( ... & )` (not a job of the shell) and a plain background job; returns their pids.
 */
export async function startLeftovers(c: TestClient, terminalId: string): Promise<number[]> {
  const script = [
    'nohup sleep 1001 >/dev/null 2>&1 & a=$!',
    '( sleep 1002 & echo $! > /tmp/.ptyhub-sub-$$ )',
    'sleep 1003 & c=$!',
    'echo "LEFT[$a $(cat /tmp/.ptyhub-sub-$$) $c]"; rm -f /tmp/.ptyhub-sub-$$',
  ].join('; ');
  await c.call('terminal:input', { terminalId, data: `${script}\r` });
  const out = await c.waitForOutput(terminalId, /LEFT\[\d+ \d+ \d+\]/);
  return out.match(/LEFT\[(\d+) (\d+) (\d+)\]/)!.slice(1).map(Number);
}
