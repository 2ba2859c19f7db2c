// The registry callers hold for the life of the process. It keeps its own copy of THIS
// instance's sockets (the instance is the source of truth for them) and answers from
// Redis while Redis is usable, from that copy otherwise.
//
// Outage behaviour (docs/redis-keys.md, "Switching registry"):
// - A write about one of our own sockets is applied to the local copy first (so local
//   order is call order), then mirrored to Redis. If Redis cannot answer, the call still
//   succeeds: the change is kept locally, the registry falls back to memory, and the
//   change is re-published when Redis is back. A call in flight when Redis dies therefore
//   resolves after at most the command timeout, and later calls do not touch Redis at all.
// - Removing or pinging a socket we do not hold is best effort (its holder is the source of
//   truth and re-publishes it): during an outage it answers like memory mode (false / []).
// - Making another instance's socket the primary cannot be recorded locally: that call
//   fails with RedisUnavailableError during an outage (RegistryConflictError in memory mode).
// - Reads fall back to the local copy (single-instance answers) when Redis fails.
// - On every switch back (manager 'ready', heartbeat 'reclaimed', or a retry after a
//   failed write) the registry first refreshes the heartbeat (so reapers leave our keys
//   alone), then makes Redis match the local copy for every socket Redis attributes to us
//   or we hold, re-publishes primaries, catches up with writes made meanwhile, and only
//   then serves reads from Redis again.
import { backoffDelay } from '../redis/backoff.js';
import { errorMessage, isRedisUnavailable } from '../redis/errors.js';
import type { InstanceHeartbeat } from '../redis/instance-heartbeat.js';
import { Listeners } from '../redis/listeners.js';
import { RedisUnavailableError, type LoggerLike, type RedisConnectionManager } from '../redis/types.js';
import { LocalRegistryState } from './local-state.js';
import { OWNER_TTL_MS, RedisRegistry } from './redis-registry.js';
import { RegistryConflictError, type DeviceInfo, type RegistryStats, type UserTerminalRegistry } from './types.js';

export type RegistryBackend = 'memory' | 'redis';

/** Catch-up rounds of a re-publish before writes are held back so that it can finish. */
const CATCH_UP_ROUNDS_BEFORE_GATE = 3;

export interface SwitchingRegistryOptions {
  manager: RedisConnectionManager;
  /** This instance; every socket added here must carry it as serverId. */
  serverId: string;
  logger: LoggerLike;
  /** Refreshed before re-publishing; its 'reclaimed' event triggers a re-publish. */
  heartbeat?: InstanceHeartbeat;
  /** Retry of a failed re-publish while the manager is ready (defaults 200 / 5000 ms). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Re-publishing sends this many socket syncs at a time (default 200). */
  syncBatch?: number;
  /** Life of the owner keys of our sockets and their terminals; refreshed at a quarter of it. */
  ownerTtlMs?: number;
}

export interface SwitchingRegistryEvents {
  backend: (backend: RegistryBackend, reason: string) => void;
}

type Mode = 'memory' | 'syncing' | 'redis';

export class SwitchingRegistry implements UserTerminalRegistry {
  private readonly local = new LocalRegistryState();
  private readonly redis: RedisRegistry;
  private readonly manager: RedisConnectionManager;
  private readonly serverId: string;
  private readonly log: LoggerLike;
  private readonly heartbeat: InstanceHeartbeat | undefined;
  private readonly events: Listeners<SwitchingRegistryEvents>;
  private mode: Mode = 'memory';
  /** Bumped on every fall-back and re-publish start: stale outcomes must not switch modes. */
  private epoch = 0;
  private readonly dirtySockets = new Set<string>();
  private readonly dirtyPrimaries = new Set<string>();
  private resyncing: Promise<void> | null = null;
  /** Set during a re-publish's last catch-up rounds: writes wait for it (see resync()). */
  private catchUpGate: Promise<void> | null = null;
  private resyncQueued = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryAttempt = 0;
  private closed = false;
  /** During a re-publish: the user of each socket Redis attributes to us (for ones we no longer hold). */
  private readonly ownerHints = new Map<string, string>();
  private ownerRefreshTimer: NodeJS.Timeout | null = null;
  /** Owner keys a re-publish claimed (Redis answered): each is claimed once per re-publish. */
  private readonly claimedThisSync = new Set<string>();

