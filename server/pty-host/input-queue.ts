// Input waiting for a pty to take it. A program that does not read its input (`sleep 600`
// in the foreground) fills the kernel's buffer; what comes after waits here, bounded, and
// each input is acknowledged only once the pty has taken all of it, so the sender waits
// instead of the host growing without bound.
//
// Written straight to the pty's master fd (non-blocking): node-pty's own writer keeps an
// unbounded queue, says nothing when it drains, and retries EAGAIN on every event-loop
// turn (a busy loop while a program does not read). Here EAGAIN is retried after a
// growing delay.
import fs from 'node:fs';

interface Pending {
  buf: Buffer;
  offset: number;
  done: (err?: Error) => void;
}

/** Retry delays after EAGAIN: from the first to the longest. */
const FIRST_RETRY_MS = 1;
const MAX_RETRY_MS = 50;

export class InputQueueFullError extends Error {}

export class InputQueue {
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = FIRST_RETRY_MS;
  private closedWith: Error | null = null;

  constructor(
    private readonly fd: number,
    private readonly maxBytes: number,
  ) {}

  /** Bytes accepted and not yet taken by the pty. */
  get size(): number {
    return this.queuedBytes;
  }

  /**
   * Resolves once the pty has taken every byte of `data`. Rejects with InputQueueFullError
   * at once, taking none of it, when it does not fit.
   */
  push(data: Buffer): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.queuedBytes + data.length > this.maxBytes) {
      return Promise.reject(
        new InputQueueFullError(`the terminal is not reading its input (${Math.round(this.queuedBytes / 1024)} KiB already waiting)`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ buf: data, offset: 0, done: (err) => (err ? reject(err) : resolve()) });
      this.queuedBytes += data.length;
      if (this.queue.length === 1 && !this.retryTimer) this.writeSome();
    });
  }

  /** The pty is gone: fail whatever waits, and anything pushed later. */
  close(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    for (const p of this.queue.splice(0)) p.done(err);
    this.queuedBytes = 0;
  }

  private writeSome(): void {
    this.retryTimer = null;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      let written: number;
      try {
        written = fs.writeSync(this.fd, head.buf, head.offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          // The kernel's buffer is full: the program is not reading. Try again later.
          this.retryTimer = setTimeout(() => this.writeSome(), this.retryMs);
          this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
          return;
        }
        this.close(err as Error);
        return;
      }
      this.retryMs = FIRST_RETRY_MS;
      head.offset += written;
      this.queuedBytes -= written;
      if (head.offset >= head.buf.length) {
        this.queue.shift();
        head.done();
      }
    }
  }
}
