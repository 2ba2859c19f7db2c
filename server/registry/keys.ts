// Registry key names (documented in docs/redis-keys.md). Every key ends in a fixed
// suffix none of which is a suffix of another, so ids containing ":" cannot collide.
// The Lua scripts build the same names; keep both in step.
export const registryKeys = (p: string) => ({
  termSockets: (tid: string) => `${p}term:${tid}:sockets`,
  termPrimary: (tid: string) => `${p}term:${tid}:primary`,
  termUser: (tid: string) => `${p}term:${tid}:user`,
  socketDevice: (sid: string) => `${p}socket:${sid}:device`,
  socketTerms: (sid: string) => `${p}socket:${sid}:terms`,
  userTerms: (uid: string) => `${p}user:${uid}:terms`,
  serverSockets: (serverId: string) => `${p}server:${serverId}:sockets`,
  allTerminals: `${p}registry:terminals`,
  allSockets: `${p}registry:sockets`,
  allUsers: `${p}registry:users`,
});

/** True for registry keys under prefix p (clear() deletes exactly these). */
export function isRegistryKey(p: string, key: string): boolean {
  if (!key.startsWith(p)) return false;
  const rest = key.slice(p.length);
  return (
    /^term:.*:(sockets|primary|user)$/s.test(rest) ||
    /^socket:.*:(device|terms)$/s.test(rest) ||
    /^user:.*:terms$/s.test(rest) ||
    /^server:.*:sockets$/s.test(rest) ||
    /^registry:(terminals|sockets|users)$/.test(rest)
  );
}

export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}
