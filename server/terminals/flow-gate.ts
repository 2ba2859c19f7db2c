// The owner's side of flow control: pauses reading a pty while every device of the
// terminal, on every instance, is out of credit (see flow-control.ts), and resumes it as
// soon as one has credit again, or none is left (a terminal nobody watches keeps running,
// bounded by its replay buffer).
//
// Each instance with devices of the terminal reports its state (this one directly, the
// others over the cluster channel, on change). Other instances repeat their reports every
// `refreshMs`; a report not repeated within `staleMs` is dropped, so a lost message or a
// dead instance never leaves a terminal paused for good.
import type { FlowState } from './flow-control.js';

export interface FlowGateOptions {
  serverId: string;
  /** A report from another instance older than this no longer counts. */
  staleMs: number;
  /** Pause (true) or resume reading the terminal's pty. */
  setPaused(terminalId: string, paused: boolean): void;
  now?: () => number;
}

interface Report {
  state: FlowState;
  at: number;
}

export class FlowGate {
  private readonly reports = new Map<string, Map<string, Report>>();
  private readonly paused = new Set<string>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly o: FlowGateOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Drop stale reports now and then. */
  start(): void {
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(100, this.o.staleMs / 3));
    this.sweeper.unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** An instance's state for a terminal this instance owns (null: no device there). */
  report(terminalId: string, serverId: string, state: FlowState | null): void {
    let byServer = this.reports.get(terminalId);
    if (state === null) byServer?.delete(serverId);
    else {
      if (!byServer) this.reports.set(terminalId, (byServer = new Map()));
      byServer.set(serverId, { state, at: this.now() });
    }
    if (byServer?.size === 0) this.reports.delete(terminalId);
    this.decide(terminalId);
  }

  /** The terminal ended (its pty is gone). */
  forget(terminalId: string): void {
    this.reports.delete(terminalId);
    this.paused.delete(terminalId);
  }

  isPaused(terminalId: string): boolean {
    return this.paused.has(terminalId);
  }

  get pausedCount(): number {
    return this.paused.size;
  }

  /** Drops reports from other instances that were not repeated in time. */
  sweep(): void {
    const oldest = this.now() - this.o.staleMs;
    for (const [terminalId, byServer] of this.reports) {
      let changed = false;
      for (const [serverId, r] of byServer) {
        if (serverId !== this.o.serverId && r.at < oldest) changed = byServer.delete(serverId);
      }
      if (!changed) continue;
      if (byServer.size === 0) this.reports.delete(terminalId);
      this.decide(terminalId);
    }
  }

  private decide(terminalId: string): void {
    const byServer = this.reports.get(terminalId);
    const pause = byServer !== undefined && byServer.size > 0 && [...byServer.values()].every((r) => r.state === 'blocked');
    if (pause === this.paused.has(terminalId)) return;
    if (pause) this.paused.add(terminalId);
    else this.paused.delete(terminalId);
    this.o.setPaused(terminalId, pause);
  }
}
