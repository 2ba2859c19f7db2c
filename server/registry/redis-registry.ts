// Registry shared by all instances, in Redis (docs/redis-keys.md). Works on a standalone
// Redis and on Redis Cluster alike:
// - A user's part of the registry (devices, socket -> terminals, terminal -> sockets,
//   primaries) is four hashes in one hash slot; every mutation is one Lua script on them,
//   so each change is atomic.
// - Terminal and socket ids lead to their user through owner keys. An id's owner never
//   changes, so these keys are claimed (SET if absent or ours) before the script, and
//   expire unless the instances holding sockets refresh them (refreshOwners).
// - Global counts (getStats) are one hash of per-user entries ordered by the user's
//   version (redis-scripts.ts): updated inside the script on a standalone Redis, by a
//   one-key script right after it on a cluster; either way they cannot end up disagreeing
//   with the hashes. The reaper's index server:<id>:users is written before the script.
// Fails fast with RedisUnavailableError when Redis is not ready; never answers "not found"
// for an error.
import { errorMessage, redisCall } from '../redis/errors.js';
import { scanKeys } from '../redis/scan.js';
import type { LoggerLike, RedisClient, RedisConnectionManager } from '../redis/types.js';
import { escapeGlob, isRegistryKey, registryKeys } from './keys.js';
import { sortDevices } from './local-state.js';
import {
  ADD,
  APPLY_COUNTS,
  CLAIM_OWNER,
  DEVICES,
  REAP_USER,
  REMOVE,
  REMOVE_ALL,
  SET_PRIMARY,
  SOCKETS_OF_SERVER,
  SYNC_SOCKET,
  UPDATE_PING,
  USER_SCRIPTS,
  type ScriptDef,
} from './redis-scripts.js';
import {
  RegistryConflictError,
  type DeviceInfo,
  type RegistryStats,
  type RemovedAttachment,
  type UserTerminalRegistry,
} from './types.js';

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;
const withScripts = new WeakSet<RedisClient>();

/**
 * Default life of an owner key without a refresh (the switching registry refreshes the
 * keys of the ids it holds at a quarter of it). Bounds how long the owner key of an ended
 * terminal or a reaped socket lingers.
 */
export const OWNER_TTL_MS = 10 * 60 * 1000;

export interface ReapResult {
  /** False when the instance's heartbeat key exists (nothing was touched). */
  dead: boolean;
  removed: RemovedAttachment[];
  /** Sockets of that instance still left (call again to continue). */
  remaining: number;
}

/** A mutation's result and the user's counts under its version (JSON; empty Lua tables come back as {}). */
interface MutationReport {
  r: unknown;
  v: number;
  t: number;
  s: number;
}

/** Counts of users whose cluster update failed, kept for a retry (bounded: a later report replaces them). */
const MAX_UNSENT_COUNTS = 10_000;

const arr = (x: unknown): string[] => (Array.isArray(x) ? (x as string[]) : []);

export class RedisRegistry implements UserTerminalRegistry {
  private readonly k: ReturnType<typeof registryKeys>;

  private readonly ownerTtlMs: number;
  private readonly log: LoggerLike | undefined;
  /** Cluster only: user -> counts whose APPLY_COUNTS failed, re-sent after the next one that succeeds. */
  private readonly unsentCounts = new Map<string, MutationReport>();
  private resending: Promise<void> | null = null;

  constructor(
    private readonly manager: RedisConnectionManager,
    opts: { ownerTtlMs?: number; logger?: LoggerLike } = {},
  ) {
    this.k = registryKeys(manager.prefix);
    this.ownerTtlMs = opts.ownerTtlMs ?? OWNER_TTL_MS;
    this.log = opts.logger;
  }

