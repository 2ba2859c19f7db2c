// Print the live registry in Redis: instances (alive or not), users -> terminals -> devices,
// with usernames from the database. Read-only (SCAN on every master, SMEMBERS, GET, HGETALL,
// PTTL; one SELECT of users). Configuration as the server's (environment, .env: a Redis
// Cluster with REDIS_CLUSTER_NODES); with none of REDIS_CLUSTER_NODES, REDIS_URL and
// REDIS_HOST set, the Redis and database of a running `npm run start:cluster`.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfig, loadDotEnv } from '../server/config/env.js';
import { createPrismaClient } from '../server/db/client.js';
import { isSqliteUrl, redactDatabaseUrl } from '../server/db/provider.js';
import { sqlitePath } from '../server/db/sqlite.js';
import { listServers, type ServerInfo } from '../server/redis/instance-heartbeat.js';
import { allKeys } from '../server/redis/scan.js';
import type { RedisClient } from '../server/redis/types.js';
import { escapeGlob, registryKeys } from '../server/registry/keys.js';
import { RedisRegistry } from '../server/registry/redis-registry.js';
import { sessionCacheKey } from '../server/sessions/session-cache-scripts.js';
import { redisManagerFor } from '../server/state.js';
import { CLUSTER_ENV_FILE, readClusterEnv } from './cluster-env.js';

const USAGE = `usage: npm run inspect -- [--user <username or id>] [--json]

Shows the live registry in Redis: instances and their heartbeats, each user's running
terminals with their attached devices (and the instance each device is connected to),
locks held, and the session cache.

  --user <name>  only this user (a username, or a user id)
  --json         machine-readable output
  -h, --help     this text

Redis and the database come from the environment or .env, as for the server
(REDIS_CLUSTER_NODES, REDIS_URL or REDIS_HOST..., REDIS_KEY_PREFIX, DATABASE_URL). When none
of REDIS_CLUSTER_NODES, REDIS_URL and REDIS_HOST is set, the settings of a running \`npm run start:cluster\` (${CLUSTER_ENV_FILE}) are used.`;

interface DeviceView {
  socketId: string;
  deviceName: string;
  deviceId: string;
  serverId: string;
  connectedAt: number;
  lastPingAt: number;
  primary: boolean;
}
interface TerminalView {
  terminalId: string;
  primary: string | null;
  devices: DeviceView[];
  session: Awaited<ReturnType<typeof cachedSession>>;
}
interface InstanceView extends ServerInfo {
  sockets: number;
}

function fail(message: string): never {
  console.error(`inspect: ${message}`);
  process.exit(2);
}

