// Ends terminals owned by this instance that have had no attached device for longer
// than the idle timeout. Devices may be on any instance, so it asks the registry.
import type { Logger } from '../log/logger.js';
import type { UserTerminalRegistry } from '../registry/types.js';
import type { InstancePtys } from './ports.js';

export class IdleReaper {
  private readonly lastAttended = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ptys: InstancePtys,
    private readonly registry: UserTerminalRegistry,
    private readonly idleMs: number,
    private readonly logger: Logger,
    /** False while the registry cannot see every instance's devices. */
    private readonly canJudge: () => boolean = () => true,
  ) {}

  start(): void {
    const every = Math.max(250, Math.min(30_000, Math.floor(this.idleMs / 4)));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async sweep(now = Date.now()): Promise<void> {
    const ids = this.ptys.ids();
    for (const id of [...this.lastAttended.keys()]) if (!ids.includes(id)) this.lastAttended.delete(id);
    const judging = this.canJudge();
    for (const id of ids) {
      if (!judging) {
        this.lastAttended.set(id, now); // an outage does not count as idle time
        continue;
      }
      let attended: boolean;
      try {
        attended = await this.registry.hasConnectedDevices(id);
      } catch (err) {
        // Unknown is not idle: never end a terminal because the registry is unreachable.
        this.logger.debug({ err, terminalId: id }, 'idle check skipped');
        continue;
      }
      if (attended || !this.lastAttended.has(id)) {
        this.lastAttended.set(id, now);
      } else if (now - this.lastAttended.get(id)! >= this.idleMs) {
        this.logger.info({ terminalId: id, idleMs: this.idleMs }, 'ending idle terminal');
        this.lastAttended.delete(id);
        void this.ptys.end(id, 'idle');
      }
    }
  }
}