  async addSocket(terminalId: string, device: DeviceInfo): Promise<void> {
    const uid = device.userId;
    // The reaper finds a dead instance's sockets through the server index: written first.
    const [terminalOurs, socketOurs] = await Promise.all([
      this.claim(this.k.termOwner(terminalId), uid),
      this.claim(this.k.socketOwner(device.socketId), uid),
      this.cmd('addSocket', (c) => c.sadd(this.k.serverUsers(device.serverId), uid)),
    ]);
    // (A refused attach may leave a new owner key behind: it names no device and expires.)
    if (!terminalOurs) throw new RegistryConflictError('terminal_owner', terminalId, device.socketId);
    if (!socketOurs) throw new RegistryConflictError('socket_owner', terminalId, device.socketId);
    await this.mutate('addSocket', uid, ADD, [terminalId, device.socketId, encodeDevice(device)]);
  }

  // `owner` (optional, on the calls below): the user, when the caller knows it (the
  // switching registry does for its own sockets); it saves reading the owner key first.

  async removeSocket(terminalId: string, socketId: string, owner?: string): Promise<boolean> {
    const uid = owner ?? (await this.ownerOfTerminal(terminalId));
    if (uid === null) return false;
    return (await this.mutate('removeSocket', uid, REMOVE, [terminalId, socketId])) === 1;
  }

  async removeSocketFromAllTerminals(socketId: string, owner?: string): Promise<string[]> {
    const uid = owner ?? (await this.ownerOfSocket(socketId));
    if (uid === null) return [];
    const tids = arr(await this.mutate('removeSocketFromAllTerminals', uid, REMOVE_ALL, [socketId]));
    await this.forgetSocket(socketId);
    return tids.sort();
  }

  async getSocketsForTerminal(terminalId: string): Promise<string[]> {
    const uid = await this.ownerOfTerminal(terminalId);
    if (uid === null) return [];
    return (await this.listField('getSocketsForTerminal', this.k.user(uid)[2], terminalId)).sort();
  }

  async getDevicesForTerminal(terminalId: string): Promise<DeviceInfo[]> {
    const uid = await this.ownerOfTerminal(terminalId);
    if (uid === null) return [];
    const flat = (await this.run('getDevicesForTerminal', uid, DEVICES, [terminalId])) as string[];
    const out: DeviceInfo[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) out.push(decodeDevice(flat[i]!, uid, flat[i + 1]!));
    return sortDevices(out);
  }

  async getPrimarySocket(terminalId: string): Promise<string | null> {
    const uid = await this.ownerOfTerminal(terminalId);
    if (uid === null) return null;
    return this.cmd('getPrimarySocket', (c) => c.hget(this.k.user(uid)[3], terminalId));
  }

  async setPrimarySocket(terminalId: string, socketId: string | null, owner?: string): Promise<void> {
    const uid = owner ?? (await this.ownerOfTerminal(terminalId));
    if (uid === null) {
      if (socketId === null) return;
      throw new RegistryConflictError('not_attached', terminalId, socketId);
    }
    await this.run('setPrimarySocket', uid, SET_PRIMARY, [terminalId, socketId ?? '', 'set'], terminalId, socketId ?? '');
  }

  async updatePing(socketId: string, at: number = Date.now(), owner?: string): Promise<void> {
    const uid = owner ?? (await this.ownerOfSocket(socketId));
    if (uid !== null) await this.run('updatePing', uid, UPDATE_PING, [socketId, String(at)]);
  }

  async isSocketConnected(socketId: string): Promise<boolean> {
    const uid = await this.ownerOfSocket(socketId);
    if (uid === null) return false;
    return (await this.cmd('isSocketConnected', (c) => c.hexists(this.k.user(uid)[0], socketId))) === 1;
  }

  async getDeviceCount(terminalId: string): Promise<number> {
    return (await this.getSocketsForTerminal(terminalId)).length;
  }

  async hasConnectedDevices(terminalId: string): Promise<boolean> {
    return (await this.getDeviceCount(terminalId)) > 0;
  }

  async getTerminalsForSocket(socketId: string): Promise<string[]> {
    const uid = await this.ownerOfSocket(socketId);
    if (uid === null) return [];
    return (await this.listField('getTerminalsForSocket', this.k.user(uid)[1], socketId)).sort();
  }

  async getTerminalsForUser(userId: string): Promise<string[]> {
    return (await this.cmd('getTerminalsForUser', (c) => c.hkeys(this.k.user(userId)[2]))).sort();
  }

