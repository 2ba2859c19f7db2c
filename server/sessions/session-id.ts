// Terminal session ids are UUIDv7: time-ordered and, within one process, strictly
// increasing (RFC 9562 counter). Lists sort by (createdAt, id), so two terminals created
// in the same millisecond still come back in the order they were made.
import { v7 } from 'uuid';

export function newSessionId(): string {
  return v7();
}
