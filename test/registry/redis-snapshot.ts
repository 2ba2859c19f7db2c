// Reads every registry key under a prefix (SCAN on every master) and checks that the
// indexes agree, so fault tests can assert "no leftover wrong state", not just the few
// keys they look at. Works on a standalone Redis and on a cluster.
// Keys are told apart here from docs/redis-keys.md, by prefix alone, independently of the
// implementation's own key predicate (which clear() uses): a registry key that clear() or
// the reaper forgets is still counted, and one this file cannot parse is reported.
import { allKeys } from '../../server/redis/scan.js';
import { escapeGlob } from '../../server/registry/keys.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';

export interface RegistrySnapshot {
  terminals: Map<string, { sockets: string[]; user: string | null; primary: string | null }>;
  sockets: Map<string, { device: Record<string, string>; terms: string[] }>;
  users: Map<string, string[]>;
  /** server id -> socket ids whose device names it (from the devices). */
  servers: Map<string, string[]>;
  /** server id -> users listed in its reaper index. */
  serverUsers: Map<string, string[]>;
  termOwners: Map<string, string>;
  socketOwners: Map<string, string>;
  /** registry:counts (read before the other keys): per user [version, terminals, sockets] and the totals. */
  counts: { users: Map<string, [number, number, number]>; totals: Record<string, number>; other: string[] };
  /** {u:<id>}:version of each user. */
  versions: Map<string, number>;
  /** Keys of the registry's families ({u:<id>}:..., term-owner:, socket-owner:, registry:, server:<id>:...). */
  keyCount: number;
  /** Keys of those families that match no documented registry key. */
  unknown: string[];
}

/**
 * A key of one of the registry's families (including the layout before per-user keys, so
 * a leftover of it is reported). `server:<id>` alone is the instance heartbeat (not the
 * registry); test server ids contain no ":", so `server:<id>:<anything>` is.
 */
