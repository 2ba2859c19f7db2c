// Which other instances have a device attached to each terminal this instance owns, so
// that output is published through Redis only while someone on another instance reads
// it (publishing and decoding every output event was about a third of an owner's time).
//
// How an instance becomes a watcher: a device there attaches (or re-syncs), which asks the
// owner for the replay. The owner marks that instance as a watcher BEFORE it takes the
// snapshot, so every byte is either in the replay or published after it (or both: the
// device's OutputSequencer drops what it already has). No byte falls between the two.
//
// How it stops: a periodic sweep reads the registry (the shared index of which sockets
// are attached where) and forgets instances that no longer have a device of the terminal.
// A watcher marked after the sweep started its reads is never dropped by that sweep, an
// instance is dropped only when two sweeps in a row miss it (after a Redis outage the
// instances re-publish their sockets, and a sweep in between must not stop their output),
// and nothing is dropped while the registry cannot see other instances (a Redis outage) or
// when a read fails. Until the first sweep after start-up has rebuilt the set (a restart
// of this instance), every terminal counts as watched.
import type { FailureReporter } from '../log/failure-reporter.js';
import type { Logger } from '../log/logger.js';
import type { UserTerminalRegistry } from '../registry/types.js';

export interface RemoteWatchersOptions {
  serverId: string;
  registry: Pick<UserTerminalRegistry, 'getDevicesForTerminal'>;
  /** The terminals this instance owns now. */
  localTerminals: () => string[];
  /** False while the registry sees only this instance (Redis down): then nothing is dropped. */
  registryShared: () => boolean;
  intervalMs: number;
  logger: Logger;
  failures?: FailureReporter;
}

export class RemoteWatchers {
  /** terminal id -> instance id -> when it was last marked (performance.now()). */
  private readonly watchers = new Map<string, Map<string, number>>();
  /** `${terminal}\n${instance}` entries that the last sweep did not see in the registry. */
  private missedOnce = new Set<string>();
  private rebuilt = false;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;

  constructor(private readonly o: RemoteWatchersOptions) {}

  /** An instance other than this one reads the terminal's output from now on. */
  watch(terminalId: string, serverId: string): void {
    if (serverId === this.o.serverId) return;
    let instances = this.watchers.get(terminalId);
    if (!instances) this.watchers.set(terminalId, (instances = new Map()));
    instances.set(serverId, performance.now());
  }

  /** Whether the terminal's output must be published for other instances. */
  isWatched(terminalId: string): boolean {
    return !this.rebuilt || this.watchers.has(terminalId);
  }

  /** Instances watching a terminal (for tests and diagnostics). */
  watchersOf(terminalId: string): string[] {
    return [...(this.watchers.get(terminalId)?.keys() ?? [])];
  }

  start(): void {
    void this.sweepNow();
    this.timer = setInterval(() => void this.sweepNow(), this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sweep (never two at once); resolves when it is done. */
  sweepNow(): Promise<void> {
    return (this.sweeping ??= this.sweep().finally(() => (this.sweeping = null)));
  }

  private async sweep(): Promise<void> {
    const startedAt = performance.now();
    const local = this.o.localTerminals();
    const shared = this.o.registryShared();
    let failed = 0;
    const missed = new Set<string>();
    const localSet = new Set(local);
    for (const id of this.watchers.keys()) if (!localSet.has(id)) this.watchers.delete(id);
    for (const id of local) {
      let seen: Set<string>;
      try {
        seen = new Set((await this.o.registry.getDevicesForTerminal(id)).map((d) => d.serverId));
      } catch (err) {
        failed++;
        this.o.logger.debug({ err, terminalId: id }, 'remote watchers: registry read failed; keeping this terminal published');
        continue;
      }
      for (const serverId of seen) if (serverId !== this.o.serverId && !this.watchers.get(id)?.has(serverId)) this.watch(id, serverId);
      if (!shared) continue;
      const instances = this.watchers.get(id);
      if (!instances) continue;
      for (const [serverId, since] of instances) {
        if (seen.has(serverId) || since >= startedAt) continue;
        const key = `${id}\n${serverId}`;
        if (this.missedOnce.has(key)) instances.delete(serverId);
        else missed.add(key);
      }
      if (instances.size === 0) this.watchers.delete(id);
    }
    this.missedOnce = missed;
    if (failed > 0) this.o.failures?.failed(new Error(`registry reads failed for ${failed} terminal(s)`));
    else this.o.failures?.succeeded();
    // Only a complete, shared view may stop the start-up "publish everything".
    if (failed === 0 && shared) this.rebuilt = true;
  }
}
