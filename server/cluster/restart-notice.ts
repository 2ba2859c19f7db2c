// A planned restart of an instance (SIGTERM of its web server; its pty host keeps the
// terminals running): `<prefix>restarting:<serverId>`, with a TTL of RESTART_GRACE_MS,
// tells the other instances not to declare its terminals owner_lost while it is gone.
// A crash sets no notice, so owner-loss detection works as before.
import type { RedisConnectionManager } from '../redis/types.js';

export const restartNoticeKey = (prefix: string, serverId: string): string => `${prefix}restarting:${serverId}`;

export async function announceRestart(redis: RedisConnectionManager, serverId: string, graceMs: number): Promise<void> {
  if (graceMs <= 0) return;
  await redis.readyClient().set(restartNoticeKey(redis.prefix, serverId), '1', 'PX', graceMs);
}

/** The instance is back: its own heartbeat speaks for it again. */
export async function clearRestartNotice(redis: RedisConnectionManager, serverId: string): Promise<void> {
  await redis.readyClient().del(restartNoticeKey(redis.prefix, serverId));
}

export async function isRestarting(redis: RedisConnectionManager, serverId: string): Promise<boolean> {
  return (await redis.readyClient().exists(restartNoticeKey(redis.prefix, serverId))) === 1;
}
