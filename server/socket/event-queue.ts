// Per-socket flow control for incoming events, as two tiny classes:
// a token bucket that bounds the rate, and a queue that runs one event at a time so a
// device's events are applied in the order it sent them.

/** Allows `rate` events per second on average and bursts of up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now = Date.now()): boolean {
    // A clock that steps back refills nothing (and takes nothing away).
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Runs tasks one after another; refuses new ones beyond `limit` waiting. */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly limit: number) {}

  /** False if the queue is full (the task is not run). */
  push(task: () => Promise<void>): boolean {
    if (this.waiting >= this.limit) return false;
    this.waiting++;
    this.tail = this.tail.then(async () => {
      this.waiting--;
      try {
        await task();
      } catch {
        // tasks handle their own errors; a throw must not stop the queue
      }
    });
    return true;
  }

  /** Resolves when everything queued so far has run. */
  drain(): Promise<void> {
    return this.tail;
  }
}
