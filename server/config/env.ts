// Configuration from environment variables (and .env), validated once at start-up.
// Every variable is documented in .env.example.
import os from 'node:os';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(3000),
  SERVER_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-" (at most 64)')
    .optional(),
  DATABASE_URL: z.string().min(1).default('file:./data/ptyhub.db'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** json (one object a line) or pretty; default: pretty on a terminal, else json. */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  /** Comma-separated Origins allowed to open WebSockets; default: the server's own. */
  ALLOWED_ORIGINS: optionalString,
  /**
   * Which proxies in front may set X-Forwarded-For: false (none), a number of hops, or
   * comma-separated addresses/CIDRs of the proxies. "true" trusts any hop (only when the
   * proxy overwrites the header).
   */
  TRUST_PROXY: z
    .string()
    .default('false')
    .transform((v, ctx): boolean | number | string => {
      const t = v.trim();
      if (t === '' || t === 'false') return false;
      if (t === 'true') return true;
      if (/^\d+$/.test(t)) return Number(t);
      if (/^[0-9a-fA-F.:/,\s]+$/.test(t)) return t;
      ctx.addIssue({ code: 'custom', message: 'false, true, a hop count, or proxy addresses/CIDRs' });
      return z.NEVER;
    }),
  TOKEN_TTL_HOURS: int(1, 24 * 365).default(24 * 7),
  SHELL: optionalString,
  /**
   * Which OS user runs the shells. shared: every shell runs as the pty host's OS user, so
   * ptyhub accounts are not isolated from each other at the OS level. account: each ptyhub
   * account has its own OS account (user:add --os-user); started as root, the pty host
   * starts each shell as that account and the web server runs as SERVICE_USER.
   */
  TERMINAL_USER_MODE: z.enum(['shared', 'account']).default('shared'),
  /** TERMINAL_USER_MODE=account: the unprivileged OS user the web server runs as. */
  SERVICE_USER: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/, 'an OS user name').default('ptyhub'),
  TERMINAL_CWD: optionalString,
  MAX_TERMINALS_PER_USER: int(1, 1000).default(10),
  TERMINAL_IDLE_TIMEOUT_MS: int(1000, 7 * 24 * 3600 * 1000).default(30 * 60 * 1000),
  REPLAY_BUFFER_CHARS: int(1024, 16 * 1024 * 1024).default(256 * 1024),
  /** Events one socket may send per second (sustained); bursts up to twice that. */
  SOCKET_EVENTS_PER_SECOND: int(1, 100_000).default(200),
  /** Output queued for one socket beyond this (bytes) disconnects it as too slow. */
  SOCKET_MAX_BUFFERED_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  /** Sockets one user / one address may have open at once (all instances together with Redis). */
  MAX_SOCKETS_PER_USER: int(1, 100_000).default(20),
  MAX_SOCKETS_PER_ADDRESS: int(1, 100_000).default(200),
  /** Events all sockets of one user / one address may send per second on one instance. */
  USER_EVENTS_PER_SECOND: int(1, 1_000_000).default(200),
  ADDRESS_EVENTS_PER_SECOND: int(1, 1_000_000).default(2000),

  REDIS_URL: optionalString,
  /**
   * Redis Cluster seed nodes: host:port,host:port,... (or redis[s]://[user:pass@]host:port
   * entries; rediss:// on any entry means TLS for all). Wins over REDIS_URL/REDIS_HOST.
   */
  REDIS_CLUSTER_NODES: optionalString.pipe(
    z
      .string()
      .regex(/^(rediss?:\/\/([^@\s,]*@)?)?[^\s,:/@]+:\d{1,5}(,(rediss?:\/\/([^@\s,]*@)?)?[^\s,:/@]+:\d{1,5})*$/, 'host:port,host:port,...')
      .optional(),
  ),
  REDIS_HOST: optionalString,
  REDIS_PORT: int(1, 65535).default(6379),
  REDIS_PASSWORD: optionalString,
  REDIS_DB: int(0, 1024).default(0),
  /** Signs messages between instances; required when Redis is enabled (see requireClusterSecret). */
  CLUSTER_SECRET: optionalString,
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:._-]{0,64}$/).default('ptyhub:'),
  REDIS_COMMAND_TIMEOUT_MS: int(50, 60_000).default(2000),
  REDIS_CONNECT_TIMEOUT_MS: int(100, 60_000).default(5000),
  HEARTBEAT_TTL_MS: int(1000, 600_000).default(10_000),
  SESSION_CACHE_TTL_SECONDS: int(1, 30 * 24 * 3600).default(3600),
  TOMBSTONE_TTL_SECONDS: int(1, 30 * 24 * 3600).default(3600),
  LOCK_TTL_MS: int(100, 600_000).default(10_000),
  LOCK_WAIT_MS: int(10, 600_000).default(5000),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** The longest one database call may take (waits for locks and connections included). */
  DB_TIMEOUT_MS: int(100, 600_000).default(5000),
  /** How often the tokens of connected sockets are re-checked (revocations from elsewhere). */
  TOKEN_RECHECK_MS: int(100, 3_600_000).default(3000),

  /** Prometheus endpoint port; unset: no endpoint; 0: any free port. */
  METRICS_PORT: int(0, 65535).optional(),
  /** Address of the metrics listener: loopback unless an operator opens it. */
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** The pty host's Unix socket; default ./data/pty-host/<SERVER_ID>.sock. */
  PTY_HOST_SOCKET: optionalString,
  /**
   * auto: the web server starts the pty host when none answers. never: the host is run
   * by a supervisor (systemd unit, compose service); the web server waits for it.
   */
  PTY_HOST_START: z.enum(['auto', 'never']).default('auto'),
  /** A pty host with no terminal and no web server attached exits after this (ms). */
  PTY_HOST_IDLE_EXIT_MS: int(100, 7 * 24 * 3600 * 1000).default(60_000),
  /** How long other instances wait for a restarting instance before declaring its terminals lost (ms). */
  RESTART_GRACE_MS: int(0, 3600_000).default(60_000),
});