  private readonly onReady = (): void => this.requestResync('redis ready');
  private readonly onDown = (err: Error | null): void => this.fallBack(`redis down${err ? `: ${err.message}` : ''}`);
  private readonly onReclaimed = (): void => this.requestResync('heartbeat key was re-created');

  constructor(private readonly opts: SwitchingRegistryOptions) {
    this.manager = opts.manager;
    this.serverId = opts.serverId;
    this.log = opts.logger;
    this.heartbeat = opts.heartbeat;
    this.redis = new RedisRegistry(opts.manager, { logger: opts.logger, ...(opts.ownerTtlMs ? { ownerTtlMs: opts.ownerTtlMs } : {}) });
    this.events = new Listeners(opts.logger, 'switching registry');
    this.manager.on('ready', this.onReady);
    this.manager.on('down', this.onDown);
    this.heartbeat?.on('reclaimed', this.onReclaimed);
    if (this.manager.state === 'ready') this.requestResync('start');
    const ownerTtl = opts.ownerTtlMs ?? OWNER_TTL_MS;
    this.ownerRefreshTimer = setInterval(() => void this.refreshOwners(), Math.max(50, Math.floor(ownerTtl / 4)));
    this.ownerRefreshTimer.unref();
  }

  /** What reads are served from right now (for /healthz). */
  get backend(): RegistryBackend {
    return this.mode === 'redis' ? 'redis' : 'memory';
  }

  on<E extends keyof SwitchingRegistryEvents>(event: E, fn: SwitchingRegistryEvents[E]): void {
    this.events.on(event, fn);
  }

  off<E extends keyof SwitchingRegistryEvents>(event: E, fn: SwitchingRegistryEvents[E]): void {
    this.events.off(event, fn);
  }

