// Carries flow control (flow-control.ts) to the owner of each terminal (flow-gate.ts): for
// this instance's own terminals, that its devices' credit changed (the gate reads their
// limit); for other instances' terminals, their state over the cluster channel, on change,
// repeated every `refreshMs` so the owner can drop reports that stop coming.
import type { Logger } from '../log/logger.js';
import type { FlowControl, FlowState } from '../terminals/flow-control.js';
import type { FlowGate } from '../terminals/flow-gate.js';

/** Other instances repeat their reports this often; the owner drops them after FLOW_STALE_MS. */
export const FLOW_REFRESH_MS = 5000;
export const FLOW_STALE_MS = 15_000;

export interface FlowReportsOptions {
  serverId: string;
  gate: FlowGate;
  /** Sends a state to another instance; null while running alone. */
  send: ((owner: string, terminalId: string, state: FlowState | 'none') => Promise<void>) | null;
  refreshMs: number;
  logger: Logger;
}

export class FlowReports {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: FlowReportsOptions) {}

  /** FlowControl's onState: other instances' terminals are told (the owner pulls its own limits). */
  report(terminalId: string, owner: string, state: FlowState | null): void {
    if (owner === this.o.serverId) return;
    this.o.logger.debug({ terminalId, owner, state }, 'flow-control state sent to the owner');
    this.o
      .send?.(owner, terminalId, state ?? 'none')
      .catch((err: unknown) => this.o.logger.debug({ err, terminalId, owner }, 'flow-control report not delivered; repeated later'));
  }

  /** FlowControl's onCredit. */
  credit(terminalId: string, owner: string): void {
    if (owner === this.o.serverId) this.o.gate.localChanged(terminalId);
  }

  /** A report from another instance (owner RPC). */
  receive(terminalId: string, from: string, state: FlowState | 'none'): void {
    this.o.logger.debug({ terminalId, from, state }, 'flow-control state received');
    this.o.gate.report(terminalId, from, state === 'none' ? null : state);
  }

  /** Repeat the states of other instances' terminals until stop(). */
  start(flow: FlowControl): void {
    this.o.gate.start();
    if (!this.o.send || this.timer) return;
    this.timer = setInterval(() => {
      for (const { terminalId, ownerId, state } of flow.states()) if (ownerId !== this.o.serverId) this.report(terminalId, ownerId, state);
    }, this.o.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.o.gate.stop();
  }
}