function parseOptions() {
  try {
    return parseArgs({
      options: { user: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
    }).values;
  } catch (err) {
    return fail(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  }
}

const options = parseOptions();
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
const asJson = options.json;

await loadDotEnv();
if (!process.env.REDIS_URL?.trim() && !process.env.REDIS_HOST?.trim() && !process.env.REDIS_CLUSTER_NODES?.trim()) {
  const cluster = readClusterEnv();
  if (!cluster?.REDIS_URL) {
    console.error(
      `Set REDIS_URL (or REDIS_HOST, or REDIS_CLUSTER_NODES) to the Redis ptyhub uses, or start a local cluster with \`npm run start:cluster\` (it writes ${CLUSTER_ENV_FILE}).`,
    );
    process.exit(2);
  }
  // The cluster's settings fill only what is not set explicitly.
  for (const [k, v] of Object.entries(cluster)) if (!process.env[k]?.trim()) process.env[k] = v;
  if (!asJson) console.log(`(settings of npm run start:cluster, from ${CLUSTER_ENV_FILE})`);
}
function readConfig() {
  try {
    return loadConfig();
  } catch (err) {
    return fail(err instanceof ConfigError ? err.message : String(err));
  }
}
const config = readConfig();
const prefix = config.REDIS_KEY_PREFIX;
const manager = redisManagerFor(config, pino({ level: 'silent' }), {
  clientName: 'ptyhub-inspect',
  commandTimeoutMs: Math.max(config.REDIS_COMMAND_TIMEOUT_MS, 5000),
});

const scan = (pattern: string): Promise<string[]> => allKeys(manager, pattern);

/**
 * Usernames of user ids, from the database (read-only; a missing SQLite file is not
 * created). Null, with the reason printed, when the database cannot be read.
 */
async function usernames(): Promise<Map<string, string> | null> {
  const url = config.DATABASE_URL;
  if (isSqliteUrl(url) && !fs.existsSync(sqlitePath(url))) {
    console.error(`inspect: no database at ${url}; showing user ids only`);
    return null;
  }
  const prisma = createPrismaClient(url);
  try {
    const users = await prisma.user.findMany({ select: { id: true, username: true } });
    return new Map(users.map((u) => [u.id, u.username]));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    console.error(`inspect: could not read users from ${redactDatabaseUrl(url)} (${why}); showing user ids only`);
    return null;
  } finally {
    await prisma.$disconnect();
  }
}

/** The user id --user names: a username, else taken as an id. */
function userIdOf(wanted: string | undefined, names: Map<string, string> | null): string | undefined {
  if (wanted === undefined) return undefined;
  for (const [id, name] of names ?? []) if (name === wanted) return id;
  return wanted;
}

async function collect(redis: RedisClient, names: Map<string, string> | null, userFilter: string | undefined) {
  const k = registryKeys(prefix);
  const p = escapeGlob(prefix);
  const registry = new RedisRegistry(manager);

  // Instances: those listed in <prefix>servers plus any that still own registry entries.
  const listed = await listServers(manager);
  const owners = (await scan(`${p}server:*:users`)).map((key) => key.slice(prefix.length + 'server:'.length, -':users'.length));
  const instances: InstanceView[] = listed.map((s) => ({ ...s, sockets: 0 }));
  for (const id of owners) if (!listed.some((s) => s.serverId === id)) instances.push({ serverId: id, alive: false, ttlMs: null, sockets: 0 });
  for (const s of instances) s.sockets = (await registry.socketsOfServer(s.serverId)).size;
  instances.sort((a, b) => (a.serverId < b.serverId ? -1 : 1));

  // Users -> terminals -> devices (each user's part of the registry is four hashes).
  const userIds = (await scan(`${p}{u:*}:term-sockets`))
    .map((key) => key.slice(prefix.length + '{u:'.length, -'}:term-sockets'.length))
    .filter((u) => userFilter === undefined || u === userFilter)
    .sort();
  const users: Array<{ userId: string; username: string | null; terminals: TerminalView[] }> = [];
  for (const userId of userIds) {
    const [devKey, , termKey, primaryKey] = k.user(userId);
    const [termSockets, primaries, devices] = await Promise.all([redis.hgetall(termKey), redis.hgetall(primaryKey), redis.hgetall(devKey)]);
    const terminals: TerminalView[] = [];
    for (const terminalId of Object.keys(termSockets).sort()) {
      const primary = primaries[terminalId] ?? null;
      const list = (JSON.parse(termSockets[terminalId]!) as string[])
        .map((socketId) => {
          const h = JSON.parse(devices[socketId] ?? '{}') as Record<string, string>;
          return {
            socketId,
            deviceName: h.deviceName ?? '?',
            deviceId: h.deviceId ?? '?',
            serverId: h.serverId ?? '?',
            connectedAt: Number(h.connectedAt ?? 0),
            lastPingAt: Number(h.lastPingAt ?? 0),
            primary: socketId === primary,
          };
        })
        .sort((a, b) => a.connectedAt - b.connectedAt);
      terminals.push({ terminalId, primary, devices: list, session: await cachedSession(redis, terminalId) });
    }
    users.push({ userId, username: names?.get(userId) ?? null, terminals });
  }
  // Locks held right now, and how the session cache is filled (one command per key: on a
  // cluster the keys live on different nodes).
  const lockKeys = await scan(`${p}lock:*`);
  const ttls = await Promise.all(lockKeys.map((key) => redis.pttl(key)));
  const locks = lockKeys.map((key, i) => ({ lock: key.slice(prefix.length + 'lock:'.length), ttlMs: ttls[i] ?? -1 }));
  const sessionKeys = (await scan(`${escapeGlob(sessionCacheKey(prefix, ''))}*`)).filter((key) => !key.slice(sessionCacheKey(prefix, '').length).includes(':'));
  const kinds = await Promise.all(sessionKeys.map((key) => redis.hget(key, 't')));
  const cache = { live: kinds.filter((t) => t === 'r').length, tombstones: kinds.filter((t) => t === 'x').length, markers: kinds.filter((t) => t === 'i').length };
  return { prefix, at: new Date().toISOString(), instances, users, locks, cache };
}

/** The session cache entry of a terminal: title, size, version, owner (if cached). */
async function cachedSession(redis: RedisClient, terminalId: string) {
  const h = await redis.hgetall(sessionCacheKey(prefix, terminalId));
  if (h.t !== 'r' || !h.d) return h.t === 'x' ? { ended: true as const, version: Number(h.v) } : null;
  const d = JSON.parse(h.d) as { title: string; cols: number; rows: number; version: number; serverId: string };
  return { title: d.title, size: `${d.cols}x${d.rows}`, version: d.version, owner: d.serverId };
}

function ago(ms: number): string {
  if (!ms) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''} ago`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
}

function print(view: Awaited<ReturnType<typeof collect>>): void {
  const alive = new Map(view.instances.map((s) => [s.serverId, s.alive]));
  console.log(`ptyhub registry, prefix "${view.prefix}", ${view.at}\n`);
  console.log(`Instances (${view.instances.length})`);
  for (const s of view.instances) {
    const state = s.alive ? `alive  heartbeat ttl ${((s.ttlMs ?? 0) / 1000).toFixed(1)}s` : 'DEAD   heartbeat expired (reaper removes its entries)';
    console.log(`  ${s.serverId.padEnd(20)} ${state.padEnd(56)} ${s.sockets} socket(s)`);
  }
  console.log(`\nUsers with running terminals (${view.users.length})${options.user ? `, only ${options.user}` : ''}`);
  for (const u of view.users) {
    console.log(`  ${u.username ?? '(unknown user)'}  ${u.userId}`);
    for (const t of u.terminals) {
      const s = t.session;
      const about = !s ? 'not cached' : 'ended' in s ? `ended (tombstone v${s.version})` : `"${s.title}" ${s.size} v${s.version} on ${s.owner}`;
      console.log(`    terminal ${t.terminalId}  ${about}  ${t.devices.length} device(s), primary ${t.primary ?? 'none'}`);
      for (const d of t.devices) {
        const server = `${d.serverId}${alive.get(d.serverId) ? '' : ' (DEAD)'}`;
        console.log(
          `      ${d.primary ? '*' : '-'} ${d.deviceName} [${d.deviceId}]  socket ${d.socketId}  on ${server}  connected ${ago(d.connectedAt)}  last ping ${ago(d.lastPingAt)}`,
        );
      }
    }
  }
  console.log(`\nSession cache: ${view.cache.live} live, ${view.cache.tombstones} tombstone(s), ${view.cache.markers} invalidation marker(s)`);
  console.log(`Locks (${view.locks.length})`);
  for (const l of view.locks) console.log(`  ${l.lock}  expires in ${l.ttlMs} ms`);
  console.log('\n(* = primary device)');
}

try {
  const names = await usernames();
  await manager.waitReady(config.REDIS_CONNECT_TIMEOUT_MS);
  const view = await collect(manager.readyClient(), names, userIdOf(options.user, names));
  if (asJson) console.log(JSON.stringify(view, null, 2));
  else print(view);
} catch (err) {
  console.error(`inspect: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await manager.quit();
}
