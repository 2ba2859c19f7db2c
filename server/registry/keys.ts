// Registry key names (documented in docs/redis-keys.md). Redis Cluster compatible: every
// script touches the keys of ONE user, which share the hash tag `{u:<userId>}`, and gets
// them as KEYS (no key is built inside Lua). Terminal and socket ids lead to their user
// through owner keys (one key each, so any slot). Global indexes are single keys, only
// ever changed by single-key commands.
export const registryKeys = (p: string) => ({
  /** The four hashes holding one user's part of the registry, in the order scripts take them. */
  user: (uid: string): [devices: string, socketTerms: string, termSockets: string, primary: string] => {
    const tag = `${p}{u:${uid}}`;
    return [`${tag}:devices`, `${tag}:socket-terms`, `${tag}:term-sockets`, `${tag}:primary`];
  },
  termOwner: (tid: string) => `${p}term-owner:${tid}`,
  socketOwner: (sid: string) => `${p}socket-owner:${sid}`,
  serverUsers: (serverId: string) => `${p}server:${serverId}:users`,
  allTerminals: `${p}registry:terminals`,
  allSockets: `${p}registry:sockets`,
  allUsers: `${p}registry:users`,
});

/** True for registry keys under prefix p (clear() deletes exactly these). */
export function isRegistryKey(p: string, key: string): boolean {
  if (!key.startsWith(p)) return false;
  const rest = key.slice(p.length);
  return (
    /^\{u:.*\}:(devices|socket-terms|term-sockets|primary)$/s.test(rest) ||
    /^(term|socket)-owner:/.test(rest) ||
    /^server:.*:users$/s.test(rest) ||
    /^registry:(terminals|sockets|users)$/.test(rest)
  );
}

export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
