// Registry key names (documented in docs/redis-keys.md). Redis Cluster compatible: every
// script touches the keys of ONE user, which share the hash tag `{u:<userId>}`, and gets
// them as KEYS (no key is built inside Lua). Terminal and socket ids lead to their user
// through owner keys (one key each, so any slot). The global counts are one hash, changed
// by one-key scripts ordered by the user's version (see redis-scripts.ts).
export const registryKeys = (p: string) => ({
  /** The four hashes holding one user's part of the registry, in the order scripts take them. */
  user: (uid: string): [devices: string, socketTerms: string, termSockets: string, primary: string] => {
    const tag = `${p}{u:${uid}}`;
    return [`${tag}:devices`, `${tag}:socket-terms`, `${tag}:term-sockets`, `${tag}:primary`];
  },
  /** The user's version, INCR'd by every mutating script (same slot): orders the user's counts. */
  userVersion: (uid: string) => `${p}{u:${uid}}:version`,
  termOwner: (tid: string) => `${p}term-owner:${tid}`,
  socketOwner: (sid: string) => `${p}socket-owner:${sid}`,
  serverUsers: (serverId: string) => `${p}server:${serverId}:users`,
  /** Per-user counts (`u:<userId>` -> "version terminals sockets") and their totals. */
  counts: `${p}registry:counts`,
});

/** True for registry keys under prefix p (clear() deletes exactly these). */
export function isRegistryKey(p: string, key: string): boolean {
  if (!key.startsWith(p)) return false;
  const rest = key.slice(p.length);
  return (
    /^\{u:.*\}:(devices|socket-terms|term-sockets|primary|version)$/s.test(rest) ||
    /^(term|socket)-owner:/.test(rest) ||
    /^server:.*:users$/s.test(rest) ||
    /^registry:counts$/.test(rest)
  );
}

export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
