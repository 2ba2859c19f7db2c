// Registry shared by all instances, in Redis sets and hashes (docs/redis-keys.md).
// Mutations are Lua scripts (atomic); reads are single commands or a read-only script.
// Fails fast with RedisUnavailableError when Redis is not ready; never answers "not found"
// for an error.
import type { Redis } from 'ioredis';
import { redisCall } from '../redis/errors.js';
import type { RedisConnectionManager } from '../redis/types.js';
import { isRegistryKey, registryKeys, escapeGlob } from './keys.js';
import { sortDevices } from './local-state.js';
import { ADD, ALL_SCRIPTS, DEVICES, REAP, REMOVE, REMOVE_ALL, SET_PRIMARY, SYNC_SOCKET, UPDATE_PING, type ScriptDef } from './redis-scripts.js';
import {
  RegistryConflictError,
  type DeviceInfo,
  type RegistryStats,
  type RemovedAttachment,
  type UserTerminalRegistry,
} from './types.js';

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;
const withScripts = new WeakSet<Redis>();

export interface ReapResult {
  /** False when the instance's heartbeat key exists (nothing was touched). */
  dead: boolean;
  removed: RemovedAttachment[];
  /** Sockets of that instance still left (call again to continue). */
  remaining: number;
}

export class RedisRegistry implements UserTerminalRegistry {
  private readonly k: ReturnType<typeof registryKeys>;

  constructor(private readonly manager: RedisConnectionManager) {
    this.k = registryKeys(manager.prefix);
  }

  async addSocket(terminalId: string, device: DeviceInfo): Promise<void> {
    await this.run('addSocket', ADD, [terminalId, ...deviceArgs(device)], terminalId, device.socketId);
  }

  async removeSocket(terminalId: string, socketId: string): Promise<boolean> {
    return (await this.run('removeSocket', REMOVE, [terminalId, socketId])) === 1;
  }

  async removeSocketFromAllTerminals(socketId: string): Promise<string[]> {
    return ((await this.run('removeSocketFromAllTerminals', REMOVE_ALL, [socketId])) as string[]).sort();
  }

  async getSocketsForTerminal(terminalId: string): Promise<string[]> {
    return (await this.cmd('getSocketsForTerminal', (c) => c.smembers(this.k.termSockets(terminalId)))).sort();
  }

  async getDevicesForTerminal(terminalId: string): Promise<DeviceInfo[]> {
    const rows = (await this.run('getDevicesForTerminal', DEVICES, [terminalId])) as string[][];
    return sortDevices(rows.map(parseDeviceRow));
  }

  async getPrimarySocket(terminalId: string): Promise<string | null> {
    return this.cmd('getPrimarySocket', (c) => c.get(this.k.termPrimary(terminalId)));
  }

  async setPrimarySocket(terminalId: string, socketId: string | null): Promise<void> {
    await this.run('setPrimarySocket', SET_PRIMARY, [terminalId, socketId ?? '', 'set'], terminalId, socketId ?? '');
  }

  async updatePing(socketId: string, at: number = Date.now()): Promise<void> {
    await this.run('updatePing', UPDATE_PING, [socketId, at]);
  }

  async isSocketConnected(socketId: string): Promise<boolean> {
    return (await this.cmd('isSocketConnected', (c) => c.exists(this.k.socketDevice(socketId)))) === 1;
  }

  async getDeviceCount(terminalId: string): Promise<number> {
    return this.cmd('getDeviceCount', (c) => c.scard(this.k.termSockets(terminalId)));
  }

  async hasConnectedDevices(terminalId: string): Promise<boolean> {
    return (await this.getDeviceCount(terminalId)) > 0;
  }

  async getTerminalsForSocket(socketId: string): Promise<string[]> {
    return (await this.cmd('getTerminalsForSocket', (c) => c.smembers(this.k.socketTerms(socketId)))).sort();
  }

  async getTerminalsForUser(userId: string): Promise<string[]> {
    return (await this.cmd('getTerminalsForUser', (c) => c.smembers(this.k.userTerms(userId)))).sort();
  }

  /** Deletes every registry key under the prefix (SCAN + UNLINK); other keys are left alone. */
  async clear(): Promise<void> {
    const p = this.manager.prefix;
    let cursor = '0';
    do {
      const [next, keys] = await this.cmd('clear', (c) => c.scan(cursor, 'MATCH', `${escapeGlob(p)}*`, 'COUNT', 1000));
      cursor = next;
      const mine = keys.filter((key) => isRegistryKey(p, key));
      if (mine.length) await this.cmd('clear', (c) => c.unlink(...mine));
    } while (cursor !== '0');
  }

