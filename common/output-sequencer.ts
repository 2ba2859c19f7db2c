// Turns a terminal's replay plus the stream of `terminal:output` events into exactly
// the bytes the pty produced, once each and in order.
//
// Why: output is broadcast to a terminal's room, and a device joins the room before its
// replay is taken (possibly on another instance). So a device can receive output that
// is already in its replay, or receive output before the attach reply. Every output
// event carries its offset in the terminal's output stream, which makes both harmless.

import type { OutputEvent, Replay } from './protocol.js';

export class OutputSequencer {
  /** Offset just past the last character delivered; null until the replay arrives. */
  private next: number | null = null;
  private pending: OutputEvent[] = [];

  constructor(private readonly deliver: (data: string) => void) {}

  /**
   * Apply the replay from an attach reply, then any output that arrived before it.
   * `afterReplay` runs between the two (the replay is delivered, live output is not yet).
   */
  reset(replay: Replay, afterReplay?: () => void): void {
    this.next = replay.start;
    this.accept(replay.data, replay.start);
    afterReplay?.();
    const queued = this.pending;
    this.pending = [];
    for (const e of queued) this.accept(e.data, e.offset);
  }

  /** Feed a `terminal:output` event. Before the replay arrives, events are held. */
  push(e: OutputEvent): void {
    if (this.next === null) {
      this.pending.push(e);
      return;
    }
    this.accept(e.data, e.offset);
  }

  /** Offset just past the last delivered character, or null before the replay. */
  get offset(): number | null {
    return this.next;
  }

  private accept(data: string, offset: number): void {
    if (this.next === null) return;
    const end = offset + data.length;
    if (end <= this.next) return; // already delivered
    // Overlap with what we have: deliver only the new tail. A gap (offset > next) means
    // output fell out of the owner's buffer before we saw it; deliver what we have.
    const fresh = offset < this.next ? data.slice(this.next - offset) : data;
    this.next = end;
    if (fresh.length > 0) this.deliver(fresh);
  }
}
