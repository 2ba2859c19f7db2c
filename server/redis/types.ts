// The one Redis connection manager of a process (see connection-manager.ts).
import type { Cluster, Redis } from 'ioredis';

/** A standalone connection or a Redis Cluster client (same command API). */
export type RedisClient = Redis | Cluster;

/**
 * disabled: no Redis configured. connecting: first connection under way.
 * ready: commands flow. degraded: configured but unreachable (reconnecting with backoff).
 * closed: quit on shutdown.
 */
export type RedisState = 'disabled' | 'connecting' | 'ready' | 'degraded' | 'closed';

export interface RedisHealth {
  state: RedisState;
  /** Latency of the last successful PING, ms. */
  lastPingMs: number | null;
  lastError: string | null;
}

/** Thrown when a command is issued while Redis is not ready, or times out. */
export class RedisUnavailableError extends Error {
  readonly code = 'unavailable' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisUnavailableError';
  }
}

export interface DuplicateOptions {
  /**
   * Queue commands while disconnected and keep them across reconnects (default false).
   * Meant for subscriber connections, whose SUBSCRIBE may be issued before the first connect;
   * never for writes.
   */
  offlineQueue?: boolean;
  // Such connections also have no command timeout: a SUBSCRIBE issued while Redis is
  // down waits for it instead of failing.
}

export interface RedisManagerEvents {
  /** Became ready (first time or after an outage). */
  ready: () => void;
  /** Lost the connection (was ready, now degraded). */
  down: (err: Error | null) => void;
  state: (state: RedisState) => void;
}

export interface RedisConnectionManager {
  readonly state: RedisState;
  readonly enabled: boolean;
  /** Redis Cluster (REDIS_CLUSTER_NODES) rather than one server. */
  readonly isCluster: boolean;
  /** Key prefix, e.g. "ptyhub:". */
  readonly prefix: string;
  /** The shared command connection. Throws RedisUnavailableError unless enabled. */
  client(): RedisClient;
  /**
   * The shared command connection, but only while state is 'ready'; otherwise throws
   * RedisUnavailableError at once (fail fast instead of waiting for a command timeout).
   */
  readyClient(): RedisClient;
  /**
   * One connection per master (one element on a standalone server), for commands that
   * must visit every node: SCAN (see scan.ts), PUBSUB NUMSUB. Throws unless ready.
   */
  masters(): Redis[];
  /**
   * A new dedicated connection (pub/sub, blocking); the manager closes it on quit.
   * On a cluster, one with sharded subscribers (SSUBSCRIBE goes to the slot's master).
   */
  duplicate(name: string, opts?: DuplicateOptions): RedisClient;
  /** Resolves when ready; rejects after timeoutMs (one shared promise, no polling). */
  waitReady(timeoutMs: number): Promise<void>;
  health(): RedisHealth;
  on<E extends keyof RedisManagerEvents>(event: E, fn: RedisManagerEvents[E]): this;
  off<E extends keyof RedisManagerEvents>(event: E, fn: RedisManagerEvents[E]): this;
  quit(): Promise<void>;
}

/** The part of a pino logger the Redis and registry modules use. */
export interface LoggerLike {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}
