// What an instance has started, closed in reverse order: shutdown is the start-up
// sequence backwards, not a hand-ordered list to keep in step with it.
import type { Logger } from './log/logger.js';

export class Closers {
  private readonly stack: Array<{ name: string; close: () => unknown }> = [];

  /** Register right after starting something; it is closed before what started earlier. */
  add(name: string, close: () => unknown): void {
    this.stack.push({ name, close });
  }

  /** Close everything, newest first; a failure is logged and the rest still close. */
  async closeAll(logger: Logger): Promise<void> {
    for (let entry = this.stack.pop(); entry; entry = this.stack.pop()) {
      try {
        await entry.close();
      } catch (err) {
        logger.warn({ err, component: entry.name }, 'closing failed');
      }
    }
  }
}