function inRegistryFamily(rest: string): boolean {
  if (/^(\{u:|term:|socket:|user:|registry:|term-owner:|socket-owner:)/.test(rest)) return true;
  return /^server:[^:]*:/.test(rest);
}

export async function snapshot(manager: RedisConnectionManager): Promise<RegistrySnapshot> {
  const p = manager.prefix;
  const redis = manager.readyClient();
  // registry:counts first: a user's version read after it is never lower, even while an
  // instance still re-publishes (the same state again, under a new version).
  const counts = `${p}registry:counts`;
  const keys = (await allKeys(manager, `${escapeGlob(p)}*`))
    .filter((k) => k.startsWith(p) && inRegistryFamily(k.slice(p.length)))
    .sort((x, y) => Number(y === counts) - Number(x === counts));
  const snap: RegistrySnapshot = {
    terminals: new Map(),
    sockets: new Map(),
    users: new Map(),
    servers: new Map(),
    serverUsers: new Map(),
    termOwners: new Map(),
    socketOwners: new Map(),
    counts: { users: new Map(), totals: {}, other: [] },
    versions: new Map(),
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
    if ((m = /^\{u:(.*)\}:term-sockets$/s.exec(rest))) {
      const uid = m[1]!;
      const h = await redis.hgetall(key);
      snap.users.set(uid, sorted(Object.keys(h)));
      for (const [tid, raw] of Object.entries(h)) {
        const t = term(tid);
        t.sockets = sorted(JSON.parse(raw) as string[]);
        t.user = uid;
      }
    } else if ((m = /^\{u:(.*)\}:socket-terms$/s.exec(rest))) {
      for (const [sid, raw] of Object.entries(await redis.hgetall(key))) sock(sid).terms = sorted(JSON.parse(raw) as string[]);
    } else if ((m = /^\{u:(.*)\}:devices$/s.exec(rest))) {
      for (const [sid, raw] of Object.entries(await redis.hgetall(key))) {
        const device: Record<string, string> = { ...(JSON.parse(raw) as Record<string, string>), userId: m[1]! };
        sock(sid).device = device;
        const list = snap.servers.get(device.serverId!) ?? [];
        snap.servers.set(device.serverId!, sorted([...list, sid]));
      }
    } else if ((m = /^\{u:(.*)\}:primary$/s.exec(rest))) {
      for (const [tid, sid] of Object.entries(await redis.hgetall(key))) term(tid).primary = sid;
    } else if ((m = /^term-owner:(.*)$/s.exec(rest))) snap.termOwners.set(m[1]!, (await redis.get(key)) ?? '');
    else if ((m = /^socket-owner:(.*)$/s.exec(rest))) snap.socketOwners.set(m[1]!, (await redis.get(key)) ?? '');
    else if ((m = /^server:(.*):users$/s.exec(rest))) snap.serverUsers.set(m[1]!, sorted(await redis.smembers(key)));
    else if ((m = /^\{u:(.*)\}:version$/s.exec(rest))) snap.versions.set(m[1]!, Number(await redis.get(key)));
    else if (rest === 'registry:counts') {
      for (const [field, value] of Object.entries(await redis.hgetall(key))) {
        const entry = /^(\d+) (\d+) (\d+)$/.exec(value);
        if (field.startsWith('u:') && entry) snap.counts.users.set(field.slice(2), [Number(entry[1]), Number(entry[2]), Number(entry[3])]);
        else if (['terminals', 'sockets', 'users'].includes(field)) snap.counts.totals[field] = Number(value);
        else snap.counts.other.push(`${field}=${value}`);
      }
    }
    else snap.unknown.push(rest);
  }
  return snap;
}

/** Every way the keys disagree with each other; [] when consistent. */
export function invariantErrors(s: RegistrySnapshot): string[] {
  const errors: string[] = s.unknown.map((k) => `unknown registry key ${k}`);
  for (const [tid, t] of s.terminals) {
    if (t.sockets.length === 0) errors.push(`terminal ${tid} has keys but no sockets`);
    if (!t.user) errors.push(`terminal ${tid} has no user`);
    else if (s.termOwners.get(tid) !== t.user) errors.push(`terminal ${tid} owner key is not ${t.user}`);
    if (t.primary && !t.sockets.includes(t.primary)) errors.push(`terminal ${tid} primary ${t.primary} not attached`);
    for (const sid of t.sockets) {
      const sk = s.sockets.get(sid);
      if (!sk?.terms.includes(tid)) errors.push(`socket ${sid} does not list terminal ${tid}`);
      if (sk && sk.device.userId !== t.user) errors.push(`socket ${sid} user differs from terminal ${tid}`);
    }
  }
  for (const [sid, sk] of s.sockets) {
    if (!sk.device.serverId) errors.push(`socket ${sid} has no device`);
    if (sk.terms.length === 0) errors.push(`socket ${sid} has no terminals`);
    for (const tid of sk.terms) if (!s.terminals.get(tid)?.sockets.includes(sid)) errors.push(`terminal ${tid} lacks socket ${sid}`);
    if (s.socketOwners.get(sid) !== sk.device.userId) errors.push(`socket ${sid} owner key is not ${sk.device.userId}`);
    if (sk.device.serverId && !s.serverUsers.get(sk.device.serverId)?.includes(sk.device.userId!)) {
      errors.push(`user of socket ${sid} missing from the reaper index of ${sk.device.serverId}`);
    }
  }
  // The counts: each user's entry at the user's version, with what the hashes hold; totals the sums.
  const socketsOf = new Map<string, number>();
  for (const sk of s.sockets.values()) socketsOf.set(sk.device.userId!, (socketsOf.get(sk.device.userId!) ?? 0) + 1);
  for (const x of s.counts.other) errors.push(`registry:counts has a stray field ${x}`);
  for (const uid of new Set([...s.users.keys(), ...socketsOf.keys(), ...s.counts.users.keys(), ...s.versions.keys()])) {
    const [v, t, n] = s.counts.users.get(uid) ?? [0, 0, 0];
    // Ahead of the user's version, the entry would refuse the user's next updates.
    if (v > (s.versions.get(uid) ?? 0)) errors.push(`registry:counts entry of ${uid} at version ${v}, user at ${s.versions.get(uid) ?? 0}`);
    if (t !== (s.users.get(uid)?.length ?? 0)) errors.push(`registry:counts terminals of ${uid} out of step`);
    if (n !== (socketsOf.get(uid) ?? 0)) errors.push(`registry:counts sockets of ${uid} out of step`);
  }
  const totals = { terminals: s.terminals.size, sockets: s.sockets.size, users: s.users.size };
  for (const [field, want] of Object.entries(totals)) {
    if ((s.counts.totals[field] ?? 0) !== want) errors.push(`registry:counts ${field} total ${s.counts.totals[field] ?? 0}, hashes hold ${want}`);
  }
  return errors;
}

/** terminal -> sorted socket ids, for exact comparisons. */
export function attachments(s: RegistrySnapshot): Record<string, string[]> {
  return Object.fromEntries([...s.terminals].sort(([a], [b]) => (a < b ? -1 : 1)).map(([tid, t]) => [tid, t.sockets]));
}