  /** Resolves once `backend` is the given one; rejects after timeoutMs. */
  waitForBackend(backend: RegistryBackend, timeoutMs: number): Promise<void> {
    if (this.backend === backend) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (b: RegistryBackend): void => {
        if (b !== backend) return;
        clearTimeout(timer);
        this.off('backend', done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('backend', done);
        reject(new Error(`registry backend did not become ${backend} within ${timeoutMs} ms (now ${this.backend})`));
      }, timeoutMs);
      this.on('backend', done);
    });
  }

  // --- writes --------------------------------------------------------------------------

  async addSocket(terminalId: string, device: DeviceInfo): Promise<void> {
    if (device.serverId !== this.serverId) {
      throw new Error(`addSocket: socket ${device.socketId} belongs to ${device.serverId}, not this instance (${this.serverId})`);
    }
    const sid = device.socketId;
    const prevDevice = this.local.device(sid);
    const wasAttached = this.local.isAttached(terminalId, sid);
    this.local.add(terminalId, device); // throws (changing nothing) on a local conflict
    await this.mirror('addSocket', [sid], [], () => this.redis.addSocket(terminalId, device), () => {
      if (!wasAttached) this.local.remove(terminalId, sid);
      if (prevDevice) this.local.setDevice(sid, prevDevice);
    });
  }

  async removeSocket(terminalId: string, socketId: string): Promise<boolean> {
    if (!this.local.hasSocket(socketId)) {
      // Not ours: best effort in Redis (its holder re-publishes the truth anyway).
      return this.read('removeSocket', () => this.redis.removeSocket(terminalId, socketId), () => false);
    }
    const owner = this.local.device(socketId)?.userId;
    const removed = this.local.remove(terminalId, socketId);
    await this.mirror('removeSocket', [socketId], [], () => this.redis.removeSocket(terminalId, socketId, owner));
    return removed;
  }

  async removeSocketFromAllTerminals(socketId: string): Promise<string[]> {
    if (!this.local.hasSocket(socketId)) {
      return this.read('removeSocketFromAllTerminals', () => this.redis.removeSocketFromAllTerminals(socketId), () => []);
    }
    const owner = this.local.device(socketId)?.userId;
    const terms = this.local.removeEverywhere(socketId);
    await this.mirror('removeSocketFromAllTerminals', [socketId], [], () => this.redis.removeSocketFromAllTerminals(socketId, owner));
    return terms;
  }

  async setPrimarySocket(terminalId: string, socketId: string | null): Promise<void> {
    const ours = socketId === null ? this.local.deviceCount(terminalId) > 0 : this.local.isAttached(terminalId, socketId);
    if (!ours) {
      // Another instance's socket (or none known): only Redis can check and record it.
      if (socketId !== null && this.mode !== 'redis') throw new RegistryConflictError('not_attached', terminalId, socketId);
      await this.remoteWrite('setPrimarySocket', () => this.redis.setPrimarySocket(terminalId, socketId));
      // Redis now has another instance's socket as primary: ours (if any) is no longer it.
      if (socketId !== null && this.mode === 'redis') this.local.setPrimary(terminalId, null);
      return;
    }
    const prev = this.local.primaryOf(terminalId);
    const owner = this.ownerOfLocal(terminalId);
    this.local.setPrimary(terminalId, socketId);
    await this.mirror(
      'setPrimarySocket',
      [],
      [terminalId],
      () => this.redis.setPrimarySocket(terminalId, socketId, owner),
      () => {
        if (prev === null || this.local.isAttached(terminalId, prev)) this.local.setPrimary(terminalId, prev);
      },
      // Redis says our own attached socket is not attached: Redis lost it (e.g. reaped
      // during a stall). We are the source of truth: keep ours and re-publish.
      (err) => err instanceof RegistryConflictError && err.reason === 'not_attached',
    );
  }

  async updatePing(socketId: string, at: number = Date.now()): Promise<void> {
    if (!this.local.hasSocket(socketId)) {
      await this.read('updatePing', () => this.redis.updatePing(socketId, at), () => undefined);
      return;
    }
    this.local.updatePing(socketId, at);
    const owner = this.local.device(socketId)?.userId;
    await this.mirror('updatePing', [socketId], [], () => this.redis.updatePing(socketId, at, owner));
  }

  /** Forget our local copy, and the shared registry too when Redis is in use. */
  async clear(): Promise<void> {
    this.local.clear();
    this.dirtySockets.clear();
    this.dirtyPrimaries.clear();
    if (this.mode === 'redis') await this.redis.clear();
  }

  // --- reads ---------------------------------------------------------------------------

  getSocketsForTerminal(terminalId: string): Promise<string[]> {
    return this.read('getSocketsForTerminal', () => this.redis.getSocketsForTerminal(terminalId), () => this.local.socketsOf(terminalId));
  }

  getDevicesForTerminal(terminalId: string): Promise<DeviceInfo[]> {
    return this.read('getDevicesForTerminal', () => this.redis.getDevicesForTerminal(terminalId), () => this.local.devicesOf(terminalId));
  }

  getPrimarySocket(terminalId: string): Promise<string | null> {
    return this.read('getPrimarySocket', () => this.redis.getPrimarySocket(terminalId), () => this.local.primaryOf(terminalId));
  }

  async isSocketConnected(socketId: string): Promise<boolean> {
    if (this.local.hasSocket(socketId)) return true; // our own socket: we know
    return this.read('isSocketConnected', () => this.redis.isSocketConnected(socketId), () => false);
  }

  getDeviceCount(terminalId: string): Promise<number> {
    return this.read('getDeviceCount', () => this.redis.getDeviceCount(terminalId), () => this.local.deviceCount(terminalId));
  }

  async hasConnectedDevices(terminalId: string): Promise<boolean> {
    return (await this.getDeviceCount(terminalId)) > 0;
  }

  async getTerminalsForSocket(socketId: string): Promise<string[]> {
    if (this.local.hasSocket(socketId)) return this.local.terminalsOfSocket(socketId);
    return this.read('getTerminalsForSocket', () => this.redis.getTerminalsForSocket(socketId), () => []);
  }

  getTerminalsForUser(userId: string): Promise<string[]> {
    return this.read('getTerminalsForUser', () => this.redis.getTerminalsForUser(userId), () => this.local.terminalsOfUser(userId));
  }

  getStats(): Promise<RegistryStats> {
    return this.read('getStats', () => this.redis.getStats(), () => this.local.stats());
  }

  /**
   * Stop following the manager. purge=true also removes this instance's entries from Redis
   * (graceful shutdown, while Redis is up); otherwise reapers do it after the heartbeat ends.
   */
  async close(opts: { purge?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.manager.off('ready', this.onReady);
    this.manager.off('down', this.onDown);
    this.heartbeat?.off('reclaimed', this.onReclaimed);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.ownerRefreshTimer) clearInterval(this.ownerRefreshTimer);
    this.retryTimer = this.ownerRefreshTimer = null;
    await this.resyncing;
    if (opts.purge && this.manager.state === 'ready') {
      try {
        let r;
        do r = await this.redis.reapServer(this.serverId, 1000, true);
        while (r.remaining > 0);
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'registry: purge on close failed; reapers will clean up');
      }
    }
    this.mode = 'memory';
    this.events.clear();
  }

  // --- plumbing ------------------------------------------------------------------------

  /** The user of a terminal we hold sockets on (undefined otherwise): saves an owner-key read. */
  private ownerOfLocal(terminalId: string): string | undefined {
    const sid = this.local.socketsOf(terminalId)[0];
    return sid === undefined ? undefined : this.local.device(sid)?.userId;
  }

  /** Owner keys of the ids we hold expire unless refreshed (a crashed instance's ones go by themselves). */
  private async refreshOwners(): Promise<void> {
    if (this.mode !== 'redis' || this.closed) return;
    const batch = this.opts.syncBatch ?? 200;
    let pending: Promise<void>[] = [];
    try {
      for (const sid of this.local.allSocketIds()) {
        const device = this.local.device(sid);
        if (device) pending.push(this.redis.refreshOwners(device.userId, sid, this.local.terminalsOfSocket(sid)));
        if (pending.length >= batch) {
          await Promise.all(pending);
          pending = [];
        }
      }
      await Promise.all(pending);
    } catch (err) {
      // The next refresh (a quarter TTL later) or a re-publish puts them back.
      this.log.warn({ err: errorMessage(err) }, 'registry: refreshing owner keys failed');
    }
  }

  /** Mirror a change already applied locally; see the header for the outage rules. */
  private async mirror(
    what: string,
    sockets: string[],
    primaries: string[],
    op: () => Promise<unknown>,
    revert?: () => void,
    redisIsBehind?: (err: unknown) => boolean,
  ): Promise<void> {
    // Already applied locally; while a re-publish finishes, wait for it rather than add to
    // its work (then mirror to Redis, or mark dirty if it failed).
    if (this.catchUpGate) await this.catchUpGate;
    if (this.mode !== 'redis') {
      this.markDirty(sockets, primaries);
      return;
    }
    const epoch = this.epoch;
    try {
      await op();
    } catch (err) {
      const behind = redisIsBehind?.(err) ?? false;
      if (!isRedisUnavailable(err) && !behind) {
        revert?.(); // Redis refused (e.g. another user's terminal): undo locally too
        throw err;
      }
      this.markDirty(sockets, primaries);
      if (behind) this.requestResync(`${what}: Redis is missing our state`);
      else if (epoch === this.epoch) this.fallBack(`${what} failed: ${errorMessage(err)}`);
    }
  }

  /** A decision only Redis can record (a primary on another instance's socket): fails during an outage. */
  private async remoteWrite<T>(what: string, op: () => Promise<T>): Promise<T | undefined> {
    if (this.mode !== 'redis') return undefined;
    const epoch = this.epoch;
    try {
      return await op();
    } catch (err) {
      if (isRedisUnavailable(err) && epoch === this.epoch) this.fallBack(`${what} failed: ${errorMessage(err)}`);
      throw err;
    }
  }

  /** Reads, and best-effort writes about sockets we do not hold: the local answer during an outage. */
  private async read<T>(what: string, fromRedis: () => Promise<T>, fromLocal: () => T): Promise<T> {
    if (this.mode !== 'redis') return fromLocal();
    const epoch = this.epoch;
    try {
      return await fromRedis();
    } catch (err) {
      if (!isRedisUnavailable(err)) throw err;
      if (epoch === this.epoch) this.fallBack(`${what} failed: ${errorMessage(err)}`);
      return fromLocal();
    }
  }

  private markDirty(sockets: string[], primaries: string[]): void {
    for (const s of sockets) this.dirtySockets.add(s);
    for (const t of primaries) this.dirtyPrimaries.add(t);
  }

  private setMode(next: Mode, reason: string): void {
    const before = this.backend;
    this.mode = next;
    if (this.backend === before) return;
    if (this.backend === 'redis') this.log.info({ reason }, 'registry: backend memory -> redis');
    else this.log.warn({ reason }, 'registry: backend redis -> memory');
    this.events.emit('backend', this.backend, reason);
  }

  private fallBack(reason: string): void {
    if (this.closed) return;
    if (this.mode !== 'memory') {
      this.epoch += 1;
      this.setMode('memory', reason);
    }
    this.scheduleRetry();
  }

  /** While the manager still says ready (a write failed anyway), retry with backoff. */
  private scheduleRetry(): void {
    if (this.closed || this.retryTimer || this.manager.state !== 'ready') return;
    const delay = backoffDelay(this.retryAttempt++, { baseMs: this.opts.retryBaseMs ?? 200, maxMs: this.opts.retryMaxMs ?? 5000, minMs: 10 });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.mode !== 'redis') this.requestResync('retry');
    }, delay);
    this.retryTimer.unref();
  }

  private requestResync(reason: string): void {
    if (this.closed || !this.manager.enabled) return;
    if (this.resyncing) {
      this.resyncQueued = true;
      return;
    }
    this.resyncing = this.resync(reason).finally(() => {
      this.resyncing = null;
      if (this.resyncQueued) {
        this.resyncQueued = false;
        this.requestResync('queued');
      }
    });
  }

  private async resync(reason: string): Promise<void> {
    let openGate = (): void => undefined;
    const epoch = ++this.epoch;
    this.setMode('syncing', reason);
    const forced = new Set(this.dirtyPrimaries);
    this.dirtyPrimaries.clear();
    this.dirtySockets.clear();
    const started = Date.now();
    try {
      // Our heartbeat key first: a reaper must not delete what we are about to publish.
      if (this.heartbeat) await this.heartbeat.refresh();
      const theirs = await this.redis.socketsOfServer(this.serverId);
      for (const [sid, uid] of theirs) this.ownerHints.set(sid, uid);
      this.claimedThisSync.clear();
      const sockets = new Set([...theirs.keys(), ...this.local.allSocketIds()]);
      await this.syncSockets(sockets, epoch);
      this.ownerHints.clear();
      await this.syncPrimaries(forced, epoch);
      // Writes made while we were publishing were only applied locally: publish them too.
      // Sustained traffic would keep this loop going for ever, so after a few rounds new
      // writes wait (one round trip at most) until the switch, and the loop ends.
      let rounds = 0;
      while (this.dirtySockets.size || this.dirtyPrimaries.size) {
        if (++rounds > CATCH_UP_ROUNDS_BEFORE_GATE && !this.catchUpGate) this.catchUpGate = new Promise((r) => (openGate = r));
        const socketsNow = new Set(this.dirtySockets);
        const primariesNow = new Set(this.dirtyPrimaries);
        this.dirtySockets.clear();
        this.dirtyPrimaries.clear();
        for (const t of primariesNow) forced.add(t);
        await this.syncSockets(socketsNow, epoch);
        await this.syncPrimaries(primariesNow, epoch, false);
      }
      if (epoch !== this.epoch || this.closed) return; // superseded by a fall-back
      this.retryAttempt = 0;
      // A write already past the gate may still have marked something: switch now, then
      // publish what is still marked. Those syncs are sent before any later write (they read the
      // local copy as it is now, and one connection per node answers in order).
      const socketsLeft = new Set(this.dirtySockets);
      const primariesLeft = new Set(this.dirtyPrimaries);
      this.dirtySockets.clear();
      this.dirtyPrimaries.clear();
      this.setMode('redis', `${reason}; re-published ${sockets.size} socket(s) in ${Date.now() - started} ms`);
      if (socketsLeft.size || primariesLeft.size) {
        try {
          await this.syncSockets(socketsLeft, epoch);
          await this.syncPrimaries(primariesLeft, epoch, false); // reads the local copy as it is then
        } catch (err) {
          this.markDirty([...socketsLeft], [...primariesLeft]);
          if (epoch === this.epoch) this.fallBack(`re-publish of late changes failed: ${errorMessage(err)}`);
        }
      }
      this.claimedThisSync.clear();
    } catch (err) {
      this.ownerHints.clear();
      this.claimedThisSync.clear();
      for (const t of forced) this.dirtyPrimaries.add(t); // keep them "changed during the outage"
      if (epoch === this.epoch) this.setMode('memory', `re-publish failed: ${errorMessage(err)}`);
      const level = isRedisUnavailable(err) ? 'warn' : 'error';
      this.log[level]({ err: errorMessage(err), reason }, 'registry: re-publishing to Redis failed; staying in memory');
      this.scheduleRetry();
    } finally {
      // After the mode is decided: held writes then mirror to Redis, or mark dirty.
      this.catchUpGate = null;
      openGate();
    }
  }

  private async syncSockets(socketIds: Iterable<string>, epoch: number): Promise<void> {
    const batch = this.opts.syncBatch ?? 200;
    let pending: Promise<void>[] = [];
    for (const sid of socketIds) {
      pending.push(this.syncSocket(sid));
      if (pending.length >= batch) {
        await Promise.all(pending);
        pending = [];
        this.assertCurrent(epoch);
      }
    }
    await Promise.all(pending);
    this.assertCurrent(epoch);
  }

  private async syncSocket(sid: string): Promise<void> {
    // Snapshot taken synchronously: later local changes mark the socket dirty again.
    const device = this.local.device(sid);
    const terms = this.local.terminalsOfSocket(sid);
    const hint = this.ownerHints.get(sid);
    const refused = await this.redis.syncSocket(sid, device, terms, { claimed: this.claimedThisSync, ...(hint ? { userHint: hint } : {}) });
    if (refused.length) {
      this.log.error({ socketId: sid, terminals: refused }, 'registry: terminals owned by another user in Redis; not published');
    }
  }

  /**
   * Primaries changed locally during the outage are forced (last writer wins); the rest
   * are only set where Redis has none (Redis lost its data), unless includeKnown=false.
   */
  private async syncPrimaries(forced: Set<string>, epoch: number, includeKnown = true): Promise<void> {
    const ops: Promise<unknown>[] = [];
    for (const tid of forced) {
      const sid = this.local.primaryOf(tid);
      // Clearing is only ours to re-publish while we still hold sockets on the terminal.
      if (sid !== null || this.local.deviceCount(tid) > 0) ops.push(this.redis.setPrimaryIf(tid, sid, 'force', this.ownerOfLocal(tid)));
    }
    if (includeKnown) {
      for (const [tid, sid] of this.local.primaries()) {
        if (!forced.has(tid)) ops.push(this.redis.setPrimaryIf(tid, sid, 'nx', this.ownerOfLocal(tid)));
      }
    }
    await Promise.all(ops);
    this.assertCurrent(epoch);
  }

  private assertCurrent(epoch: number): void {
    if (epoch !== this.epoch) throw new RedisUnavailableError('re-publish interrupted by a fall-back');
  }
}
