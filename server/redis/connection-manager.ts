// The one Redis connection manager of a process: owns every ioredis client, tracks health
// with a periodic PING, reconnects with capped, jittered backoff, and makes commands fail
// fast while Redis is unreachable.
//
// Standalone Redis (REDIS_URL / host) or Redis Cluster (clusterNodes): callers get a
// `RedisClient` either way and keep every multi-key command inside one hash slot
// (docs/redis-keys.md).
//
// Keys are NOT prefixed by ioredis (no `keyPrefix` option): SCAN patterns would escape it.
// Callers build keys from `manager.prefix`.
import type { ConnectionOptions } from 'node:tls';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { backoffDelay } from './backoff.js';
import { errorMessage } from './errors.js';
import { Listeners } from './listeners.js';
import { observeSubscriptionCommands } from './observed-subscriptions.js';
import {
  RedisUnavailableError,
  type DuplicateOptions,
  type RedisClient,
  type LoggerLike,
  type RedisConnectionManager,
  type RedisHealth,
  type RedisManagerEvents,
  type RedisState,
} from './types.js';

type Ioredis = typeof import('ioredis');
let loaded: Ioredis | undefined;
/** Loaded with the first client: an instance without Redis never holds ioredis in memory. */
const ioredis = (): Ioredis => (loaded ??= createRequire(import.meta.url)('ioredis') as Ioredis);

export interface RedisManagerOptions {
  /** redis://[user:pass@]host:port/db or rediss:// (TLS). Wins over host/port. */
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** Extra TLS options (CA, servername); rediss:// alone enables TLS with defaults. */
  tls?: ConnectionOptions;
  /**
   * Redis Cluster seed nodes, "host:port,host:port" (entries may be redis[s]://[user:pass@]host:port;
   * rediss:// on any entry means TLS). Wins over url/host; password/username/tls apply to every node.
   */
  clusterNodes?: string;
  keyPrefix: string;
  /** Every command, PING included, fails after this long without a reply. */
  commandTimeoutMs: number;
  /** TCP/TLS connect timeout of one attempt. */
  connectTimeoutMs: number;
  logger: LoggerLike;
  /** Health check period (default 2000). */
  pingIntervalMs?: number;
  /** Reconnect backoff: first ceiling and cap (defaults 100 and 5000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Consecutive failed PINGs on an open connection before it is dropped and redialled (default 3). */
  failedPingsBeforeReconnect?: number;
  /** How long quit() waits for QUIT replies before cutting connections (default 1000). */
  quitTimeoutMs?: number;
  /** Shown in CLIENT LIST (default "ptyhub"). */
  clientName?: string;
  /** Called with every client created (e.g. to time its commands). */
  onClient?: (client: RedisClient) => void;
}

/** Reconnect delays never go below this: a burst of failures is never a tight loop. */
const RECONNECT_MIN_MS = 10;

export function createRedisManager(opts: RedisManagerOptions): RedisConnectionManager {
  return new Manager(opts);
}

class Manager implements RedisConnectionManager {
  readonly enabled: boolean;
  readonly prefix: string;
  readonly isCluster: boolean;
  private currentState: RedisState;
  private readonly main: RedisClient | null = null;
  private readonly extras = new Set<RedisClient>();
  private readonly events: Listeners<RedisManagerEvents>;
  private readonly log: LoggerLike;
  private readonly pingEveryMs: number;
  private readonly failedPingLimit: number;
  private readonly quitTimeoutMs: number;
  private pingTimer: NodeJS.Timeout | null = null;
  private pingInFlight = false;
  private failedPings = 0;
  private lastPingMs: number | null = null;
  private lastError: string | null = null;
  private lastLoggedError: string | null = null;
  /** One shared "became ready" promise for every waitReady() caller. */
  private readyWaiter: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | null = null;
  private endRetryTimer: NodeJS.Timeout | null = null;
  private endRetries = 0;
  private closing: Promise<void> | null = null;

  constructor(private readonly opts: RedisManagerOptions) {
    this.prefix = opts.keyPrefix;
    this.log = opts.logger;
    this.events = new Listeners(opts.logger, 'redis manager');
    this.pingEveryMs = opts.pingIntervalMs ?? 2000;
    this.failedPingLimit = opts.failedPingsBeforeReconnect ?? 3;
    this.quitTimeoutMs = opts.quitTimeoutMs ?? 1000;
    this.isCluster = Boolean(opts.clusterNodes);
    this.enabled = Boolean(opts.clusterNodes || opts.url || opts.host);
    if (!this.enabled) {
      this.currentState = 'disabled';
      return;
    }
    this.currentState = 'connecting';
    this.main = this.newClient('main', false);
    this.main.on('ready', () => this.onConnectionReady());
    this.main.on('close', () => this.onConnectionLost(null));
    this.main.on('end', () => this.onConnectionEnded());
    this.pingTimer = setInterval(() => void this.ping(), this.pingEveryMs);
    this.pingTimer.unref();
    this.main.connect().catch(() => {
      /* failures are reported through 'error'/'close' and retried by retryStrategy */
    });
    this.log.info({ target: this.describeTarget() }, 'redis: connecting');
  }

