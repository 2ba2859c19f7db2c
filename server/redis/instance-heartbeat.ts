// SERVER_ID uniqueness and liveness. An instance owns `<prefix>server:<id>` (its random
// token, with a TTL) and keeps it alive; `<prefix>servers` lists every instance id that
// may still own registry entries, so a reaper can find the ones whose key expired.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisClient } from './types.js';
import { errorMessage, isRedisUnavailable, redisCall } from './errors.js';
import { Listeners } from './listeners.js';
import type { LoggerLike, RedisConnectionManager } from './types.js';

export const SERVER_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const heartbeatKey = (prefix: string, serverId: string): string => `${prefix}server:${serverId}`;
export const serversKey = (prefix: string): string => `${prefix}servers`;

export class ServerIdInUseError extends Error {
  readonly code = 'conflict' as const;
  constructor(readonly serverId: string) {
    super(`SERVER_ID ${serverId} is in use by a live instance; set a different SERVER_ID`);
    this.name = 'ServerIdInUseError';
  }
}

export interface ServerInfo {
  serverId: string;
  alive: boolean;
  /** Remaining heartbeat TTL in ms; null when the key is gone. */
  ttlMs: number | null;
}

export interface HeartbeatEvents {
  /** Our key had vanished (outage, data loss, or we were reaped) and was set again. */
  reclaimed: () => void;
  /** Another instance now holds our SERVER_ID. */
  lost: (err: ServerIdInUseError) => void;
}

export type RefreshResult = 'refreshed' | 'reclaimed';

export interface InstanceHeartbeat {
  readonly serverId: string;
  readonly token: string;
  /**
   * Make sure our key is in place now (PEXPIRE, or SET again if it vanished). Single-flight.
   * Throws ServerIdInUseError if another instance holds it, RedisUnavailableError if down.
   */
  refresh(): Promise<RefreshResult>;
  isAlive(serverId: string): Promise<boolean>;
  listServers(): Promise<ServerInfo[]>;
  on<E extends keyof HeartbeatEvents>(event: E, fn: HeartbeatEvents[E]): void;
  off<E extends keyof HeartbeatEvents>(event: E, fn: HeartbeatEvents[E]): void;
  /**
   * Stop refreshing. release=true (default) deletes our key if still ours, so reapers clean
   * up at once; false leaves it to expire (what a crash looks like).
   */
  stop(opts?: { release?: boolean }): Promise<void>;
}

export interface HeartbeatOptions {
  logger: LoggerLike;
  /** Refresh period (default ttlMs / 3). */
  refreshMs?: number;
  /**
   * When the id is taken at start, wait up to this long for the holder's key to expire
   * (a crashed predecessor with the same id); a live holder keeps it and we throw.
   * Default ttlMs; 0 = fail at once.
   */
  waitForStaleMs?: number;
}

// KEYS: heartbeat. ARGV: token, ttlMs.
// 1 = extended, 2 = was missing and set again, 0 = held by someone else.
// One key (Redis Cluster: one slot); the caller adds the id to `servers` first.
const REFRESH_LUA = `
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0`;

// KEYS: heartbeat. ARGV: token. Compare-and-delete.
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;
const defined = new WeakSet<RedisClient>();

