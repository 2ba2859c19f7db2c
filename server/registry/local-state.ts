// Synchronous in-memory registry state. MemoryRegistry wraps it; SwitchingRegistry keeps
// one as this instance's own copy. Same rules as the Lua scripts in redis-scripts.ts.
import { RegistryConflictError, type DeviceInfo, type RegistryStats } from './types.js';

interface TerminalEntry {
  userId: string;
  sockets: Set<string>;
  primary: string | null;
}

interface SocketEntry {
  device: DeviceInfo;
  terminals: Set<string>;
}

/** Devices in a stable order: oldest connection first, then socket id. */
export function sortDevices(devices: DeviceInfo[]): DeviceInfo[] {
  return devices.sort((a, b) => a.connectedAt - b.connectedAt || (a.socketId < b.socketId ? -1 : a.socketId > b.socketId ? 1 : 0));
}

export class LocalRegistryState {
  private readonly terminals = new Map<string, TerminalEntry>();
  private readonly sockets = new Map<string, SocketEntry>();
  private readonly users = new Map<string, Set<string>>();

  /** Throws RegistryConflictError (and changes nothing) like the Redis script does. */
  add(terminalId: string, device: DeviceInfo): void {
    const term = this.terminals.get(terminalId);
    if (term && term.userId !== device.userId) {
      throw new RegistryConflictError('terminal_owner', terminalId, device.socketId);
    }
    const sock = this.sockets.get(device.socketId);
    if (sock && sock.device.userId !== device.userId) {
      throw new RegistryConflictError('socket_owner', terminalId, device.socketId);
    }
    const entry = term ?? { userId: device.userId, sockets: new Set<string>(), primary: null };
    if (!term) this.terminals.set(terminalId, entry);
    entry.sockets.add(device.socketId);
    if (sock) {
      sock.device = { ...device };
      sock.terminals.add(terminalId);
    } else {
      this.sockets.set(device.socketId, { device: { ...device }, terminals: new Set([terminalId]) });
    }
    let userTerms = this.users.get(device.userId);
    if (!userTerms) this.users.set(device.userId, (userTerms = new Set()));
    userTerms.add(terminalId);
  }

  remove(terminalId: string, socketId: string): boolean {
    const term = this.terminals.get(terminalId);
    if (!term?.sockets.delete(socketId)) return false;
    if (term.primary === socketId) term.primary = null;
    if (term.sockets.size === 0) {
      this.terminals.delete(terminalId);
      const userTerms = this.users.get(term.userId);
      userTerms?.delete(terminalId);
      if (userTerms?.size === 0) this.users.delete(term.userId);
    }
    const sock = this.sockets.get(socketId);
    sock?.terminals.delete(terminalId);
    if (sock && sock.terminals.size === 0) this.sockets.delete(socketId);
    return true;
  }

  removeEverywhere(socketId: string): string[] {
    const terms = this.terminalsOfSocket(socketId);
    for (const tid of terms) this.remove(tid, socketId);
    return terms;
  }

  setPrimary(terminalId: string, socketId: string | null): void {
    const term = this.terminals.get(terminalId);
    if (socketId === null) {
      if (term) term.primary = null;
      return;
    }
    if (!term?.sockets.has(socketId)) throw new RegistryConflictError('not_attached', terminalId, socketId);
    term.primary = socketId;
  }

  /** Put back a socket's earlier device info (undoing a refused add). */
  setDevice(socketId: string, device: DeviceInfo): void {
    const sock = this.sockets.get(socketId);
    if (sock) sock.device = { ...device };
  }

  updatePing(socketId: string, at: number): void {
    const sock = this.sockets.get(socketId);
    if (sock) sock.device.lastPingAt = at;
  }

  isAttached(terminalId: string, socketId: string): boolean {
    return this.terminals.get(terminalId)?.sockets.has(socketId) ?? false;
  }

  socketsOf(terminalId: string): string[] {
    return [...(this.terminals.get(terminalId)?.sockets ?? [])].sort();
  }

  devicesOf(terminalId: string): DeviceInfo[] {
    const out: DeviceInfo[] = [];
    for (const sid of this.terminals.get(terminalId)?.sockets ?? []) {
      const sock = this.sockets.get(sid);
      if (sock) out.push({ ...sock.device });
    }
    return sortDevices(out);
  }

  primaryOf(terminalId: string): string | null {
    return this.terminals.get(terminalId)?.primary ?? null;
  }

  device(socketId: string): DeviceInfo | null {
    const sock = this.sockets.get(socketId);
    return sock ? { ...sock.device } : null;
  }

  hasSocket(socketId: string): boolean {
    return this.sockets.has(socketId);
  }

  deviceCount(terminalId: string): number {
    return this.terminals.get(terminalId)?.sockets.size ?? 0;
  }

  terminalsOfSocket(socketId: string): string[] {
    return [...(this.sockets.get(socketId)?.terminals ?? [])].sort();
  }

  terminalsOfUser(userId: string): string[] {
    return [...(this.users.get(userId) ?? [])].sort();
  }

  allSocketIds(): string[] {
    return [...this.sockets.keys()];
  }

  /** Terminals that have a primary, with it. */
  primaries(): Array<[terminalId: string, socketId: string]> {
    const out: Array<[string, string]> = [];
    for (const [tid, t] of this.terminals) if (t.primary) out.push([tid, t.primary]);
    return out;
  }

  clear(): void {
    this.terminals.clear();
    this.sockets.clear();
    this.users.clear();
  }

  stats(): RegistryStats {
    return { backend: 'memory', terminals: this.terminals.size, sockets: this.sockets.size, users: this.users.size };
  }
}