  get state(): RedisState {
    return this.currentState;
  }

  client(): RedisClient {
    if (!this.main) throw new RedisUnavailableError('Redis is not configured (set REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES)');
    if (this.currentState === 'closed') throw new RedisUnavailableError('Redis connection manager is closed');
    return this.main;
  }

  readyClient(): RedisClient {
    const client = this.client();
    if (this.currentState !== 'ready') {
      throw new RedisUnavailableError(
        `Redis is ${this.currentState}${this.lastError ? ` (last error: ${this.lastError})` : ''}`,
      );
    }
    return client;
  }

  masters(): Redis[] {
    const client = this.readyClient();
    return client instanceof ioredis().Cluster ? client.nodes('master') : [client];
  }

  duplicate(name: string, dupOpts: DuplicateOptions = {}): RedisClient {
    this.client(); // same availability rules as the main connection
    const dup = this.newClient(name, dupOpts.offlineQueue ?? false);
    observeSubscriptionCommands(dup, (command, err) =>
      this.log.debug({ connection: name, command, err: errorMessage(err) }, 'redis: subscription command ended with its connection'),
    );
    this.extras.add(dup);
    dup.on('end', () => {
      if (this.currentState === 'closed') this.extras.delete(dup);
    });
    dup.connect().catch(() => {
      /* retried by retryStrategy; errors go to the 'error' listener */
    });
    return dup;
  }

