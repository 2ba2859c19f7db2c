// npm run host:stop
// Ends this instance's pty host (same SERVER_ID and PTY_HOST_SOCKET as the web server):
// every shell it runs is ended (SIGHUP, then SIGKILL), and the terminals are recorded as
// ended (reason "shutdown"), by the web server if one is attached, otherwise here.
import { loadConfig, loadDotEnv } from '../config/env.js';
import { createPrismaClient } from '../db/client.js';
import { createLogger } from '../log/logger.js';
import { connectSocket, HostConnection } from '../pty-host-client/host-connection.js';
import { hostPaths } from '../pty-protocol/host-paths.js';
import type { HostExit } from '../pty-protocol/messages.js';
import { CachedSessionStore } from '../sessions/cached-store.js';
import { DbSessionStore } from '../sessions/db-store.js';
import { redisManagerFor } from '../state.js';

async function main(): Promise<number> {
  await loadDotEnv();
  const config = loadConfig();
  const paths = hostPaths(config);
  let socket;
  try {
    socket = await connectSocket(paths.socket, 5000);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') {
      console.log(`no pty host runs for SERVER_ID ${config.SERVER_ID} (${paths.socket})`);
      return 0;
    }
    throw err;
  }
  const { conn } = await HostConnection.open(socket, 'control', config.SERVER_ID, 5000);
  // Ending a shell takes at most its kill grace (2 s); leave room for many.
  const answer = await conn.call({ t: 'stop' }, 60_000);
  conn.close();
  if (answer.t !== 'stopped') throw new Error(`unexpected answer from the pty host: ${answer.t}`);
  console.log(`pty host stopped; ${answer.ended.length} terminal(s) ended`);
  if (!answer.serverAttached && answer.ended.length > 0) await recordEnded(config, answer.ended);
  return 0;
}

/** No web server was attached to record the ends: write them to the database (and cache). */
async function recordEnded(config: ReturnType<typeof loadConfig>, ended: HostExit[]): Promise<void> {
  const logger = createLogger({ level: 'warn', serverId: config.SERVER_ID, format: 'json' });
  const prisma = createPrismaClient(config.DATABASE_URL);
  const redis = redisManagerFor(config, logger);
  const store = new CachedSessionStore({
    db: new DbSessionStore(prisma),
    redis,
    ttlSeconds: config.SESSION_CACHE_TTL_SECONDS,
    tombstoneTtlSeconds: config.TOMBSTONE_TTL_SECONDS,
    logger,
  });
  try {
    if (redis.enabled) await redis.waitReady(config.REDIS_CONNECT_TIMEOUT_MS).catch(() => undefined);
    for (const e of ended) await store.end(e.id, { exitCode: e.exitCode, reason: 'shutdown' });
    console.log(`recorded ${ended.length} terminal(s) as ended`);
  } finally {
    store.close();
    await redis.quit();
    await prisma.$disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`host:stop failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
