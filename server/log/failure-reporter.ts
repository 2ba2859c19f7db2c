// Failures of a background mechanism (owner-loss sweep, ended-elsewhere sweep,
// cross-instance publishing) must never disappear: while one fails, the mechanism is off.
// Each failure is counted; the first of a run is logged at warn at once, later ones at most
// once per interval (with how many there were), recovery at info; /healthz shows the state.
import { errorMessage } from '../redis/errors.js';
import type { LoggerLike } from '../redis/types.js';

export interface MechanismHealth {
  /** Failing now: the last attempt failed. */
  failing: boolean;
  /** Failures since the process started. */
  failures: number;
  /** Failures since the last success. */
  consecutive: number;
  lastError: string | null;
  lastFailureAt: string | null;
}

export class FailureReporter {
  private failures = 0;
  private consecutive = 0;
  private lastError: string | null = null;
  private lastFailureAt: number | null = null;
  private lastLoggedAt = -Infinity;
  /** Failures not yet mentioned in a log line. */
  private unlogged = 0;

  constructor(
    readonly mechanism: string,
    private readonly logger: LoggerLike,
    private readonly logEveryMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  failed(err: unknown, fields: Record<string, unknown> = {}): void {
    const at = this.now();
    this.failures++;
    this.consecutive++;
    this.unlogged++;
    this.lastError = errorMessage(err);
    this.lastFailureAt = at;
    if (this.consecutive > 1 && at - this.lastLoggedAt < this.logEveryMs) return;
    this.lastLoggedAt = at;
    this.logger.warn(
      { ...fields, mechanism: this.mechanism, err: this.lastError, failures: this.unlogged, consecutive: this.consecutive },
      `${this.mechanism} failed`,
    );
    this.unlogged = 0;
  }

  succeeded(): void {
    if (this.consecutive === 0) return;
    this.logger.info({ mechanism: this.mechanism, failedAttempts: this.consecutive }, `${this.mechanism} working again`);
    this.consecutive = 0;
    this.unlogged = 0;
  }

  health(): MechanismHealth {
    return {
      failing: this.consecutive > 0,
      failures: this.failures,
      consecutive: this.consecutive,
      lastError: this.lastError,
      lastFailureAt: this.lastFailureAt === null ? null : new Date(this.lastFailureAt).toISOString(),
    };
  }
}

/** The reporters of one process, for /healthz. */
export class MechanismHealthBoard {
  private readonly reporters = new Map<string, FailureReporter>();

  constructor(private readonly logger: LoggerLike) {}

  reporter(key: string, mechanism: string): FailureReporter {
    let r = this.reporters.get(key);
    if (!r) this.reporters.set(key, (r = new FailureReporter(mechanism, this.logger)));
    return r;
  }

  /** True while any mechanism is failing. */
  anyFailing(): boolean {
    return [...this.reporters.values()].some((r) => r.health().failing);
  }

  report(): Record<string, MechanismHealth> {
    return Object.fromEntries([...this.reporters].map(([k, r]) => [k, r.health()]));
  }
}
