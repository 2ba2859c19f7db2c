// Groups a pty's output into messages. Fewer, larger messages are much cheaper (each is
// a frame to the web server, a socket.io packet and, with several instances, a Redis
// publish), but an echo must never wait: a keystroke's echo is small, and it goes out at
// the end of this event-loop turn whatever came before it. Only a stream (large output
// that keeps coming) waits a few ms, so that what follows travels with it.
//
// Sizes count the chunks' `length`: bytes of the pty's output.

/** Largest batch sent as one message. */
export const MAX_BATCH_BYTES = 64 * 1024;
/** Output this large in one flush is a stream's, not an echo's or a prompt's... */
export const STREAM_FLUSH_BYTES = 1024;
/** ...if more output follows it this soon... */
export const STREAM_GAP_MS = 10;
/** ...and then waits this long to travel with what follows. */
export const STREAM_BATCH_MS = 4;

export interface Chunk {
  readonly length: number;
}

export class OutputBatcher<T extends Chunk> {
  private pending: T[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private lastFlushAt = -Infinity;
  private lastFlushLength = 0;

  constructor(
    private readonly join: (chunks: T[]) => T,
    private readonly send: (data: T) => void,
  ) {}

  /** Length of the output not flushed yet (it counts towards the terminal's end offset). */
  get pendingLength(): number {
    return this.queued;
  }

  push(data: T): void {
    if (data.length === 0) return;
    this.pending.push(data);
    this.queued += data.length;
    if (this.queued >= MAX_BATCH_BYTES) return this.flush();
    if (this.timer || this.immediate) return;
    // Judged by size, not timing alone: back-to-back keystrokes come within a ms of each
    // other too, but each echo is a few bytes.
    const streaming = this.lastFlushLength >= STREAM_FLUSH_BYTES && performance.now() - this.lastFlushAt < STREAM_GAP_MS;
    if (streaming) this.timer = setTimeout(() => this.flush(), STREAM_BATCH_MS);
    else this.immediate = setImmediate(() => this.flush());
  }

  /** Send whatever is pending now (before a replay snapshot, at exit). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    if (this.queued === 0) return;
    const data = this.pending.length === 1 ? this.pending[0]! : this.join(this.pending);
    this.lastFlushAt = performance.now();
    this.lastFlushLength = this.queued;
    this.pending = [];
    this.queued = 0;
    this.send(data);
  }
}
