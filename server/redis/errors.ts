// Tell "Redis could not answer" apart from "Redis answered with an error".
// The first kind is retried or falls back; the second is a real error and propagates.
import { RedisUnavailableError } from './types.js';

// Replies that mean the server is not usable right now rather than that the command is wrong.
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOAUTH|WRONGPASS)\b/;

/** True for connection loss, timeouts, "not ready" and transient server replies. */
export function isRedisUnavailable(err: unknown): boolean {
  if (err instanceof RedisUnavailableError) return true;
  if (!(err instanceof Error)) return false;
  // Bugs in our own code are not outages.
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) return false;
  // ioredis' ReplyError: the server answered. Everything else ioredis raises is about
  // the connection (closed, timed out, not writeable, MaxRetriesPerRequest, AbortError).
  if (err.name === 'ReplyError') return TRANSIENT_REPLY.test(err.message);
  return true;
}

/**
 * Await a Redis call; connection-type failures become RedisUnavailableError (with the
 * ioredis error as cause), server replies propagate unchanged.
 */
export async function redisCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof RedisUnavailableError || !isRedisUnavailable(err)) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new RedisUnavailableError(`Redis ${what} failed: ${msg}`, { cause: err });
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
