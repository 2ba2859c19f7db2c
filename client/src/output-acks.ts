// Acknowledges the output of one terminal once xterm has rendered it (flow control: the
// server sends a device at most a window of un-acknowledged output, and pauses the
// program while every device is out of credit). Acks go out every ACK_EVERY of rendered
// output, or when rendering has gone quiet for a moment; one in flight at a time,
// always the newest offset.

/** Well inside the server's window (256 KiB), so a device reading steadily never waits for credit. */
const ACK_EVERY = 64 * 1024;
const IDLE_ACK_MS = 50;

export class OutputAcks {
  private rendered = -1;
  private acked = -1;
  private sending = false;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly send: (offset: number) => Promise<unknown>) {}

  /** xterm has rendered the output up to `offset`. */
  renderedUpTo(offset: number): void {
    if (offset <= this.rendered) return;
    this.rendered = offset;
    clearTimeout(this.idleTimer);
    if (this.rendered - this.acked >= ACK_EVERY) void this.flush();
    else this.idleTimer = setTimeout(() => void this.flush(), IDLE_ACK_MS);
  }

  /** A new attach: offsets start again from its replay. */
  reset(): void {
    clearTimeout(this.idleTimer);
    this.rendered = this.acked = -1;
  }

  dispose(): void {
    clearTimeout(this.idleTimer);
  }

  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.rendered > this.acked) {
        const offset = this.rendered;
        this.acked = offset;
        await this.send(offset);
      }
    } finally {
      this.sending = false;
    }
  }
}
