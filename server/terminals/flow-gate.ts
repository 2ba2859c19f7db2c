// The owner's side of flow control: decides how far the pty host may read each of this
// instance's ptys, so the program blocks (like in a real terminal, where Ctrl-C still
// works) while every device of the terminal, on every instance, is out of credit, and
// runs again as soon as one has credit, or none is left (a terminal nobody watches keeps
// running, bounded by its replay buffer).
//
// The limit is an output offset the host stops reading at (null: no limit). This
// instance's own devices give an exact one (FlowControl.limit(): the furthest any may
// receive), so the host stops within a read of the window, however far ahead of the web
// server it is. Other instances only report whether their devices are flowing or blocked
// (on change, not per ack): one flowing lifts the limit; all blocked, with no device
// here, pause at once. They repeat their reports every few seconds; a report not repeated
// within `staleMs` is dropped, so a lost message or a dead instance never leaves a
// terminal paused for good.
import type { FlowState } from './flow-control.js';

export interface FlowGateOptions {
  serverId: string;
  /** A report from another instance older than this no longer counts. */
  staleMs: number;
  /** FlowControl.limit() of this instance's devices. */
  localLimit(terminalId: string): number | null;
  /** Tell the pty host how far it may read a terminal's pty (null: no limit). */
  setLimit(terminalId: string, limit: number | null): void;
  now?: () => number;
}

interface Report {
  state: FlowState;
  at: number;
}

export class FlowGate {
  /** Reports of other instances, by terminal, by instance. */
  private readonly reports = new Map<string, Map<string, Report>>();
  private readonly limits = new Map<string, number>();
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

  /** Another instance's state for a terminal this instance owns (null: no device there). */
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

  /** This instance's devices of a terminal it owns attached, left or acknowledged output. */
  localChanged(terminalId: string): void {
    this.decide(terminalId);
  }

  /** The terminal ended (its pty is gone). */
  forget(terminalId: string): void {
    this.reports.delete(terminalId);
    this.limits.delete(terminalId);
  }

  /** The limit the host was given (null: none). */
  limitOf(terminalId: string): number | null {
    return this.limits.get(terminalId) ?? null;
  }

  /** Drops reports from other instances that were not repeated in time. */
  sweep(): void {
    const oldest = this.now() - this.o.staleMs;
    for (const [terminalId, byServer] of this.reports) {
      let changed = false;
      for (const [serverId, r] of byServer) if (r.at < oldest) changed = byServer.delete(serverId);
      if (!changed) continue;
      if (byServer.size === 0) this.reports.delete(terminalId);
      this.decide(terminalId);
    }
  }

  private decide(terminalId: string): void {
    const limit = this.limitFor(terminalId);
    if (limit === this.limitOf(terminalId)) return;
    if (limit === null) this.limits.delete(terminalId);
    else this.limits.set(terminalId, limit);
    this.o.setLimit(terminalId, limit);
  }

  private limitFor(terminalId: string): number | null {
    const remote = [...(this.reports.get(terminalId)?.values() ?? [])];
    if (remote.some((r) => r.state === 'flowing')) return null;
    const local = this.o.localLimit(terminalId);
    if (local === null) return remote.length > 0 ? 0 : null; // all remote blocked: stop now
    return local === Infinity ? null : local;
  }
}
