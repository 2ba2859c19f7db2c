// Print the live registry in Redis: instances (alive or not), users -> terminals -> devices.
// Read-only (SCAN on every master, SMEMBERS, GET, HGETALL, PTTL). Uses REDIS_CLUSTER_NODES,
// REDIS_URL or REDIS_HOST/PORT/PASSWORD/DB and REDIS_KEY_PREFIX, from the environment or .env.
//   npm run inspect            (tsx scripts/inspect.ts)
//   npm run inspect -- --json  machine-readable
//   npm run inspect -- --user <userId>
import { config } from 'dotenv';
import { createRedisManager } from '../server/redis/connection-manager.js';
import { listServers, type ServerInfo } from '../server/redis/instance-heartbeat.js';
import { allKeys } from '../server/redis/scan.js';
import type { RedisClient } from '../server/redis/types.js';
import { escapeGlob, registryKeys } from '../server/registry/keys.js';
import { RedisRegistry } from '../server/registry/redis-registry.js';

config({ quiet: true });

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

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const userFilter = args.includes('--user') ? args[args.indexOf('--user') + 1] : undefined;

const prefix = process.env.REDIS_KEY_PREFIX ?? 'ptyhub:';
const url = process.env.REDIS_URL?.trim() || undefined;
const host = process.env.REDIS_HOST?.trim() || undefined;
const clusterNodes = process.env.REDIS_CLUSTER_NODES?.trim() || undefined;
if (!url && !host && !clusterNodes) {
  console.error('Set REDIS_URL (or REDIS_HOST, or REDIS_CLUSTER_NODES) to the Redis ptyhub uses.');
  process.exit(2);
}
const silent = { info() {}, debug() {}, warn() {}, error() {} };
const manager = createRedisManager({
  ...(clusterNodes ? { clusterNodes } : {}),
  ...(url ? { url } : {}),
  ...(host ? { host } : {}),
  ...(process.env.REDIS_PORT ? { port: Number(process.env.REDIS_PORT) } : {}),
  ...(process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {}),
  ...(process.env.REDIS_DB ? { db: Number(process.env.REDIS_DB) } : {}),
  keyPrefix: prefix,
  commandTimeoutMs: Number(process.env.REDIS_COMMAND_TIMEOUT_MS ?? 5000),
  connectTimeoutMs: Number(process.env.REDIS_CONNECT_TIMEOUT_MS ?? 5000),
  logger: silent,
  clientName: 'ptyhub-inspect',
});

const scan = (pattern: string): Promise<string[]> => allKeys(manager, pattern);

async function collect(redis: RedisClient) {
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
  const users: Array<{ userId: string; terminals: TerminalView[] }> = [];
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
    users.push({ userId, terminals });
  }
  // Locks held right now, and how the session cache is filled (one command per key: on a
  // cluster the keys live on different nodes).
  const lockKeys = await scan(`${p}lock:*`);
  const ttls = await Promise.all(lockKeys.map((key) => redis.pttl(key)));
  const locks = lockKeys.map((key, i) => ({ lock: key.slice(prefix.length + 'lock:'.length), ttlMs: ttls[i] ?? -1 }));
  const sessionKeys = (await scan(`${p}session:*`)).filter((key) => !key.slice(prefix.length + 'session:'.length).includes(':'));
  const kinds = await Promise.all(sessionKeys.map((key) => redis.hget(key, 't')));
  const cache = { live: kinds.filter((t) => t === 'r').length, tombstones: kinds.filter((t) => t === 'x').length, markers: kinds.filter((t) => t === 'i').length };
  return { prefix, at: new Date().toISOString(), instances, users, locks, cache };
}

/** The session cache entry of a terminal: title, size, version, owner (if cached). */
async function cachedSession(redis: RedisClient, terminalId: string) {
  const h = await redis.hgetall(`${prefix}session:${terminalId}`);
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
  console.log(`\nUsers (${view.users.length})${userFilter ? ` matching ${userFilter}` : ''}`);
  for (const u of view.users) {
    console.log(`  ${u.userId}`);
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
  await manager.waitReady(Number(process.env.REDIS_CONNECT_TIMEOUT_MS ?? 5000));
  const view = await collect(manager.readyClient());
  if (asJson) console.log(JSON.stringify(view, null, 2));
  else print(view);
} catch (err) {
  console.error(`inspect: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await manager.quit();
}
