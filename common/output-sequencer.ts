// Turns a terminal's replay plus the stream of `terminal:output` events into exactly
// the bytes the pty produced, once each and in order. Offsets count bytes; a piece it
// delivers may start or end inside a UTF-8 sequence (xterm's write(Uint8Array) joins them).
//
// Why: output is broadcast to a terminal's room, and a device joins the room before its
// replay is taken (possibly on another instance). So a device can receive output that
// is already in its replay, or receive output before the attach reply. Every output
// event carries its offset in the terminal's output stream, which makes both harmless.
// An offset beyond what was delivered means output was missed (lost between instances,
// or dropped for a stalled device): it is never delivered silently; with `onGap` the
// sequencer stops and waits for resync() with a fresh replay.

import type { OutputEvent, Replay } from './protocol.js';

/** Output events held while waiting for a replay (beyond: the oldest go). */
const MAX_PENDING = 10_000;

export class OutputSequencer {
  /** Offset just past the last byte delivered; null until the replay arrives. */
  private next: number | null = null;
  private pending: Array<Pick<OutputEvent, 'data' | 'offset'>> = [];
  /** A gap was seen: hold output until resync() brings the missing part. */
  private stalled = false;

  constructor(
    private readonly deliver: (data: Uint8Array) => void,
    private readonly onGap?: (gap: { expected: number; got: number }) => void,
  ) {}

  /**
   * Apply the replay from an attach reply, then any output that arrived before it.
   * `afterReplay` runs between the two (the replay is delivered, live output is not yet).
   */
  reset(replay: Replay, afterReplay?: () => void): void {
    this.stalled = false;
    this.next = replay.start;
    this.accept(replay.data, replay.start);
    afterReplay?.();
    this.drainPending();
  }

  /** Feed a `terminal:output` event. Before the replay arrives, events are held. */
  push(e: OutputEvent): void {
    if (this.next === null || this.stalled) {
      if (this.pending.length >= MAX_PENDING) this.pending.shift(); // a later gap re-syncs again
      this.pending.push(e);
      return;
    }
    this.accept(e.data, e.offset);
  }

  /**
   * After a gap: continue from what was delivered with a fresh replay, then the output
   * held since. Returns how many bytes are lost for good (the replay no longer
   * reaches back to them): the caller shows that earlier output was skipped.
   */
  resync(replay: Replay): number {
    if (this.next === null) {
      this.reset(replay);
      return 0;
    }
    const skipped = Math.max(0, replay.start - this.next);
    if (skipped > 0) this.next = replay.start;
    this.stalled = false;
    this.accept(replay.data, replay.start);
    this.drainPending();
    return skipped;
  }

  /** Offset just past the last delivered byte, or null before the replay. */
  get offset(): number | null {
    return this.next;
  }

  /** Held output, in order; whatever follows a new gap stays held. */
  private drainPending(): void {
    const queued = this.pending;
    this.pending = [];
    for (const e of queued) {
      if (this.stalled) this.pending.push(e);
      else this.accept(e.data, e.offset);
    }
  }

  private accept(data: Uint8Array, offset: number): void {
    if (this.next === null || this.stalled) return;
    const end = offset + data.length;
    if (end <= this.next) return; // already delivered
    // A gap (offset > next): output was missed. Stop and ask for a re-sync; without
    // `onGap`, deliver what we have. An overlap: deliver only the new tail.
    if (offset > this.next && this.onGap) {
      this.stalled = true;
      this.onGap({ expected: this.next, got: offset });
      this.pending.push({ data, offset });
      return;
    }
    const fresh = offset < this.next ? data.subarray(this.next - offset) : data;
    this.next = end;
    if (fresh.length > 0) this.deliver(fresh);
  }
}
