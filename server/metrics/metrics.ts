// Every Prometheus metric of one ptyhub instance, defined here and nowhere else. Other
// modules add one line where something happens (socket events, Redis commands, locks,
// owner RPC, sign-in); levels (terminals, devices, Redis state, cache statistics) are read
// at scrape time from the components' own state through `readFrom`.
// Names and meanings: docs/metrics.md.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RedisHealth, RedisState } from '../redis/types.js';

/** Levels read at scrape time; app.ts supplies them once the components exist. */
export interface MetricSources {
  terminalsRunning(): number;
  socketsConnected(): number;
  devicesAttached(): number;
  redisHealth(): RedisHealth;
  sessionCache(): { hits: number; misses: number; errors: number };
  /** 1 while new terminals can be started (the pty layer is up). */
  ptyHostUp(): boolean;
}

const REDIS_STATES: readonly RedisState[] = ['disabled', 'connecting', 'ready', 'degraded', 'closed'];

/** Latencies from sub-millisecond (a local Redis) to the slowest bounded wait (seconds). */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  private sources: Partial<MetricSources> = {};

  readonly inputBytes = new Counter({
    name: 'ptyhub_input_bytes_total',
    help: 'Terminal input accepted from devices connected to this instance (UTF-8 bytes).',
    registers: [this.registry],
  });
  readonly outputBytes = new Counter({
    name: 'ptyhub_output_bytes_total',
    help: 'Output produced by the terminals this instance runs (UTF-8 bytes, before fan-out to devices).',
    registers: [this.registry],
  });
  readonly socketEvents = new Counter({
    name: 'ptyhub_socket_events_total',
    help: 'Events from devices by name and outcome (ok, or the error code replied: rate_limited, bad_request, ...).',
    labelNames: ['event', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly socketDisconnects = new Counter({
    name: 'ptyhub_socket_disconnects_total',
    help: 'Device disconnects by reason (slow_consumer, token_expired, token_revoked, shutdown, client, transport_close, ping_timeout, ...).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly ownerRpcDuration = new Histogram({
    name: 'ptyhub_owner_rpc_duration_seconds',
    help: 'Operations forwarded to the instance that runs the terminal, by op and outcome, until the reply.',
    labelNames: ['op', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly ownerRpcTimeouts = new Counter({
    name: 'ptyhub_owner_rpc_timeouts_total',
    help: 'Forwarded operations the owner instance did not answer in time.',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  readonly redisCommandDuration = new Histogram({
    name: 'ptyhub_redis_command_duration_seconds',
    help: 'Redis commands by name, from send to reply (failed ones included).',
    labelNames: ['command'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly redisCommandErrors = new Counter({
    name: 'ptyhub_redis_command_errors_total',
    help: 'Redis commands that failed (error reply, timeout, connection lost), by name.',
    labelNames: ['command'] as const,
    registers: [this.registry],
  });
  readonly lockWait = new Histogram({
    name: 'ptyhub_lock_wait_seconds',
    help: 'Time waited for a resize/primary lock, by kind and outcome (acquired, timeout, error).',
    labelNames: ['kind', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly lockTimeouts = new Counter({
    name: 'ptyhub_lock_timeouts_total',
    help: 'Lock requests that gave up (LOCK_WAIT_MS); the device was told "busy".',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly signIns = new Counter({
    name: 'ptyhub_sign_ins_total',
    help: 'Sign-in attempts by outcome (success, failure, throttled).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    const read = <K extends keyof MetricSources>(key: K): MetricSources[K] | undefined => this.sources[key];
    const level = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(value());
        },
      });
    level('ptyhub_terminals_running', 'Terminals (ptys) running on this instance.', () => read('terminalsRunning')?.() ?? 0);
    level('ptyhub_sockets_connected', 'Devices (sockets) connected to this instance.', () => read('socketsConnected')?.() ?? 0);
    level(
      'ptyhub_devices_attached',
      'Device attachments to terminals held by this instance (one device on two terminals counts twice).',
      () => read('devicesAttached')?.() ?? 0,
    );
    level('ptyhub_pty_host_up', '1 while this instance can run terminals (its pty layer is up), else 0.', () =>
      read('ptyHostUp')?.() === false ? 0 : 1,
    );
    new Gauge({
      name: 'ptyhub_redis_state',
      help: "The Redis connection manager's state: 1 for the current one (disabled, connecting, ready, degraded, closed).",
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const state = read('redisHealth')?.().state ?? 'disabled';
        for (const s of REDIS_STATES) this.set({ state: s }, s === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ptyhub_redis_ping_seconds',
      help: 'Round trip of the last successful health PING to Redis.',
      registers: [this.registry],
      collect() {
        const ms = read('redisHealth')?.().lastPingMs;
        if (ms !== null && ms !== undefined) this.set(ms / 1000);
      },
    });
    // The session cache counts for itself; these mirror its counters at scrape time.
    const cache = () => read('sessionCache')?.() ?? { hits: 0, misses: 0, errors: 0 };
    mirrorCounter(
      this.registry,
      'ptyhub_session_cache_requests_total',
      'Session reads by result (hit: served by the Redis cache, miss: read from the database).',
      () => ({ hit: cache().hits, miss: cache().misses }),
      'result',
    );
    mirrorCounter(
      this.registry,
      'ptyhub_session_cache_errors_total',
      'Session cache operations that failed (reads then go to the database).',
      () => ({ '': cache().errors }),
    );
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the scrape-time levels come from (called by the composition root). */
  readFrom(sources: Partial<MetricSources>): void {
    this.sources = { ...this.sources, ...sources };
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * A counter whose value is kept by another component (as a monotonic number): each scrape
 * adds what it grew by since the last one. A single label, or none (key '').
 */
function mirrorCounter(
  registry: Registry,
  name: string,
  help: string,
  values: () => Record<string, number>,
  label?: string,
): void {
  const seen = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: label ? [label] : [],
    registers: [registry],
    collect() {
      for (const [key, value] of Object.entries(values())) {
        // Never negative (a counter only grows); 0 still shows the series.
        const grew = Math.max(0, value - (seen.get(key) ?? 0));
        seen.set(key, Math.max(value, seen.get(key) ?? 0));
        if (label) this.inc({ [label]: key }, grew);
        else this.inc(grew);
      }
    },
  });
}
