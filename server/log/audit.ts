// The audit trail: who signed in, revoked a token, reset a password, or created, attached
// to, detached from, closed or ended a terminal. Each record is one log line of one stable
// shape, marked `audit: true` so a log collector can route it (docs/audit.md). Records
// name people, devices and terminals, never terminal content or secrets.

export type AuditEvent =
  | 'sign_in_succeeded'
  | 'sign_in_failed'
  | 'token_revoked'
  | 'password_reset'
  | 'terminal_created'
  | 'terminal_attached'
  | 'terminal_detached'
  | 'terminal_closed'
  | 'terminal_ended';

export interface AuditFields {
  userId?: string;
  username?: string;
  deviceId?: string;
  deviceName?: string;
  socketId?: string;
  terminalId?: string;
  /** Client address (sign-in): X-Forwarded-For only from trusted proxies (TRUST_PROXY). */
  address?: string;
  /** Why: wrong_credentials, throttled, logout, a disconnect reason, an exit reason... */
  reason?: string;
  exitCode?: number | null;
  signal?: number | null;
}

/** The part of a pino (or fastify) logger an audit record needs. */
export interface AuditLogger {
  readonly level: string;
  child(bindings: Record<string, unknown>, options?: { level?: string }): { info(obj: object, msg: string): void };
}

export function audit(logger: AuditLogger, event: AuditEvent, fields: AuditFields): void {
  // Recorded at "info" even when LOG_LEVEL is warn or error: only "silent" turns it off.
  const level = logger.level === 'silent' ? 'silent' : 'info';
  const record: Record<string, unknown> = { audit: true, event };
  // Only the documented fields, in a fixed order: callers cannot leak anything else.
  for (const key of FIELDS) if (fields[key] !== undefined) record[key] = fields[key];
  logger.child({}, { level }).info(record, 'audit');
}

const FIELDS: ReadonlyArray<keyof AuditFields> = [
  'userId',
  'username',
  'deviceId',
  'deviceName',
  'socketId',
  'terminalId',
  'address',
  'reason',
  'exitCode',
  'signal',
];