  /** Deletes every registry key under the prefix (SCAN every master + UNLINK); other keys are left alone. */
  async clear(): Promise<void> {
    const p = this.manager.prefix;
    await scanKeys(this.manager, `${escapeGlob(p)}*`, async (keys) => {
      // One key per UNLINK: keys of several slots cannot share a command on a cluster.
      await Promise.all(keys.filter((key) => isRegistryKey(p, key)).map((key) => this.cmd('clear', (c) => c.unlink(key))));
    });
  }

  async getStats(): Promise<RegistryStats> {
    const [terminals, sockets, users] = await this.cmd('getStats', (c) => c.hmget(this.k.counts, 'terminals', 'sockets', 'users'));
    return { backend: 'redis', terminals: Number(terminals ?? 0), sockets: Number(sockets ?? 0), users: Number(users ?? 0) };
  }

  // --- beyond the interface: used by SwitchingRegistry and the reaper ------------------

  /** Socket ids Redis attributes to an instance, with their users. */
  async socketsOfServer(serverId: string): Promise<Map<string, string>> {
    const users = await this.cmd('socketsOfServer', (c) => c.smembers(this.k.serverUsers(serverId)));
    const out = new Map<string, string>();
    await Promise.all(
      users.map(async (uid) => {
        for (const sid of (await this.run('socketsOfServer', uid, SOCKETS_OF_SERVER, [serverId])) as string[]) out.set(sid, uid);
      }),
    );
    return out;
  }

  /**
   * Make Redis hold exactly `terminalIds` for this socket (device null or no terminals:
   * remove it everywhere). `userHint`: the socket's user when the device is gone locally.
   * Returns terminals refused because another user owns them.
   */
  async syncSocket(
    socketId: string,
    device: DeviceInfo | null,
    terminalIds: string[],
    ctx: { userHint?: string; claimed?: Set<string> } = {},
  ): Promise<string[]> {
    const uid = device?.userId ?? ctx.userHint ?? (await this.ownerOfSocket(socketId));
    if (uid === null) return [];
    const refused: string[] = [];
    const accepted: string[] = [];
    if (device) {
      // `claimed`: what this re-publish already claimed (each id once, not once per socket).
      const claimed = ctx.claimed ?? new Set<string>();
      const once = (key: string, fn: () => Promise<boolean>): Promise<boolean> =>
        claimed.has(key)
          ? Promise.resolve(true)
          : fn().then((ok) => {
              if (ok) claimed.add(key);
              return ok;
            });
      const usersKey = this.k.serverUsers(device.serverId);
      const [socketOurs, ...owned] = await Promise.all([
        once(this.k.socketOwner(socketId), () => this.claim(this.k.socketOwner(socketId), uid)),
        ...terminalIds.map((tid) => once(this.k.termOwner(tid), () => this.claim(this.k.termOwner(tid), uid))),
        once(`${usersKey}\n${uid}`, () => this.cmd('syncSocket', (c) => c.sadd(usersKey, uid)).then(() => true)),
      ]);
      if (!socketOurs) return [...terminalIds];
      terminalIds.forEach((tid, i) => (owned[i] ? accepted : refused).push(tid));
    }
    await this.mutate('syncSocket', uid, SYNC_SOCKET, [socketId, device && accepted.length ? encodeDevice(device) : '', ...accepted]);
    if (!device) await this.forgetSocket(socketId);
    return refused;
  }

  /** Keep the owner keys of a held socket and its terminals alive (see OWNER_TTL_MS). */
  async refreshOwners(userId: string, socketId: string, terminalIds: string[]): Promise<void> {
    await Promise.all([this.k.socketOwner(socketId), ...terminalIds.map((t) => this.k.termOwner(t))].map((key) => this.claim(key, userId)));
  }

  /**
   * Re-publishing primaries: 'force' sets it if the socket is attached, 'nx' also needs no
   * primary to be set yet; null clears. Never throws a conflict; returns whether it was set.
   */
  async setPrimaryIf(terminalId: string, socketId: string | null, mode: 'force' | 'nx', owner?: string): Promise<boolean> {
    const uid = owner ?? (await this.ownerOfTerminal(terminalId));
    if (uid === null) return false;
    return (await this.run('setPrimaryIf', uid, SET_PRIMARY, [terminalId, socketId ?? '', mode])) === 1;
  }

