// Sends each pty operation to where the pty runs: this instance, or its owner.
import type { ExitReason, Replay, TerminalStatus } from '../../common/protocol.js';
import type { TerminalSessionRecord } from '../sessions/types.js';
import { ServiceError } from './errors.js';
import type { InstancePtys, OwnerOp, OwnerOps, ResizeResult } from './ports.js';

/** What the owner runs itself: the terminal core's side of OwnerOps. */
export interface OwnerHandlers {
  resize(terminalId: string, socketId: string, cols: number, rows: number): Promise<ResizeResult>;
  /** Records the end of a session that has no pty anywhere (an orphan). */
  endOrphan(terminalId: string, reason: ExitReason): Promise<void>;
  /** Flow control: the state of an instance's devices of a terminal this one owns. */
  flow(terminalId: string, serverId: string, state: 'flowing' | 'blocked' | 'none'): void;
}

export class PtyRouter implements OwnerOps {
  constructor(
    private readonly serverId: string,
    private readonly local: InstancePtys,
    private readonly here: OwnerHandlers,
    /** Forwards to other instances; null while running alone (no Redis). */
    private readonly remote: OwnerOps | null,
  ) {}

  async input(s: TerminalSessionRecord, data: string): Promise<void> {
    if (!this.isLocal(s)) return this.forward(s).input(s, data);
    await this.serve({ op: 'input', terminalId: s.id, data });
  }

  async resize(s: TerminalSessionRecord, socketId: string, cols: number, rows: number): Promise<ResizeResult> {
    if (this.isLocal(s)) return this.serve({ op: 'resize', terminalId: s.id, socketId, cols, rows }) as Promise<ResizeResult>;
    return this.forward(s).resize(s, socketId, cols, rows);
  }

  async replay(s: TerminalSessionRecord): Promise<Replay> {
    if (this.isLocal(s)) return this.serve({ op: 'replay', terminalId: s.id }) as Promise<Replay>;
    return this.forward(s).replay(s);
  }

  async status(s: TerminalSessionRecord): Promise<TerminalStatus> {
    if (this.isLocal(s)) return this.serve({ op: 'status', terminalId: s.id }) as Promise<TerminalStatus>;
    return this.forward(s).status(s);
  }

  async close(s: TerminalSessionRecord, reason: 'closed' | 'idle'): Promise<void> {
    if (s.serverId !== this.serverId) return this.forward(s).close(s, reason);
    await this.serve({ op: 'close', terminalId: s.id, reason });
  }

  /** The owner side: runs an operation on one of this instance's terminals (local or forwarded). */
  async serve(op: OwnerOp): Promise<unknown> {
    switch (op.op) {
      case 'input':
        return this.local.input(op.terminalId, op.data);
      case 'resize':
        return this.here.resize(op.terminalId, op.socketId, op.cols, op.rows);
      case 'replay':
        return this.local.replay(op.terminalId);
      case 'status':
        return this.local.status(op.terminalId);
      case 'close':
        if (this.local.has(op.terminalId)) return this.local.end(op.terminalId, op.reason);
        return this.here.endOrphan(op.terminalId, op.reason);
      case 'flow':
        return this.here.flow(op.terminalId, op.serverId, op.state);
    }
  }

  private isLocal(s: TerminalSessionRecord): boolean {
    if (s.serverId !== this.serverId) return false;
    if (!this.local.has(s.id)) throw new ServiceError('terminal_ended', `terminal ${s.id} has ended`);
    return true;
  }

  private forward(s: TerminalSessionRecord): OwnerOps {
    if (!this.remote) {
      throw new ServiceError('unavailable', `terminal ${s.id} runs on instance ${s.serverId}, which is not reachable`);
    }
    return this.remote;
  }
}