function scripts(client: RedisClient): { refresh: ScriptCall; release: ScriptCall } {
  if (!defined.has(client)) {
    client.defineCommand('ptyhubHeartbeatRefresh', { numberOfKeys: 1, lua: REFRESH_LUA });
    client.defineCommand('ptyhubHeartbeatRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
    defined.add(client);
  }
  const c = client as unknown as Record<string, ScriptCall>;
  return { refresh: c.ptyhubHeartbeatRefresh!.bind(client), release: c.ptyhubHeartbeatRelease!.bind(client) };
}

/**
 * Claim `serverId` for this process and keep it alive every refreshMs.
 * Throws ServerIdInUseError when a live instance holds it.
 */
export async function claimServerId(
  manager: RedisConnectionManager,
  serverId: string,
  ttlMs: number,
  opts: HeartbeatOptions,
): Promise<InstanceHeartbeat> {
  if (!SERVER_ID_PATTERN.test(serverId)) {
    throw new Error(`invalid SERVER_ID ${JSON.stringify(serverId)}: use letters, digits, ".", "_" or "-" (at most 64)`);
  }
  const hb = new Heartbeat(manager, serverId, ttlMs, opts);
  await hb.claim(opts.waitForStaleMs ?? ttlMs);
  hb.start();
  return hb;
}

/**
 * For an instance that starts while Redis is unreachable: returns at once and claims the id
 * when Redis becomes ready (emitting 'reclaimed'), then keeps it alive. If another instance
 * holds the id by then, it emits 'lost' and refresh() throws ServerIdInUseError, so a
 * SwitchingRegistry given this heartbeat never publishes under someone else's id.
 */
export function startHeartbeat(
  manager: RedisConnectionManager,
  serverId: string,
  ttlMs: number,
  opts: HeartbeatOptions,
): InstanceHeartbeat {
  if (!SERVER_ID_PATTERN.test(serverId)) {
    throw new Error(`invalid SERVER_ID ${JSON.stringify(serverId)}: use letters, digits, ".", "_" or "-" (at most 64)`);
  }
  const hb = new Heartbeat(manager, serverId, ttlMs, opts);
  hb.start(true);
  return hb;
}

class Heartbeat implements InstanceHeartbeat {
  readonly token = randomBytes(16).toString('hex');
  private readonly key: string;
  private readonly events: Listeners<HeartbeatEvents>;
  private readonly refreshMs: number;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<RefreshResult> | null = null;
  private stopped = false;
  private readonly onReady = (): void => {
    // Put the key back right away after an outage, before anyone re-publishes entries.
    this.refresh().catch((err: unknown) => this.logRefreshError(err));
  };

  constructor(
    private readonly manager: RedisConnectionManager,
    readonly serverId: string,
    private readonly ttlMs: number,
    private readonly opts: HeartbeatOptions,
  ) {
    this.key = heartbeatKey(manager.prefix, serverId);
    this.events = new Listeners(opts.logger, 'heartbeat');
    this.refreshMs = opts.refreshMs ?? Math.max(1, Math.floor(ttlMs / 3));
  }

  async claim(waitForStaleMs: number): Promise<void> {
    const client = (): RedisClient => this.manager.readyClient();
    const trySet = () =>
      redisCall('heartbeat claim', () => client().set(this.key, this.token, 'PX', this.ttlMs, 'NX'));
    if ((await trySet()) !== 'OK') {
      const holder = await redisCall('heartbeat claim', () => client().get(this.key));
      const pttl = await redisCall('heartbeat claim', () => client().pttl(this.key));
      // A crashed predecessor's key runs out within its TTL; a live one is refreshed.
      if (pttl > 0 && pttl <= waitForStaleMs) {
        this.opts.logger.info({ serverId: this.serverId, waitMs: pttl }, 'heartbeat: SERVER_ID held; waiting for it to expire');
        await sleep(pttl + 20);
      }
      if ((await trySet()) !== 'OK') {
        this.opts.logger.error({ serverId: this.serverId, holder: holder?.slice(0, 8) }, 'heartbeat: SERVER_ID in use');
        throw new ServerIdInUseError(this.serverId);
      }
    }
    await redisCall('heartbeat claim', () => client().sadd(serversKey(this.manager.prefix), this.serverId));
    this.opts.logger.info({ serverId: this.serverId, ttlMs: this.ttlMs }, 'heartbeat: SERVER_ID claimed');
  }

  start(refreshNow = false): void {
    this.manager.on('ready', this.onReady);
    if (refreshNow && this.manager.state === 'ready') this.onReady();
    this.schedule();
  }

  refresh(): Promise<RefreshResult> {
    if (this.stopped) return Promise.reject(new Error('heartbeat stopped'));
    if (!this.inFlight) {
      this.inFlight = this.refreshOnce().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  async isAlive(serverId: string): Promise<boolean> {
    const n = await redisCall('heartbeat isAlive', () =>
      this.manager.readyClient().exists(heartbeatKey(this.manager.prefix, serverId)),
    );
    return n === 1;
  }

  async listServers(): Promise<ServerInfo[]> {
    return listServers(this.manager);
  }

  on<E extends keyof HeartbeatEvents>(event: E, fn: HeartbeatEvents[E]): void {
    this.events.on(event, fn);
  }

  off<E extends keyof HeartbeatEvents>(event: E, fn: HeartbeatEvents[E]): void {
    this.events.off(event, fn);
  }

  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.manager.off('ready', this.onReady);
    await this.inFlight?.catch(() => undefined);
    if (opts.release ?? true) {
      try {
        await redisCall('heartbeat release', () =>
          scripts(this.manager.readyClient()).release(this.key, this.token),
        );
      } catch (err) {
        // Not fatal: the key expires on its own within ttlMs.
        this.opts.logger.warn({ err: errorMessage(err) }, 'heartbeat: release failed; key will expire');
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.refresh()
        .catch((err: unknown) => this.logRefreshError(err))
        .finally(() => this.schedule());
    }, this.refreshMs);
    this.timer.unref();
  }

  private async refreshOnce(): Promise<RefreshResult> {
    const prefix = this.manager.prefix;
    // Listed before the key is (re)set, so every live heartbeat key is found by reapers
    // (SADD is idempotent; a dead id left listed is dropped by the reaper).
    await redisCall('heartbeat refresh', () => this.manager.readyClient().sadd(serversKey(prefix), this.serverId));
    const result = await redisCall('heartbeat refresh', () => scripts(this.manager.readyClient()).refresh(this.key, this.token, this.ttlMs));
    if (result === 1) return 'refreshed';
    if (result === 2) {
      this.opts.logger.warn({ serverId: this.serverId }, 'heartbeat: key had expired; claimed it again');
      this.events.emit('reclaimed');
      return 'reclaimed';
    }
    const err = new ServerIdInUseError(this.serverId);
    this.events.emit('lost', err);
    throw err;
  }

  private logRefreshError(err: unknown): void {
    if (err instanceof ServerIdInUseError) {
      this.opts.logger.error({ serverId: this.serverId }, `heartbeat: ${err.message}`);
    } else if (isRedisUnavailable(err)) {
      this.opts.logger.debug({ err: errorMessage(err) }, 'heartbeat: refresh skipped, Redis unavailable');
    } else {
      this.opts.logger.error({ err: errorMessage(err) }, 'heartbeat: refresh failed');
    }
  }
}

/** Every instance id in `<prefix>servers` with its heartbeat state. */
export async function listServers(manager: RedisConnectionManager): Promise<ServerInfo[]> {
  const client = manager.readyClient();
  const ids = (await redisCall('listServers', () => client.smembers(serversKey(manager.prefix)))).sort();
  if (ids.length === 0) return [];
  const replies = await redisCall('listServers', () => {
    const pipe = client.pipeline();
    for (const id of ids) pipe.pttl(heartbeatKey(manager.prefix, id));
    return pipe.exec();
  });
  return ids.map((serverId, i) => {
    const [err, pttl] = replies?.[i] ?? [new Error('no reply'), null];
    if (err) throw err; // every pipeline reply is checked: an error is never "not alive"
    const ms = Number(pttl);
    // -2: no key (expired); -1: no TTL (should not happen, but it exists)
    return { serverId, alive: ms >= 0 || ms === -1, ttlMs: ms >= 0 ? ms : null };
  });
}