  /**
   * One batch of crash cleanup for a dead instance: for each user it held sockets of,
   * detach up to `limit` of them everywhere (REAP_USER in redis-scripts.ts). Unless `force`
   * (an instance purging itself), nothing is touched while its heartbeat key exists. The
   * check and the removal are separate commands (they live in different slots): an
   * instance that was only frozen finds its heartbeat key gone and re-publishes.
   */
  async reapServer(serverId: string, limit: number, force = false): Promise<ReapResult> {
    const p = this.manager.prefix;
    if (!force && (await this.cmd('reapServer', (c) => c.exists(`${p}server:${serverId}`))) === 1) {
      return { dead: false, removed: [], remaining: 0 };
    }
    const usersKey = this.k.serverUsers(serverId);
    const users = await this.cmd('reapServer', (c) => c.srandmember(usersKey, Math.max(1, limit)));
    const removed: RemovedAttachment[] = [];
    let budget = limit;
    for (const uid of users) {
      if (budget <= 0) break;
      const [left, flat] = (await this.mutate('reapServer', uid, REAP_USER, [serverId, budget])) as [number, string[] | object];
      const pairs = arr(flat);
      for (let i = 0; i + 1 < pairs.length; i += 2) removed.push({ serverId, terminalId: pairs[i]!, socketId: pairs[i + 1]! });
      budget -= Math.max(1, pairs.length / 2);
      // The dead holder never uses these socket ids again.
      await Promise.all([...new Set(pairs.filter((_, i) => i % 2 === 1))].map((sid) => this.forgetSocket(sid)));
      // Only once the user holds nothing of that instance any more (a failed script keeps it listed).
      if (left === 0) await this.cmd('reapServer', (c) => c.srem(usersKey, uid));
    }
    const remaining = await this.cmd('reapServer', (c) => c.scard(usersKey));
    if (remaining === 0) await this.cmd('reapServer', (c) => c.srem(`${p}servers`, serverId));
    return { dead: true, removed, remaining };
  }

  // --- plumbing ----------------------------------------------------------------------

  private client(): RedisClient {
    const c = this.manager.readyClient();
    if (!withScripts.has(c)) {
      // Mutations also take the version key, and on a standalone Redis the counts key.
      const mutationKeys = this.manager.isCluster ? 5 : 6;
      for (const s of USER_SCRIPTS) {
        c.defineCommand(s.name, { numberOfKeys: s.counted ? mutationKeys : 4, lua: s.lua, readOnly: s.readOnly ?? false });
      }
      c.defineCommand(CLAIM_OWNER.name, { numberOfKeys: 1, lua: CLAIM_OWNER.lua });
      c.defineCommand(APPLY_COUNTS.name, { numberOfKeys: 1, lua: APPLY_COUNTS.lua });
      withScripts.add(c);
    }
    return c;
  }

  private cmd<T>(what: string, fn: (c: RedisClient) => Promise<T>): Promise<T> {
    return redisCall(`registry ${what}`, () => fn(this.client()));
  }

  private ownerOfTerminal(tid: string): Promise<string | null> {
    return this.cmd('owner lookup', (c) => c.get(this.k.termOwner(tid)));
  }

  private ownerOfSocket(sid: string): Promise<string | null> {
    return this.cmd('owner lookup', (c) => c.get(this.k.socketOwner(sid)));
  }

  /**
   * The socket left for good (its holder disconnected it): its owner key goes. Only the
   * holder does this, so no attach of the same socket can race with it. Other detaches
   * leave the key to expire (a concurrent attach elsewhere may still need it).
   */
  private async forgetSocket(sid: string): Promise<void> {
    await this.cmd('forget socket', (c) => c.del(this.k.socketOwner(sid)));
  }

  /** True if the id is (now) this user's. */
  private async claim(ownerKey: string, uid: string): Promise<boolean> {
    const call = (c: RedisClient) => (c as unknown as Record<string, ScriptCall>)[CLAIM_OWNER.name]!.call(c, ownerKey, uid, this.ownerTtlMs);
    return (await this.cmd('claim owner', call)) === 1;
  }

