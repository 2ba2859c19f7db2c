// Revocation must reach live sockets even when nobody could tell this instance: a
// password reset from the command line, or a logout on another instance while Redis
// (the bus that carries the disconnect) was down. So every `intervalMs`, and at once
// whenever Redis comes back, the tokens this instance's sockets were opened with are
// checked against the database (one query per batch of hashes) and the sockets of any
// token no longer active are disconnected. A database that cannot answer disconnects
// nobody: the next round checks again.
import type { LoggerLike } from '../redis/types.js';

const BATCH = 500;

export interface TokenRecheckOptions {
  intervalMs: number;
  /** Token hashes of the sockets connected to this instance. */
  tokensInUse: () => Iterable<string>;
  /** Which of these hashes are still active (neither revoked nor expired). */
  stillActive: (tokenHashes: string[]) => Promise<Set<string>>;
  /** Disconnect this instance's sockets opened with that token. */
  disconnect: (tokenHash: string) => void;
  logger: LoggerLike;
}

export class TokenRechecker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly o: TokenRecheckOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.checkNow(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Runs a check; a call during one runs another right after it (never two at once). */
  checkNow(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.checkOnce().catch((err: unknown) => this.o.logger.warn({ err }, 'token re-check failed; will retry'));
      } while (this.again);
    })().finally(() => (this.running = null));
    return this.running;
  }

  private async checkOnce(): Promise<void> {
    const hashes = [...new Set(this.o.tokensInUse())];
    for (let i = 0; i < hashes.length; i += BATCH) {
      const batch = hashes.slice(i, i + BATCH);
      const active = await this.o.stillActive(batch);
      for (const h of batch) {
        if (active.has(h)) continue;
        this.o.logger.info({}, 'token no longer active; disconnecting its sockets');
        this.o.disconnect(h);
      }
    }
  }
}
