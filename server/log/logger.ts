// Structured logs with pino. Tokens and passwords are redacted wherever they appear.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(opts: { level: string; serverId: string }): Logger {
  return pino({
    level: opts.level,
    base: { serverId: opts.serverId },
    redact: {
      paths: [
        'token',
        'password',
        '*.token',
        '*.password',
        'req.headers.authorization',
        'req.headers.cookie',
        'auth.token',
      ],
      censor: '[redacted]',
    },
  });
}
