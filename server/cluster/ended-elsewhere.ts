// The other side of owner-loss detection: if other instances declared this instance
// lost (it was cut off from Redis for longer than the heartbeat TTL) and ended its
// terminals, the ptys still running here must end too, or they would run on unseen.
import type { FailureReporter } from '../log/failure-reporter.js';
import type { Logger } from '../log/logger.js';
import type { SessionStore } from '../sessions/types.js';
import type { InstancePtys } from '../terminals/ports.js';

export class EndedElsewhereSweeper {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ptys: InstancePtys,
    private readonly store: SessionStore,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    /** A failing check leaves a pty running unseen: reported (warn, /healthz). */
    private readonly failures: FailureReporter,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sweep(): Promise<void> {
    let failed = false;
    for (const id of this.ptys.ids()) {
      try {
        if (await this.store.get(id)) continue;
      } catch (err) {
        failed = true;
        this.failures.failed(err, { terminalId: id });
        continue; // unknown is not ended
      }
      if (!this.ptys.has(id)) continue; // ended meanwhile, by itself
      this.logger.warn({ terminalId: id }, 'terminal was ended by another instance; ending its pty');
      void this.ptys.end(id, 'owner_lost');
    }
    if (!failed) this.failures.succeeded();
  }
}
