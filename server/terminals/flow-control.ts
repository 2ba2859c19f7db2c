// Per-device flow control (credits), for the devices of this instance.
//
// A device that opted in (`outputAcks` at connect) acknowledges the output it has
// rendered with `terminal:ack {terminalId, offset}`. It may have at most `windowBytes`
// of output sent and not acknowledged: beyond that it is out of credit. This class turns
// the devices' acks and the output going out into one state per terminal for this
// instance, reported on change only:
//
//   flowing  some device here has credit (or does not take part: it never acks)
//   blocked  every device here is out of credit
//   null     no device here
//
// The terminal's owner combines the states of other instances with the exact limit of its
// own devices (limit(): how far the output may go) and has its pty host stop reading the
// pty there (FlowGate). A device that falls further behind than `maxLagBytes` (a
// fast device keeps the pty running) is taken out of the terminal's output stream, so
// nothing more queues up for it; once it has acknowledged everything it was sent, it is
// put back and told where the output stands, and re-syncs from the replay.
//
// Offsets are plain numbers in the unit the output stream counts in; nothing here
// depends on which unit that is. Transport-free: the caller moves sockets in and out of
// rooms and sends the reports.

export type FlowState = 'flowing' | 'blocked';

/**
 * The window bounds what a device still has to render when the pty is paused: at 2 MB/s,
 * 256 KiB is about 130 ms, so Ctrl-C shows within a few hundred ms however much a
 * program prints. A device too far behind (a fast one keeps the pty running) leaves the
 * stream at 1 MiB: at most that much queues up for it.
 */
export const FLOW_WINDOW_BYTES = 256 * 1024;
export const FLOW_MAX_LAG_BYTES = 1024 * 1024;

export interface FlowControlOptions {
  /** Output a device may have un-acknowledged before it is out of credit. */
  windowBytes: number;
  /** Behind by more than this, a device leaves the output stream (and re-syncs later). */
  maxLagBytes: number;
  /** This instance's state for a terminal changed. `ownerId`: the instance that runs its pty. */
  onState(terminalId: string, ownerId: string, state: FlowState | null): void;
  /** limit() of a terminal may have changed (a device attached, left or acknowledged). */
  onCredit(terminalId: string, ownerId: string): void;
  /**
   * A device leaves (`streaming` false; `end`: what it was sent) or rejoins the terminal's
   * output stream. On rejoining, `end` is where the output stands now: a device that
   * missed output re-syncs from the replay.
   */
  onStream(socketId: string, terminalId: string, streaming: boolean, end: number): void;
}

interface Device {
  /** Takes part in flow control (acknowledges output). */
  acks: boolean;
  /** Offset just past what it acknowledged. */
  acked: number;
  /** In the output stream; when not, `sentEnd` is frozen at where it left. */
  streaming: boolean;
  sentEnd: number;
}

interface TerminalFlow {
  ownerId: string;
  /** Offset just past the newest output sent to this instance's devices. */
  end: number;
  devices: Map<string, Device>;
  state: FlowState | null;
}

export class FlowControl {
  private readonly terminals = new Map<string, TerminalFlow>();

  constructor(private readonly o: FlowControlOptions) {
    if (o.maxLagBytes < o.windowBytes) throw new Error('maxLagBytes must be at least windowBytes');
  }

  /** A device attached; `at` is the end of the replay it was given (its starting point). */
  attach(terminalId: string, ownerId: string, socketId: string, acks: boolean, at: number): void {
    let t = this.terminals.get(terminalId);
    if (!t) this.terminals.set(terminalId, (t = { ownerId, end: at, devices: new Map(), state: null }));
    t.end = Math.max(t.end, at);
    t.devices.set(socketId, { acks, acked: at, streaming: true, sentEnd: at });
    this.update(terminalId, t);
  }

