// What the terminal core needs from the outside world, as interfaces, so it knows
// nothing about socket.io or Redis.
import type { Replay, ServerToClientEvents, TerminalStatus } from '../../common/protocol.js';
import type { TerminalSessionRecord } from '../sessions/types.js';

/** Delivers events to devices. Room broadcasts reach devices on every instance. */
export interface EventSink {
  toTerminal<E extends keyof ServerToClientEvents>(terminalId: string, event: E, ...args: Parameters<ServerToClientEvents[E]>): void;
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
 * Operations on a terminal's pty, which runs on its owner instance. The local owner
 * applies them directly; another instance forwards them to the owner.
 */
export interface PtyOps {
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