export type Env = z.infer<typeof schema>;

/** Every variable ptyhub reads (shells get none of them: see server/pty-host/shell-env.ts). */
export const CONFIG_KEYS: readonly string[] = Object.keys(schema.shape);

export interface Config extends Omit<Env, 'SERVER_ID' | 'ALLOWED_ORIGINS'> {
  SERVER_ID: string;
  /** Explicit allow-list, or null for "the server's own origin". */
  ALLOWED_ORIGINS: string[] | null;
  redisEnabled: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parse and validate; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable (`SERVER_ID=` in a copied .env.example) means "use the default".
  const given = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = schema.safeParse(given);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message} (got ${JSON.stringify(env[String(i.path[0])] ?? null)})`),
    );
  }
  const e = parsed.data;
  const origins = e.ALLOWED_ORIGINS?.split(',').map((o) => o.trim()).filter(Boolean) ?? null;
  const badOrigins = (origins ?? []).filter((o) => o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o));
  if (badOrigins.length) {
    throw new ConfigError([`ALLOWED_ORIGINS: not an origin like https://host:port: ${badOrigins.join(', ')}`]);
  }
  return {
    ...e,
    SERVER_ID: e.SERVER_ID ?? `${os.hostname()}-${e.PORT}`,
    ALLOWED_ORIGINS: origins,
    redisEnabled: Boolean(e.REDIS_CLUSTER_NODES || e.REDIS_URL || e.REDIS_HOST),
  };
}

/** Shortest CLUSTER_SECRET accepted. */
export const MIN_CLUSTER_SECRET_LENGTH = 32;

/**
 * The web server talks to other instances only through Redis, so with Redis it needs the
 * secret that signs those messages; throws ConfigError naming CLUSTER_SECRET otherwise.
 * (Tools that only read Redis, like inspect, do not.)
 */
export function requireClusterSecret(config: Config): void {
  if (!config.redisEnabled) return;
  const secret = config.CLUSTER_SECRET;
  if (!secret) {
    throw new ConfigError(['CLUSTER_SECRET: required when Redis is enabled (REDIS_URL/REDIS_HOST): the same secret on every instance, e.g. `openssl rand -hex 32`']);
  }
  if (secret.length < MIN_CLUSTER_SECRET_LENGTH) {
    throw new ConfigError([`CLUSTER_SECRET: at least ${MIN_CLUSTER_SECRET_LENGTH} characters (got ${secret.length})`]);
  }
}

/** Load `.env` from the working directory if present (real env vars win). */
export async function loadDotEnv(): Promise<void> {
  const dotenv = await import('dotenv');
  dotenv.config({ quiet: true });
}

/** A URL safe to log: any password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