  detach(terminalId: string, socketId: string): void {
    const t = this.terminals.get(terminalId);
    if (!t?.devices.delete(socketId)) return;
    this.update(terminalId, t);
  }

  /** The terminal has ended: forget it (no report: the owner forgets it too). */
  forget(terminalId: string): void {
    this.terminals.delete(terminalId);
  }

  /** Output up to `end` went out to this instance's devices of the terminal. */
  output(terminalId: string, end: number): void {
    const t = this.terminals.get(terminalId);
    if (!t || end <= t.end) return;
    // Called as the output goes out: a device taken out of the stream now does not get
    // it, so it was sent what came before.
    const before = t.end;
    t.end = end;
    for (const [socketId, d] of t.devices) {
      // A device that has acknowledged all it was sent stays: nothing would bring it back
      // (the jump is output it missed, e.g. between instances: it sees the gap and re-syncs).
      if (d.acks && d.streaming && end - d.acked > this.o.maxLagBytes && d.acked < before) {
        d.streaming = false;
        d.sentEnd = before;
        this.o.onStream(socketId, terminalId, false, before);
      }
    }
    this.update(terminalId, t, false);
  }

  /** A device rendered the output up to `offset`. False when it is not attached here. */
  ack(terminalId: string, socketId: string, offset: number): boolean {
    const d = this.terminals.get(terminalId)?.devices.get(socketId);
    if (!d) return false;
    const t = this.terminals.get(terminalId)!;
    // Never beyond what it was sent: a device cannot buy credit for output to come.
    d.acked = Math.max(d.acked, Math.min(offset, d.streaming ? t.end : d.sentEnd));
    if (!d.streaming && d.acked >= d.sentEnd) {
      d.streaming = true;
      d.acked = d.sentEnd = t.end;
      this.o.onStream(socketId, terminalId, true, t.end);
    }
    this.update(terminalId, t);
    return true;
  }

  /**
   * How far the terminal's output may go for this instance's devices: the furthest any of
   * them may receive (its acknowledged offset plus the window); Infinity when one does not
   * take part; null when there is none.
   */
  limit(terminalId: string): number | null {
    const t = this.terminals.get(terminalId);
    if (!t || t.devices.size === 0) return null;
    let limit = -Infinity;
    for (const d of t.devices.values()) limit = Math.max(limit, d.acks ? d.acked + this.o.windowBytes : Infinity);
    return limit;
  }

  state(terminalId: string): FlowState | null {
    return this.terminals.get(terminalId)?.state ?? null;
  }

  /** Every terminal with devices here, with its owner and state (to repeat reports). */
  *states(): Iterable<{ terminalId: string; ownerId: string; state: FlowState }> {
    for (const [terminalId, t] of this.terminals) if (t.state) yield { terminalId, ownerId: t.ownerId, state: t.state };
  }

  /** Un-acknowledged output of a device (tests, diagnostics), or null. */
  lag(terminalId: string, socketId: string): number | null {
    const t = this.terminals.get(terminalId);
    const d = t?.devices.get(socketId);
    return t && d ? (d.streaming ? t.end : d.sentEnd) - d.acked : null;
  }

  private hasCredit(t: TerminalFlow, d: Device): boolean {
    if (!d.acks) return true;
    return d.streaming && t.end - d.acked < this.o.windowBytes;
  }

  private update(terminalId: string, t: TerminalFlow, credit = true): void {
    if (t.devices.size === 0) this.terminals.delete(terminalId);
    if (credit) this.o.onCredit(terminalId, t.ownerId);
    this.updateState(terminalId, t);
  }

  private updateState(terminalId: string, t: TerminalFlow): void {
    let state: FlowState | null = null;
    for (const d of t.devices.values()) {
      if (this.hasCredit(t, d)) {
        state = 'flowing';
        break;
      }
      state = 'blocked';
    }
    if (state === t.state) return;
    t.state = state;
    this.o.onState(terminalId, t.ownerId, state);
  }
}
