// Structured logs with pino. Tokens and passwords are redacted wherever they appear.
// JSON lines by default; readable, coloured lines when a person watches a terminal.
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

export type LogFormat = 'json' | 'pretty';

export function createLogger(opts: { level: string; serverId: string; format?: LogFormat }): Logger {
  const options = {
    level: opts.level,
    base: { serverId: opts.serverId },
    redact: {
      paths: ['token', 'password', '*.token', '*.password', 'req.headers.authorization', 'req.headers.cookie', 'auth.token'],
      censor: '[redacted]',
    },
  };
  const format = opts.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  if (format === 'json') return pino(options);
  // Loaded only here: JSON logs (services, the pty host) never need it in memory.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  // Synchronous, in this thread: nothing is lost when the process exits.
  return pino(options, pretty({ sync: true, colorize: Boolean(process.stdout.isTTY), ignore: 'pid,hostname', translateTime: 'SYS:HH:MM:ss.l', singleLine: true }));
}
