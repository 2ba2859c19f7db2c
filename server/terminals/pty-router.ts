// Sends each pty operation to where the pty runs: this instance, or its owner.
import type { Replay, TerminalStatus } from '../../common/protocol.js';
import type { TerminalSessionRecord } from '../sessions/types.js';
import { ServiceError } from './errors.js';
import type { LocalPtys } from './local-ptys.js';
import type { PtyOps, ResizeResult } from './ports.js';

/** What the owner runs itself: the terminal core's side of PtyOps. */
export interface OwnerHandlers {
  resize(terminalId: string, socketId: string, cols: number, rows: number): Promise<ResizeResult>;
  /** Records the end of a session that has no pty anywhere (an orphan). */
  endOrphan(terminalId: string, reason: string): Promise<void>;
}

export class PtyRouter implements PtyOps {
  /** Forwards to other instances; null while running alone (no Redis). */
  remote: PtyOps | null = null;

  constructor(
    private readonly serverId: string,
    private readonly local: LocalPtys,
    private readonly here: OwnerHandlers,
  ) {}

  async input(s: TerminalSessionRecord, data: string): Promise<void> {
    if (this.isLocal(s)) return this.local.input(s.id, data);
    return this.forward(s).input(s, data);
  }

  async resize(s: TerminalSessionRecord, socketId: string, cols: number, rows: number): Promise<ResizeResult> {
    if (this.isLocal(s)) return this.here.resize(s.id, socketId, cols, rows);
    return this.forward(s).resize(s, socketId, cols, rows);
  }

  async replay(s: TerminalSessionRecord): Promise<Replay> {
    if (this.isLocal(s)) return this.local.replay(s.id);
    return this.forward(s).replay(s);
  }

  async status(s: TerminalSessionRecord): Promise<TerminalStatus> {
    if (this.isLocal(s)) return this.local.status(s.id);
    return this.forward(s).status(s);
  }

  async close(s: TerminalSessionRecord, reason: 'closed' | 'idle'): Promise<void> {
    if (s.serverId !== this.serverId) return this.forward(s).close(s, reason);
    if (this.local.has(s.id)) return this.local.end(s.id, reason);
    return this.here.endOrphan(s.id, reason);
  }

  private isLocal(s: TerminalSessionRecord): boolean {
    if (s.serverId !== this.serverId) return false;
    if (!this.local.has(s.id)) throw new ServiceError('terminal_ended', `terminal ${s.id} has ended`);
    return true;
  }

  private forward(s: TerminalSessionRecord): PtyOps {
    if (!this.remote) {
      throw new ServiceError('unavailable', `terminal ${s.id} runs on instance ${s.serverId}, which is not reachable`);
    }
    return this.remote;
  }
}