  waitReady(timeoutMs: number): Promise<void> {
    if (this.currentState === 'ready') return Promise.resolve();
    if (!this.enabled) return Promise.reject(new RedisUnavailableError('Redis is not configured'));
    if (this.currentState === 'closed') return Promise.reject(new RedisUnavailableError('Redis connection manager is closed'));
    if (!this.readyWaiter) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {}); // callers get their own rejection below
      this.readyWaiter = { promise, resolve, reject };
    }
    const shared = this.readyWaiter.promise;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new RedisUnavailableError(
            `Redis not ready within ${timeoutMs} ms (state ${this.currentState}${this.lastError ? `, last error: ${this.lastError}` : ''})`,
          ),
        );
      }, timeoutMs);
      shared.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }

  health(): RedisHealth {
    // An error from before the last recovery is history, not health.
    return { state: this.currentState, lastPingMs: this.lastPingMs, lastError: this.currentState === 'ready' ? null : this.lastError };
  }

  on<E extends keyof RedisManagerEvents>(event: E, fn: RedisManagerEvents[E]): this {
    this.events.on(event, fn);
    return this;
  }

  off<E extends keyof RedisManagerEvents>(event: E, fn: RedisManagerEvents[E]): this {
    this.events.off(event, fn);
    return this;
  }

  quit(): Promise<void> {
    if (!this.closing) this.closing = this.close();
    return this.closing;
  }

  // --- internals ---------------------------------------------------------------------

  private newClient(name: string, offlineQueue: boolean): RedisClient {
    const client = this.opts.clusterNodes ? this.newCluster(name, offlineQueue) : this.newStandalone(name, offlineQueue);
    // An ioredis client without an 'error' listener crashes the process on the first error.
    client.on('error', (err: Error) => this.onClientError(name, err));
    this.opts.onClient?.(client);
    return client;
  }

  private newStandalone(name: string, offlineQueue: boolean): Redis {
    const o = this.opts;
    const base = o.retryBaseMs ?? 100;
    const max = o.retryMaxMs ?? 5000;
    const options: RedisOptions = {
      lazyConnect: true,
      // Fail fast: no queueing while disconnected, and commands caught by a connection
      // loss are rejected at once instead of being replayed later on a new connection.
      enableOfflineQueue: offlineQueue,
      maxRetriesPerRequest: offlineQueue ? null : 0,
      autoResendUnfulfilledCommands: offlineQueue,
      // Subscriber connections carry only (P)SUBSCRIBE, which waits in the offline queue
      // until Redis is reachable (and is re-sent after reconnects): no timeout there.
      commandTimeout: offlineQueue ? undefined : o.commandTimeoutMs,
      connectTimeout: o.connectTimeoutMs,
      retryStrategy: (attempt: number) => backoffDelay(attempt, { baseMs: base, maxMs: max, minMs: RECONNECT_MIN_MS }),
      connectionName: `${o.clientName ?? 'ptyhub'}:${name}`,
      // After quit/disconnect, how long a socket may wait for the peer before being destroyed.
      disconnectTimeout: this.quitTimeoutMs,
    };
    if (o.username !== undefined) options.username = o.username;
    if (o.password !== undefined) options.password = o.password;
    if (o.db !== undefined) options.db = o.db;
    if (o.tls) options.tls = o.tls;
    const { Redis } = ioredis();
    let client: Redis;
    if (o.url) {
      // URL values win; options above only fill what the URL leaves out. rediss:// => TLS.
      client = new Redis(o.url, options);
    } else {
      options.host = o.host;
      if (o.port !== undefined) options.port = o.port;
      client = new Redis(options);
    }
    return client;
  }

  /** The same fail-fast rules per node; ioredis follows MOVED/ASK and refreshes the slot map. */
  private newCluster(name: string, offlineQueue: boolean): Cluster {
    const o = this.opts;
    const base = o.retryBaseMs ?? 100;
    const max = o.retryMaxMs ?? 5000;
    const seeds = parseClusterNodes(o.clusterNodes!);
    const nodeOptions: RedisOptions = {
      connectTimeout: o.connectTimeoutMs,
      commandTimeout: offlineQueue ? undefined : o.commandTimeoutMs,
      maxRetriesPerRequest: offlineQueue ? null : 0,
      autoResendUnfulfilledCommands: offlineQueue,
      connectionName: `${o.clientName ?? 'ptyhub'}:${name}`,
      disconnectTimeout: this.quitTimeoutMs,
    };
    const username = o.username ?? seeds.username;
    const password = o.password ?? seeds.password;
    if (username !== undefined) nodeOptions.username = username;
    if (password !== undefined) nodeOptions.password = password;
    if (o.tls || seeds.tls) nodeOptions.tls = o.tls ?? {};
    const options: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: offlineQueue,
      clusterRetryStrategy: (attempt: number) => backoffDelay(attempt, { baseMs: base, maxMs: max, minMs: RECONNECT_MIN_MS }),
      // A failover answers CLUSTERDOWN/TRYAGAIN or drops a node for about a node timeout:
      // a few short retries inside the command timeout, never an unbounded wait.
      retryDelayOnFailover: 50,
      retryDelayOnClusterDown: 50,
      retryDelayOnTryAgain: 50,
      maxRedirections: 8,
      slotsRefreshTimeout: o.commandTimeoutMs,
      redisOptions: nodeOptions,
      // Subscriber connections use sharded pub/sub: one subscriber per master.
      shardedSubscribers: offlineQueue,
    };
    return new (ioredis().Cluster)(seeds.nodes, options);
  }

  private describeTarget(): string {
    if (this.opts.clusterNodes) return `cluster ${parseClusterNodes(this.opts.clusterNodes).nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
    if (this.opts.url) return this.opts.url.replace(/\/\/[^@/]*@/, '//***@');
    return `${this.opts.host}:${this.opts.port ?? 6379}`;
  }

  private setState(next: RedisState): void {
    if (next === this.currentState) return;
    const prev = this.currentState;
    this.currentState = next;
    this.log.info({ from: prev, to: next, lastError: this.lastError }, `redis: ${prev} -> ${next}`);
    this.events.emit('state', next);
  }

  private onClientError(name: string, err: Error): void {
    this.lastError = err.message;
    // An outage produces one error per reconnect attempt: log the first, then quietly.
    if (err.message !== this.lastLoggedError) {
      this.lastLoggedError = err.message;
      this.log.warn({ connection: name, err: err.message }, 'redis: connection error');
    } else {
      this.log.debug({ connection: name, err: err.message }, 'redis: connection error (repeated)');
    }
  }

  private onConnectionReady(): void {
    if (this.currentState === 'closed') return;
    this.failedPings = 0;
    this.endRetries = 0;
    this.lastLoggedError = null;
    this.becomeReady();
  }

  private becomeReady(): void {
    if (this.currentState === 'ready') return;
    this.setState('ready');
    const waiter = this.readyWaiter;
    this.readyWaiter = null;
    waiter?.resolve();
    this.events.emit('ready');
  }

  private onConnectionLost(err: Error | null): void {
    if (this.currentState === 'closed' || this.currentState === 'degraded') return;
    const wasReady = this.currentState === 'ready';
    this.setState('degraded');
    if (wasReady) this.events.emit('down', err ?? (this.lastError ? new Error(this.lastError) : null));
  }

  /** ioredis gave up on the connection (should not happen with our retryStrategy): redial. */
  private onConnectionEnded(): void {
    if (this.currentState === 'closed' || !this.main || this.endRetryTimer) return;
    this.onConnectionLost(null);
    const delay = backoffDelay(++this.endRetries, { baseMs: this.opts.retryBaseMs ?? 100, maxMs: this.opts.retryMaxMs ?? 5000, minMs: RECONNECT_MIN_MS });
    this.log.warn({ delayMs: delay }, 'redis: connection ended; reconnecting');
    this.endRetryTimer = setTimeout(() => {
      this.endRetryTimer = null;
      if (this.currentState !== 'closed') this.main?.connect().catch(() => {});
    }, delay);
    this.endRetryTimer.unref();
  }

  /** Health check; also what notices a server that accepts bytes but never answers. */
  private async ping(): Promise<void> {
    const client = this.main;
    // PING goes to one node; a cluster that cannot serve every slot is caught by
    // CLUSTER INFO below (cluster_state:fail), as the per-slot errors would be.
    if (!client || this.pingInFlight || this.currentState === 'closed' || client.status !== 'ready') return;
    this.pingInFlight = true;
    const started = performance.now();
    try {
      await client.ping(); // bounded by commandTimeout
      if (client instanceof ioredis().Cluster) {
        const info = String(await client.cluster('INFO'));
        if (!info.includes('cluster_state:ok')) throw new Error('cluster_state is not ok');
      }
      this.lastPingMs = Math.round((performance.now() - started) * 100) / 100;
      this.failedPings = 0;
      if (this.currentState === 'degraded' && client.status === 'ready') {
        this.log.info({ pingMs: this.lastPingMs }, 'redis: answering again');
        this.becomeReady();
      }
    } catch (err) {
      this.failedPings += 1;
      this.lastError = `PING failed: ${errorMessage(err)}`;
      if (this.currentState === 'ready') {
        this.log.warn({ err: errorMessage(err) }, 'redis: PING failed; marking degraded');
        this.onConnectionLost(err instanceof Error ? err : new Error(String(err)));
      }
      if (this.failedPings >= this.failedPingLimit && client.status === 'ready') {
        // A half-open or frozen connection never closes on its own: drop it and redial.
        this.log.warn({ failedPings: this.failedPings }, 'redis: connection unresponsive; reconnecting');
        this.failedPings = 0;
        // disconnect(true) would end() politely and wait for a FIN that a frozen peer never
        // sends; destroying the socket makes ioredis reconnect (retryStrategy) at once.
        if (client instanceof ioredis().Cluster) client.disconnect(true);
        else client.stream?.destroy();
      }
    } finally {
      this.pingInFlight = false;
    }
  }

  private async close(): Promise<void> {
    const wasEnabled = this.enabled;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.endRetryTimer) clearTimeout(this.endRetryTimer);
    this.pingTimer = this.endRetryTimer = null;
    if (this.currentState !== 'disabled') this.setState('closed');
    const waiter = this.readyWaiter;
    this.readyWaiter = null;
    waiter?.reject(new RedisUnavailableError('Redis connection manager closed'));
    const clients = [...this.extras, ...(this.main ? [this.main] : [])];
    this.extras.clear();
    await Promise.all(clients.map((c) => this.quitClient(c)));
    if (wasEnabled) this.log.info({}, 'redis: closed');
  }

  /** QUIT politely when connected, bounded by quitTimeoutMs; then cut the socket regardless. */
  private async quitClient(client: RedisClient): Promise<void> {
    if (client.status === 'ready') {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.quitTimeoutMs);
      });
      await Promise.race([client.quit().then(() => undefined, () => undefined), timeout]);
      clearTimeout(timer);
    }
    client.disconnect();
  }
}

/** "host:port,redis://u:p@host:port" -> seed nodes, plus credentials/TLS named in any entry. */
export function parseClusterNodes(list: string): {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
  tls: boolean;
} {
  const out: ReturnType<typeof parseClusterNodes> = { nodes: [], tls: false };
  for (const entry of list.split(',').map((e) => e.trim()).filter(Boolean)) {
    const u = new URL(entry.includes('://') ? entry : `redis://${entry}`);
    if (u.protocol === 'rediss:') out.tls = true;
    if (u.username) out.username = decodeURIComponent(u.username);
    if (u.password) out.password = decodeURIComponent(u.password);
    out.nodes.push({ host: u.hostname, port: Number(u.port || 6379) });
  }
  return out;
}