  private async listField(what: string, key: string, field: string): Promise<string[]> {
    const raw = await this.cmd(what, (c) => c.hget(key, field));
    return raw ? arr(JSON.parse(raw)) : [];
  }

  /** Run a user script; maps our Lua error tags to RegistryConflictError. */
  private async run(what: string, uid: string, s: ScriptDef, args: (string | number)[], tid = '', sid = ''): Promise<unknown> {
    try {
      return await this.cmd(what, (c) => {
        const call = (c as unknown as Record<string, ScriptCall>)[s.name]!;
        if (!s.counted) return call.call(c, ...this.k.user(uid), ...args);
        const countKeys = this.manager.isCluster ? [this.k.userVersion(uid)] : [this.k.userVersion(uid), this.k.counts];
        return call.call(c, ...this.k.user(uid), ...countKeys, uid, ...args);
      });
    } catch (err) {
      const tag = err instanceof Error && err.name === 'ReplyError' ? /PTYHUB_(\w+)/.exec(err.message)?.[1] : undefined;
      if (tag === 'NOT_ATTACHED') throw new RegistryConflictError('not_attached', tid, sid);
      throw err;
    }
  }

  /**
   * Run a mutating user script and return its result. On a cluster, then apply the user's
   * counts it reported to the counts hash (another slot), awaited so counts read after a
   * call include it. Entries are ordered by version, so a late or retried update never
   * wins over a newer one. They only feed the counts: a failure is logged, not thrown, and
   * the entry is re-sent after the next update that succeeds (or replaced by a newer one).
   */
  private async mutate(what: string, uid: string, s: ScriptDef, args: (string | number)[]): Promise<unknown> {
    const report = JSON.parse((await this.run(what, uid, s, args)) as string) as MutationReport;
    if (this.manager.isCluster) {
      this.unsentCounts.delete(uid);
      if (await this.applyCounts(what, uid, report)) this.resendCounts();
    }
    return report.r;
  }

  private async applyCounts(what: string, uid: string, c: MutationReport): Promise<boolean> {
    try {
      const call = (r: RedisClient) => (r as unknown as Record<string, ScriptCall>)[APPLY_COUNTS.name]!.call(r, this.k.counts, uid, c.v, c.t, c.s);
      await this.cmd(what, call);
      return true;
    } catch (err) {
      const kept = this.unsentCounts.get(uid);
      if (!kept || kept.v < c.v) {
        if (!kept && this.unsentCounts.size >= MAX_UNSENT_COUNTS) {
          const oldest = this.unsentCounts.keys().next().value as string;
          this.unsentCounts.delete(oldest);
        }
        this.unsentCounts.set(uid, c);
      }
      this.log?.warn({ err: errorMessage(err), userId: uid }, 'registry: counts update failed (re-sent later)');
      return false;
    }
  }

  /** Re-send the counts kept after failures, once at a time (those that fail again stay kept). */
  private resendCounts(): void {
    if (this.resending || this.unsentCounts.size === 0) return;
    const batch = [...this.unsentCounts];
    this.unsentCounts.clear();
    this.resending = Promise.all(batch.map(([uid, c]) => this.applyCounts('resend counts', uid, c))).then(() => {
      this.resending = null;
    });
  }
}

/** Device fields as strings (Lua's cjson would round large numbers). userId is implied by the key. */
function encodeDevice(d: DeviceInfo): string {
  return JSON.stringify({
    deviceId: d.deviceId,
    deviceName: d.deviceName,
    serverId: d.serverId,
    connectedAt: String(d.connectedAt),
    lastPingAt: String(d.lastPingAt),
  });
}

function decodeDevice(socketId: string, userId: string, raw: string): DeviceInfo {
  const f = JSON.parse(raw) as Record<string, string>;
  return {
    socketId,
    deviceId: f.deviceId ?? '',
    deviceName: f.deviceName ?? '',
    serverId: f.serverId ?? '',
    userId,
    connectedAt: Number(f.connectedAt ?? 0),
    lastPingAt: Number(f.lastPingAt ?? 0),
  };
}
