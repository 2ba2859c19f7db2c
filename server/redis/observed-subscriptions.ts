// ioredis re-subscribes by itself when a subscriber connection comes back, but nobody holds
// the promise of that SUBSCRIBE: if the connection is then closed for good before Redis
// answers (shutdown while Redis is slow), the promise rejects unobserved and Node ends the
// process. Every subscription command's promise is therefore observed here; callers that
// await one still get its rejection.
import type { RedisClient } from './types.js';

const SUBSCRIPTION_COMMANDS = ['subscribe', 'psubscribe', 'ssubscribe', 'unsubscribe', 'punsubscribe', 'sunsubscribe'] as const;

export function observeSubscriptionCommands(client: RedisClient, onDropped: (command: string, err: unknown) => void): void {
  for (const command of SUBSCRIPTION_COMMANDS) {
    const original = client[command] as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(client, command, {
      configurable: true,
      value: (...args: unknown[]): Promise<unknown> => {
        const reply = original.apply(client, args);
        reply.catch((err: unknown) => onDropped(command, err));
        return reply;
      },
    });
  }
}
