// Redis key names of the socket and event limits (documented in docs/redis-keys.md).
// The socket-lease script touches a user's and an address's set together, so those two
// share the hash tag {limits}; each event bucket is alone in its script and needs none.
export const limitKeys = (p: string) => ({
  userSockets: (userId: string) => `${p}{limits}:sockets:u:${userId}`,
  addressSockets: (address: string) => `${p}{limits}:sockets:a:${address}`,
  userEvents: (userId: string) => `${p}limits:events:u:${userId}`,
  addressEvents: (address: string) => `${p}limits:events:a:${address}`,
});