  async getStats(): Promise<RegistryStats> {
    const replies = await this.cmd('getStats', (c) =>
      c.pipeline().scard(this.k.allTerminals).scard(this.k.allSockets).scard(this.k.allUsers).exec(),
    );
    const [terminals, sockets, users] = (replies ?? []).map(([err, n]) => {
      if (err) throw err;
      return Number(n);
    });
    return { backend: 'redis', terminals: terminals ?? 0, sockets: sockets ?? 0, users: users ?? 0 };
  }

  // --- beyond the interface: used by SwitchingRegistry and the reaper ------------------

  /** Socket ids Redis attributes to an instance. */
  async socketsOfServer(serverId: string): Promise<string[]> {
    return this.cmd('socketsOfServer', (c) => c.smembers(this.k.serverSockets(serverId)));
  }

  /**
   * Make Redis hold exactly `terminalIds` for this socket (device null or no terminals:
   * remove it everywhere). Returns terminals refused because another user owns them.
   */
  async syncSocket(socketId: string, device: DeviceInfo | null, terminalIds: string[]): Promise<string[]> {
    const dev = device ? ['1', ...deviceArgs(device).slice(1)] : ['0', '', '', '', '', '', ''];
    return (await this.run('syncSocket', SYNC_SOCKET, [socketId, ...dev, ...(device ? terminalIds : [])])) as string[];
  }

  /**
   * Re-publishing primaries: 'force' sets it if the socket is attached, 'nx' also needs no
   * primary to be set yet; null clears. Never throws a conflict; returns whether it was set.
   */
  async setPrimaryIf(terminalId: string, socketId: string | null, mode: 'force' | 'nx'): Promise<boolean> {
    return (await this.run('setPrimaryIf', SET_PRIMARY, [terminalId, socketId ?? '', mode])) === 1;
  }

  /** One batch of crash cleanup for a dead instance (see REAP in redis-scripts.ts). */
  async reapServer(serverId: string, limit: number, force = false): Promise<ReapResult> {
    const reply = (await this.run('reapServer', REAP, [serverId, limit, force ? '1' : '0'])) as [number, string[]?];
    if (reply[0] === -1) return { dead: false, removed: [], remaining: 0 };
    const flat = reply[1] ?? [];
    const removed: RemovedAttachment[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      removed.push({ serverId, terminalId: flat[i]!, socketId: flat[i + 1]! });
    }
    return { dead: true, removed, remaining: reply[0] };
  }

  // --- plumbing ----------------------------------------------------------------------

  private client(): Redis {
    const c = this.manager.readyClient();
    if (!withScripts.has(c)) {
      for (const s of ALL_SCRIPTS) c.defineCommand(s.name, { numberOfKeys: 0, lua: s.lua, readOnly: s.readOnly ?? false });
      withScripts.add(c);
    }
    return c;
  }

  private cmd<T>(what: string, fn: (c: Redis) => Promise<T>): Promise<T> {
    return redisCall(`registry ${what}`, () => fn(this.client()));
  }

  /** Run a script; maps our Lua error tags to RegistryConflictError. */
  private async run(what: string, s: ScriptDef, args: (string | number)[], tid = '', sid = ''): Promise<unknown> {
    try {
      return await this.cmd(what, (c) => {
        const call = (c as unknown as Record<string, ScriptCall>)[s.name]!;
        return call.call(c, this.manager.prefix, ...args);
      });
    } catch (err) {
      const tag = err instanceof Error && err.name === 'ReplyError' ? /PTYHUB_(\w+)/.exec(err.message)?.[1] : undefined;
      if (tag === 'TERMINAL_OWNER') throw new RegistryConflictError('terminal_owner', tid, sid);
      if (tag === 'SOCKET_OWNER') throw new RegistryConflictError('socket_owner', tid, sid);
      if (tag === 'NOT_ATTACHED') throw new RegistryConflictError('not_attached', tid, sid);
      throw err;
    }
  }
}

/** sid, deviceId, deviceName, serverId, userId, connectedAt, lastPingAt */
function deviceArgs(d: DeviceInfo): (string | number)[] {
  return [d.socketId, d.deviceId, d.deviceName, d.serverId, d.userId, d.connectedAt, d.lastPingAt];
}

function parseDeviceRow(row: string[]): DeviceInfo {
  const f = new Map<string, string>();
  for (let i = 1; i + 1 < row.length; i += 2) f.set(row[i]!, row[i + 1]!);
  return {
    socketId: row[0]!,
    deviceId: f.get('deviceId') ?? '',
    deviceName: f.get('deviceName') ?? '',
    serverId: f.get('serverId') ?? '',
    userId: f.get('userId') ?? '',
    connectedAt: Number(f.get('connectedAt') ?? 0),
    lastPingAt: Number(f.get('lastPingAt') ?? 0),
  };
}
