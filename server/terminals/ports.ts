// What the terminal core needs from the outside world, as interfaces, so it knows
// nothing about socket.io, Redis or the pty host.
import type { ExitReason, Replay, ServerToClientEvents, TerminalStatus } from '../../common/protocol.js';
import type { TerminalSessionRecord } from '../sessions/types.js';

/** Delivers events to devices. Room broadcasts reach devices on every instance. */
export interface EventSink {
  toTerminal<E extends keyof ServerToClientEvents>(terminalId: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** Only the terminal's devices on this instance (output no other instance reads). */
  toTerminalHere<E extends keyof ServerToClientEvents>(terminalId: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** One socket held by this instance. */
  toSocket<E extends keyof ServerToClientEvents>(socketId: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** Every socket of a user, on every instance, except one. */
  toUser<E extends keyof ServerToClientEvents>(userId: string, except: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
  /** Put a socket held by this instance into a terminal's room. */
  join(socketId: string, terminalId: string): void;
  leave(socketId: string, terminalId: string): void;
  /** Take every socket, on every instance, out of a terminal's room. */
  dropTerminal(terminalId: string): void;
  /** Tell the other instances a terminal has ended, so they drop their attachments. */
  announceEnded(terminalId: string): void;
}

export interface ResizeResult {
  cols: number;
  rows: number;
  version: number;
}

/**
 * Terminal operations that run on the terminal's owner instance (PtyRouter: here, or
 * forwarded over the cluster channel). Not all are pty operations: resize and close
 * are terminal-service operations (lock, database, primary, broadcast), which is why
 * they run on the owner. Operations on a pty itself are InstancePtys.
 */
export interface OwnerOps {
  input(session: TerminalSessionRecord, data: string): Promise<void>;
  /**
   * Resize, run by the owner (so a terminal's resizes queue up in one place, in order):
   * under the resize lock, record the size (the device becomes primary), resize the pty,
   * tell every device.
   */
  resize(session: TerminalSessionRecord, socketId: string, cols: number, rows: number): Promise<ResizeResult>;
  replay(session: TerminalSessionRecord): Promise<Replay>;
  /** What runs in the pty right now (its foreground process). */
  status(session: TerminalSessionRecord): Promise<TerminalStatus>;
  /** End the terminal (kill its pty); resolves once it is recorded as ended. */
  close(session: TerminalSessionRecord, reason: 'closed' | 'idle'): Promise<void>;
}

/** An operation on a terminal, as run by its owner (forwarded by other instances). */
export type OwnerOp =
  | { op: 'input'; terminalId: string; data: string }
  | { op: 'resize'; terminalId: string; socketId: string; cols: number; rows: number }
  | { op: 'replay'; terminalId: string }
  | { op: 'status'; terminalId: string }
  | { op: 'close'; terminalId: string; reason: 'closed' | 'idle' }
  /** Flow control: another instance's devices of a terminal this one owns. */
  | { op: 'flow'; terminalId: string; serverId: string; state: 'flowing' | 'blocked' | 'none' };

/** How a pty exited. */
export interface PtyExit {
  exitCode: number | null;
  signal: number | null;
}

/**
 * The ptys of this instance, which run in its pty host. Output and exits are reported
 * through the callbacks the implementation was built with.
 */
export interface InstancePtys {
  /** Start a pty for a new session (as the OS account `osUser` in account mode); resolves once it runs. */
  spawn(session: Pick<TerminalSessionRecord, 'id' | 'shell' | 'cwd' | 'cols' | 'rows'>, osUser?: string): Promise<void>;
  has(terminalId: string): boolean;
  ids(): string[];
  readonly size: number;
  /**
   * Resolves once the pty has taken all of it (a program that does not read holds it up).
   * Throws terminal_ended when the pty is gone, busy (nothing taken) when too much input
   * already waits for it.
   */
  input(terminalId: string, data: string): Promise<void>;
  /** Flow control: read the pty's output up to `limit` (an output offset; null: no limit). */
  setFlowLimit(terminalId: string, limit: number | null): void;
  /** Throws terminal_ended when the pty is gone. */
  resize(terminalId: string, cols: number, rows: number): void;
  replay(terminalId: string): Promise<Replay>;
  /** The pty's foreground process; throws terminal_ended when the pty is gone. */
  status(terminalId: string): Promise<TerminalStatus>;
  /** Kill the pty and wait until its end is recorded (SIGKILL after a grace time). */
  end(terminalId: string, reason: ExitReason): Promise<void>;
}
