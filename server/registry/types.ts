// UserTerminalRegistry: which sockets (devices) are attached to which terminal.
// One async interface, two stores (memory, Redis), and a switching registry that
// callers hold for the life of the process.

export interface DeviceInfo {
  socketId: string;
  deviceId: string;
  deviceName: string;
  /** Instance that holds the socket. */
  serverId: string;
  userId: string;
  /** Epoch milliseconds. */
  connectedAt: number;
  lastPingAt: number;
}

export interface RegistryStats {
  backend: 'memory' | 'redis';
  terminals: number;
  sockets: number;
  users: number;
}

export interface UserTerminalRegistry {
  /** Attach a socket to a terminal of `device.userId`. Idempotent. */
  addSocket(terminalId: string, device: DeviceInfo): Promise<void>;
  /** Detach; returns true if it was attached. Clears primary if it was this socket. */
  removeSocket(terminalId: string, socketId: string): Promise<boolean>;
  /** Detach a socket everywhere (disconnect); returns the terminals it was attached to. */
  removeSocketFromAllTerminals(socketId: string): Promise<string[]>;
  getSocketsForTerminal(terminalId: string): Promise<string[]>;
  getDevicesForTerminal(terminalId: string): Promise<DeviceInfo[]>;
  getPrimarySocket(terminalId: string): Promise<string | null>;
  setPrimarySocket(terminalId: string, socketId: string | null): Promise<void>;
  /** Record activity; the socket's lastPingAt becomes `at` (default now). */
  updatePing(socketId: string, at?: number): Promise<void>;
  isSocketConnected(socketId: string): Promise<boolean>;
  getDeviceCount(terminalId: string): Promise<number>;
  hasConnectedDevices(terminalId: string): Promise<boolean>;
  getTerminalsForSocket(socketId: string): Promise<string[]>;
  /** Terminals of the user that have at least one attached socket. */
  getTerminalsForUser(userId: string): Promise<string[]>;
  /** Forget everything this store holds (tests, and a store's own reset). */
  clear(): Promise<void>;
  getStats(): Promise<RegistryStats>;
}

export type RegistryConflictReason = 'terminal_owner' | 'socket_owner' | 'not_attached';

/**
 * The change contradicts the registry: the terminal (or socket) belongs to another user,
 * or the socket to make primary is not attached to the terminal. Nothing was changed.
 */
export class RegistryConflictError extends Error {
  readonly code = 'conflict' as const;
  constructor(
    readonly reason: RegistryConflictReason,
    readonly terminalId: string,
    readonly socketId: string,
  ) {
    super(
      reason === 'terminal_owner'
        ? `terminal ${terminalId} belongs to another user`
        : reason === 'socket_owner'
          ? `socket ${socketId} belongs to another user`
          : `socket ${socketId} is not attached to terminal ${terminalId}`,
    );
    this.name = 'RegistryConflictError';
  }
}

/** A removed (terminal, socket) attachment, e.g. reaped after its instance died. */
export interface RemovedAttachment {
  serverId: string;
  terminalId: string;
  socketId: string;
}
