// Maps any failure to the `{ ok: false, error }` reply the protocol promises.
import type { ErrorBody } from '../../common/protocol.js';
import { LockTimeoutError } from '../locks/types.js';
import { RedisUnavailableError } from '../redis/types.js';
import { VersionConflictError } from '../sessions/types.js';
import { ServiceError } from '../terminals/errors.js';

/** Returns the reply body, and whether the failure was unexpected (to be logged). */
export function toErrorBody(err: unknown): { body: ErrorBody; unexpected: boolean } {
  if (err instanceof ServiceError) return { body: { code: err.code, message: err.message }, unexpected: false };
  if (err instanceof LockTimeoutError) {
    return { body: { code: 'busy', message: 'the terminal is busy with another change; try again' }, unexpected: false };
  }
  if (err instanceof VersionConflictError) {
    return { body: { code: 'conflict', message: 'a concurrent change won; try again' }, unexpected: false };
  }
  if (err instanceof RedisUnavailableError || hasCode(err, 'unavailable')) {
    return { body: { code: 'unavailable', message: 'a backing service is unavailable; try again shortly' }, unexpected: true };
  }
  return { body: { code: 'internal', message: 'internal error' }, unexpected: true };
}

function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
