// A small typed event list. Unlike EventEmitter, a throwing or rejecting listener is
// logged instead of breaking the component that emits (state machines must keep going).
import type { LoggerLike } from './types.js';

type Handler = (...args: never[]) => unknown;

export class Listeners<Events extends { [K in keyof Events]: Handler }> {
  private readonly map = new Map<keyof Events, Set<Handler>>();

  constructor(
    private readonly logger: LoggerLike,
    private readonly component: string,
  ) {}

  on<E extends keyof Events>(event: E, fn: Events[E]): void {
    let set = this.map.get(event);
    if (!set) this.map.set(event, (set = new Set()));
    set.add(fn);
  }

  off<E extends keyof Events>(event: E, fn: Events[E]): void {
    this.map.get(event)?.delete(fn);
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const fn of [...(this.map.get(event) ?? [])]) {
      try {
        const ret = (fn as (...a: Parameters<Events[E]>) => unknown)(...args);
        if (ret instanceof Promise) ret.catch((err: unknown) => this.report(event, err));
      } catch (err) {
        this.report(event, err);
      }
    }
  }

  clear(): void {
    this.map.clear();
  }

  private report(event: keyof Events, err: unknown): void {
    this.logger.error({ err, event: String(event) }, `${this.component}: listener failed`);
  }
}
