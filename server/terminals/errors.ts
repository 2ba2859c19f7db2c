// Errors the terminal core raises on purpose; the socket layer turns them into replies.
import type { ErrorCode } from '../../common/protocol.js';

export class ServiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const notFound = (terminalId: string) => new ServiceError('not_found', `no terminal ${terminalId}`);
export const notAttached = (terminalId: string) =>
  new ServiceError('bad_request', `attach to terminal ${terminalId} first`);
