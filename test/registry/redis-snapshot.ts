// Reads every registry key under a prefix (SCAN) and checks that the indexes agree, so
// fault tests can assert "no leftover wrong state", not just the few keys they look at.
// Keys are told apart here from docs/redis-keys.md, by prefix alone, independently of the
// implementation's own key predicate (which clear() uses): a registry key that clear() or
// the reaper forgets is still counted, and one this file cannot parse is reported.
import type { Redis } from 'ioredis';

export interface RegistrySnapshot {
  terminals: Map<string, { sockets: string[]; user: string | null; primary: string | null }>;
  sockets: Map<string, { device: Record<string, string>; terms: string[] }>;
  users: Map<string, string[]>;
  servers: Map<string, string[]>;
  index: { terminals: string[]; sockets: string[]; users: string[] };
  /** Keys of the registry's families (term:, socket:, user:, registry:, server:<id>:...). */
  keyCount: number;
  /** Keys of those families that match no documented registry key. */
  unknown: string[];
}

/**
 * A key of one of the registry's families. `server:<id>` alone is the instance heartbeat
 * (not the registry); test server ids contain no ":", so `server:<id>:<anything>` is.
 */
function inRegistryFamily(rest: string): boolean {
  if (/^(term|socket|user|registry):/.test(rest)) return true;
  return /^server:[^:]*:/.test(rest);
}

const globEscaped = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

export async function snapshot(redis: Redis, p: string): Promise<RegistrySnapshot> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${globEscaped(p)}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch.filter((k) => k.startsWith(p) && inRegistryFamily(k.slice(p.length))));
  } while (cursor !== '0');

  const snap: RegistrySnapshot = {
    terminals: new Map(),
    sockets: new Map(),
    users: new Map(),
    servers: new Map(),
    index: { terminals: [], sockets: [], users: [] },
    keyCount: keys.length,
    unknown: [],
  };
  const sorted = (xs: string[]): string[] => [...xs].sort();
  const term = (tid: string) => {
    let t = snap.terminals.get(tid);
    if (!t) snap.terminals.set(tid, (t = { sockets: [], user: null, primary: null }));
    return t;
  };
  const sock = (sid: string) => {
    let s = snap.sockets.get(sid);
    if (!s) snap.sockets.set(sid, (s = { device: {}, terms: [] }));
    return s;
  };
  for (const key of keys) {
    const rest = key.slice(p.length);
    let m: RegExpExecArray | null;
    if ((m = /^term:(.*):sockets$/s.exec(rest))) term(m[1]!).sockets = sorted(await redis.smembers(key));
    else if ((m = /^term:(.*):user$/s.exec(rest))) term(m[1]!).user = await redis.get(key);
    else if ((m = /^term:(.*):primary$/s.exec(rest))) term(m[1]!).primary = await redis.get(key);
    else if ((m = /^socket:(.*):device$/s.exec(rest))) sock(m[1]!).device = await redis.hgetall(key);
    else if ((m = /^socket:(.*):terms$/s.exec(rest))) sock(m[1]!).terms = sorted(await redis.smembers(key));
    else if ((m = /^user:(.*):terms$/s.exec(rest))) snap.users.set(m[1]!, sorted(await redis.smembers(key)));
    else if ((m = /^server:(.*):sockets$/s.exec(rest))) snap.servers.set(m[1]!, sorted(await redis.smembers(key)));
    else if (rest === 'registry:terminals') snap.index.terminals = sorted(await redis.smembers(key));
    else if (rest === 'registry:sockets') snap.index.sockets = sorted(await redis.smembers(key));
    else if (rest === 'registry:users') snap.index.users = sorted(await redis.smembers(key));
    else snap.unknown.push(rest);
  }
  return snap;
}

/** Every way the keys disagree with each other; [] when consistent. */
export function invariantErrors(s: RegistrySnapshot): string[] {
  const errors: string[] = s.unknown.map((k) => `unknown registry key ${k}`);
  const eq = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  for (const [tid, t] of s.terminals) {
    if (t.sockets.length === 0) errors.push(`terminal ${tid} has keys but no sockets`);
    if (!t.user) errors.push(`terminal ${tid} has no user`);
    else if (!s.users.get(t.user)?.includes(tid)) errors.push(`terminal ${tid} missing from user ${t.user}`);
    if (t.primary && !t.sockets.includes(t.primary)) errors.push(`terminal ${tid} primary ${t.primary} not attached`);
    for (const sid of t.sockets) {
      const sk = s.sockets.get(sid);
      if (!sk?.terms.includes(tid)) errors.push(`socket ${sid} does not list terminal ${tid}`);
      if (sk && sk.device.userId !== t.user) errors.push(`socket ${sid} user differs from terminal ${tid}`);
    }
  }
  for (const [sid, sk] of s.sockets) {
    if (!sk.device.serverId) errors.push(`socket ${sid} has no device hash`);
    if (sk.terms.length === 0) errors.push(`socket ${sid} has no terminals`);
    for (const tid of sk.terms) if (!s.terminals.get(tid)?.sockets.includes(sid)) errors.push(`terminal ${tid} lacks socket ${sid}`);
    if (sk.device.serverId && !s.servers.get(sk.device.serverId)?.includes(sid)) {
      errors.push(`socket ${sid} missing from server ${sk.device.serverId}`);
    }
  }
  for (const [uid, tids] of s.users) {
    for (const tid of tids) if (s.terminals.get(tid)?.user !== uid) errors.push(`user ${uid} lists foreign/empty terminal ${tid}`);
  }
  for (const [srv, sids] of s.servers) {
    for (const sid of sids) if (s.sockets.get(sid)?.device.serverId !== srv) errors.push(`server ${srv} lists socket ${sid} it does not hold`);
  }
  if (!eq(s.index.terminals, [...s.terminals.keys()].sort())) errors.push('registry:terminals out of step');
  if (!eq(s.index.sockets, [...s.sockets.keys()].sort())) errors.push('registry:sockets out of step');
  if (!eq(s.index.users, [...s.users.keys()].sort())) errors.push('registry:users out of step');
  return errors;
}

/** terminal -> sorted socket ids, for exact comparisons. */
export function attachments(s: RegistrySnapshot): Record<string, string[]> {
  return Object.fromEntries([...s.terminals].sort(([a], [b]) => (a < b ? -1 : 1)).map(([tid, t]) => [tid, t.sockets]));
}
