// The terminal core: create, list, attach, detach, input, resize, claim, close.
// It knows nothing about socket.io or Redis: devices are reached through an EventSink,
// terminals through OwnerOps (run by their owner: this instance or another), this
// instance's own ptys through InstancePtys, state through the registry, the session
// store and the lock manager.
import type { DeviceSummary, ExitReason, Replay, TerminalInfo, TerminalStatus } from '../../common/protocol.js';
import { audit } from '../log/audit.js';
import type { Logger } from '../log/logger.js';
import { backoffDelay } from '../redis/backoff.js';
import type { LockManager } from '../locks/types.js';
import type { DeviceInfo, UserTerminalRegistry } from '../registry/types.js';
import { newSessionId } from '../sessions/session-id.js';
import { VersionConflictError, type SessionPatch, type SessionStore, type TerminalSessionRecord } from '../sessions/types.js';
import { notAttached, notFound, ServiceError } from './errors.js';
import type { FlowControl } from './flow-control.js';
import type { EventSink, InstancePtys, OwnerOps, ResizeResult } from './ports.js';
import { toTerminalInfo } from './terminal-info.js';

export interface Caller {
  userId: string;
  socketId: string;
  deviceId: string;
  deviceName: string;
  connectedAt: number;
  /** The device acknowledges the output it has rendered (`terminal:ack`): it takes part in flow control. */
  outputAcks?: boolean;
}

export interface TerminalServiceOptions {
  serverId: string;
  shell: string;
  cwd: string;
  maxTerminalsPerUser: number;
  lockWaitMs: number;
  lockTtlMs: number;
  store: SessionStore;
  registry: UserTerminalRegistry;
  locks: LockManager;
  sink: EventSink;
  /** Operations on any terminal, run by its owner (this instance or another). */
  owner: OwnerOps;
  /** This instance's own ptys: new terminals start here; the owner side resizes here. */
  ptys: InstancePtys;
  /**
   * TERMINAL_USER_MODE=account: the OS account a user's shells run as; throws a
   * ServiceError when the user has none. Absent in shared mode.
   */
  osAccountOf?: (userId: string) => Promise<string>;
  /** Per-device flow control for this instance's devices (absent: none). */
  flow?: FlowControl;
  logger: Logger;
}

/** How many times a versioned change is retried after losing a race. */
const MAX_VERSION_RETRIES = 5;
/** Minimum time between two activity writes for one terminal / one socket. */
const TOUCH_INTERVAL_MS = 30_000;
const PING_INTERVAL_MS = 1_000;
/** How long devices wait for an end to be recorded before they are told anyway. */
const END_RECORD_GRACE_MS = 500;

export class TerminalService {
  /** Terminals each local socket is attached to, with the owner of each. */
  private readonly attachments = new Map<string, Map<string, TerminalSessionRecord>>();
  private readonly creating = new Map<string, Promise<unknown>>();
  private readonly lastTouch = new Map<string, number>();
  private readonly lastPing = new Map<string, number>();

  constructor(private readonly o: TerminalServiceOptions) {}

  async create(caller: Caller, req: { cols: number; rows: number; title?: string }): Promise<TerminalInfo> {
    // Creates of one user run one at a time on this instance, so the cap holds.
    return this.serialize(caller.userId, async () => {
      // Before anything is recorded: a user with no OS account gets a clear refusal.
      const osUser = await this.o.osAccountOf?.(caller.userId);
      const running = await this.o.store.listRunningForUser(caller.userId);
      const count = running.length;
      if (count >= this.o.maxTerminalsPerUser) {
        throw new ServiceError('limit_reached', `at most ${this.o.maxTerminalsPerUser} terminals per user`);
      }
      const id = newSessionId();
      const session = await this.o.store.create({
        id,
        userId: caller.userId,
        title: req.title?.trim() || firstFreeTitle(running.map((s) => s.title)),
        shell: this.o.shell,
        cwd: this.o.cwd,
        cols: req.cols,
        rows: req.rows,
        serverId: this.o.serverId,
      });
      // The cap across instances, decided by the database: count again after inserting.
      // Of two racing creates, the later count sees both rows, so the cap is never
      // exceeded (a close race may refuse both; it never admits both).
      if ((await this.countAfterCreate(caller.userId, id)) > this.o.maxTerminalsPerUser) {
        const info = { exitCode: null, reason: 'limit_reached' };
        await this.o.store.end(id, info).catch((err: unknown) => void this.keepRecordingEnd(id, info, Promise.resolve({ err })));
        throw new ServiceError('limit_reached', `at most ${this.o.maxTerminalsPerUser} terminals per user`);
      }
      try {
        await this.o.ptys.spawn(session, osUser);
      } catch (err) {
        await this.o.store.end(id, { exitCode: null, reason: 'spawn_failed' });
        throw err;
      }
      this.o.logger.info({ terminalId: id, userId: caller.userId, cols: req.cols, rows: req.rows }, 'terminal created');
      const terminal = toTerminalInfo(session, 0);
      this.o.sink.toUser(caller.userId, caller.socketId, 'terminal:created', { terminal });
      return terminal;
    });
  }

  /** Running terminals of a user once `id` is inserted; on failure `id` is ended, not left behind. */
  private async countAfterCreate(userId: string, id: string): Promise<number> {
    try {
      return await this.o.store.countRunningForUser(userId);
    } catch (err) {
      const info = { exitCode: null, reason: 'spawn_failed' };
      await this.o.store.end(id, info).catch((e: unknown) => void this.keepRecordingEnd(id, info, Promise.resolve({ err: e })));
      throw err;
    }
  }

  async list(userId: string): Promise<TerminalInfo[]> {
    const sessions = await this.o.store.listRunningForUser(userId);
    const counts = await Promise.all(sessions.map((s) => this.o.registry.getDeviceCount(s.id)));
    return sessions.map((s, i) => toTerminalInfo(s, counts[i] ?? 0));
  }

  async attach(caller: Caller, terminalId: string): Promise<{ terminal: TerminalInfo; replay: Replay; devices: DeviceSummary[] }> {
    const session = await this.owned(caller.userId, terminalId);
    const device = this.deviceOf(caller, Date.now());
    // Join the room before taking the replay, so no output falls between the two;
    // output already in the replay is dropped by the client's OutputSequencer.
    this.o.sink.join(caller.socketId, terminalId);
    this.local(caller.socketId).set(terminalId, session);
    try {
      await this.o.registry.addSocket(terminalId, device);
      const replay = await this.o.owner.replay(session);
      // Credits count from the end of the replay it is given.
      this.o.flow?.attach(terminalId, session.serverId, caller.socketId, caller.outputAcks === true, replay.end);
      const current = await this.ensurePrimary(terminalId);
      const devices = await this.broadcastDevices(terminalId);
      return { terminal: toTerminalInfo(current ?? session, devices.length), replay, devices };
    } catch (err) {
      await this.undoAttach(caller.socketId, terminalId);
      throw err;
    }
  }

  async detach(caller: Caller, terminalId: string): Promise<void> {
    if (!this.attachments.get(caller.socketId)?.has(terminalId)) throw notAttached(terminalId);
    await this.detachSocket(caller.socketId, terminalId);
  }

  /** A device has rendered a terminal's output up to `offset` (flow control). */
  ack(caller: Caller, terminalId: string, offset: number): void {
    this.attached(caller.socketId, terminalId);
    this.o.flow?.ack(terminalId, caller.socketId, offset);
  }

  /** Resolves once the terminal's pty has taken the input (see InstancePtys.input). */
  async input(caller: Caller, terminalId: string, data: string): Promise<void> {
    const session = this.attached(caller.socketId, terminalId);
    await this.o.owner.input(session, data);
    this.noteActivity(caller.socketId, terminalId);
  }

  async resize(caller: Caller, terminalId: string, cols: number, rows: number): Promise<ResizeResult> {
    const session = this.attached(caller.socketId, terminalId);
    const result = await this.o.owner.resize(session, caller.socketId, cols, rows);
    this.noteActivity(caller.socketId, terminalId);
    return result;
  }

  /**
   * Runs on the owner, for a device on any instance: under the resize lock, in order,
   * the database and cache (version + 1), the pty, then the resizing device becomes
   * primary (last writer wins) through changePrimary, under the primary lock, the one
   * writer of that fact (`terminal:primary`), then `terminal:resized` with the version
   * the session has after both.
   */
  async applyResize(terminalId: string, socketId: string, cols: number, rows: number): Promise<ResizeResult> {
    return this.o.locks.withLock(
      'resize',
      terminalId,
      async () => {
        const resized = await this.versioned(terminalId, () => ({ cols, rows }));
        this.o.ptys.resize(terminalId, cols, rows);
        // Lock order is always resize, then primary (never the reverse): no deadlock.
        const promoted = resized.after.primarySocketId === socketId ? null : await this.changePrimary(terminalId, () => socketId);
        const version = (promoted ?? resized.after).version;
        this.o.sink.toTerminal(terminalId, 'terminal:resized', { terminalId, cols, rows, version });
        return { cols, rows, version };
      },
      this.lockOptions(),
    );
  }

  async claim(caller: Caller, terminalId: string): Promise<{ socketId: string; version: number }> {
    this.attached(caller.socketId, terminalId);
    const after = await this.changePrimary(terminalId, () => caller.socketId);
    return { socketId: caller.socketId, version: after?.version ?? (await this.current(terminalId)).version };
  }

  /**
   * A versioned change like resize: the database (version + 1), then `terminal:renamed`
   * to every device of the user (their tab bars list terminals they are not attached to).
   */
  async rename(caller: Caller, terminalId: string, title: string): Promise<{ title: string; version: number }> {
    await this.owned(caller.userId, terminalId);
    const { after } = await this.versioned(terminalId, (s) => (s.title === title ? null : { title }));
    const event = { terminalId, title: after.title, version: after.version };
    this.o.sink.toUser(caller.userId, caller.socketId, 'terminal:renamed', event);
    return { title: after.title, version: after.version };
  }

  /** What runs in the terminal now, read on its owner (e.g. to confirm closing it). */
  async status(caller: Caller, terminalId: string): Promise<TerminalStatus> {
    const session = await this.owned(caller.userId, terminalId);
    return this.o.owner.status(session);
  }

  /** A device took a new name: every terminal it is attached to lists it under that name. */
  async deviceRenamed(caller: Caller): Promise<void> {
    const device = this.deviceOf(caller, this.lastPing.get(caller.socketId) ?? caller.connectedAt);
    for (const terminalId of [...(this.attachments.get(caller.socketId)?.keys() ?? [])]) {
      await this.o.registry.addSocket(terminalId, device); // overwrites the socket's device entry
      await this.broadcastDevices(terminalId);
    }
  }

  async close(caller: Caller, terminalId: string): Promise<void> {
    const session = await this.owned(caller.userId, terminalId);
    await this.o.owner.close(session, 'closed');
  }

  /**
   * A local socket went away: detach it everywhere; its terminals keep running.
   * Returns the terminals it was attached to.
   */
  async disconnect(socketId: string): Promise<string[]> {
    const mine = [...(this.attachments.get(socketId)?.keys() ?? [])];
    this.lastPing.delete(socketId);
    await Promise.allSettled(mine.map((t) => this.detachSocket(socketId, t)));
    this.attachments.delete(socketId);
    // Also covers entries this instance wrote but no longer tracks (e.g. after a failed call).
    await this.o.registry.removeSocketFromAllTerminals(socketId);
    return mine;
  }

  /**
   * Called on the owner once a terminal has ended (its pty exited): record it, then
   * tell every device and instance.
   */
  async finish(terminalId: string, exitCode: number | null, signal: number | null, reason: ExitReason): Promise<void> {
    const info = { exitCode, reason };
    const first = this.o.store.end(terminalId, info).then(
      (ended) => ({ ended }),
      (err: unknown) => ({ err }),
    );
    // Devices are told at once, whether or not the database can record the end yet.
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([first, new Promise<null>((r) => (timer = setTimeout(() => r(null), END_RECORD_GRACE_MS)))]);
    clearTimeout(timer);
    await this.announceEnded(terminalId, { exitCode, signal, reason });
    if (outcome && 'ended' in outcome) {
      this.o.logger.info({ terminalId, exitCode, signal, reason, version: outcome.ended?.version }, 'terminal ended');
      audit(this.o.logger, 'terminal_ended', { terminalId, userId: outcome.ended?.userId, reason, exitCode, signal });
      return;
    }
    void this.keepRecordingEnd(terminalId, info, first);
  }

  /**
   * An end that could not be recorded is retried until it is: until then the terminal
   * would stay listed as running, and count against its user's cap, forever.
   */
  private async keepRecordingEnd(
    terminalId: string,
    info: { exitCode: number | null; reason: string },
    first: Promise<{ ended: TerminalSessionRecord | null } | { err: unknown }>,
  ): Promise<void> {
    let outcome = await first;
    for (let attempt = 0; 'err' in outcome; attempt++) {
      if (attempt % 10 === 0) {
        this.o.logger.warn({ err: outcome.err, terminalId, attempt }, 'the end of a terminal is not recorded yet; retrying');
      }
      await new Promise<void>((r) => setTimeout(r, backoffDelay(attempt, { baseMs: 200, maxMs: 30_000 })).unref());
      outcome = await this.o.store.end(terminalId, info).then(
        (ended) => ({ ended }),
        (err: unknown) => ({ err }),
      );
    }
    this.o.logger.info({ terminalId, ...info, version: outcome.ended?.version }, 'terminal ended (recorded late)');
    audit(this.o.logger, 'terminal_ended', { terminalId, userId: outcome.ended?.userId, reason: info.reason, exitCode: info.exitCode });
  }

  /** Tell every device a terminal has ended and drop all its attachments, everywhere. */
  async announceEnded(terminalId: string, exit: { exitCode: number | null; signal: number | null; reason: ExitReason }): Promise<void> {
    this.o.sink.toTerminal(terminalId, 'terminal:exit', { terminalId, ...exit });
    this.o.sink.dropTerminal(terminalId);
    this.o.sink.announceEnded(terminalId);
    this.forgetLocal(terminalId);
    const sockets = await this.o.registry.getSocketsForTerminal(terminalId);
    await Promise.all(sockets.map((s) => this.o.registry.removeSocket(terminalId, s)));
    await this.o.registry.setPrimarySocket(terminalId, null);
  }

  /**
   * This instance may have missed output broadcasts (its Redis subscriber reconnected):
   * tell its devices where each remote terminal's output stands, as an empty output at
   * the current end. A device that is behind sees the gap and re-syncs from the replay.
   */
  async resyncRemoteDevices(): Promise<void> {
    const remote = new Map<string, TerminalSessionRecord>();
    for (const terms of this.attachments.values()) {
      for (const [id, s] of terms) if (s.serverId !== this.o.serverId) remote.set(id, s);
    }
    await Promise.all(
      [...remote.values()].map(async (s) => {
        try {
          const replay = await this.o.owner.replay(s);
          this.o.sink.toTerminal(s.id, 'terminal:output', { terminalId: s.id, data: new Uint8Array(0), offset: replay.end });
        } catch (err) {
          this.o.logger.debug({ err, terminalId: s.id }, 'output re-sync skipped');
        }
      }),
    );
  }

  /** Forget this instance's attachments to a terminal that has ended. */
  forgetLocal(terminalId: string): void {
    for (const [socketId, terms] of this.attachments) {
      if (terms.delete(terminalId) && terms.size === 0) this.attachments.delete(socketId);
    }
    this.lastTouch.delete(terminalId);
    this.o.flow?.forget(terminalId);
  }

  // ---- internals ----

  private async owned(userId: string, terminalId: string): Promise<TerminalSessionRecord> {
    const session = await this.o.store.get(terminalId);
    // Another user's terminal is reported exactly like a missing one.
    if (!session || session.userId !== userId) throw notFound(terminalId);
    return session;
  }

  private async current(terminalId: string): Promise<TerminalSessionRecord> {
    const session = await this.o.store.get(terminalId);
    if (!session) throw new ServiceError('terminal_ended', `terminal ${terminalId} has ended`);
    return session;
  }

  private attached(socketId: string, terminalId: string): TerminalSessionRecord {
    const session = this.attachments.get(socketId)?.get(terminalId);
    if (!session) throw notAttached(terminalId);
    return session;
  }

  private local(socketId: string): Map<string, TerminalSessionRecord> {
    let terms = this.attachments.get(socketId);
    if (!terms) this.attachments.set(socketId, (terms = new Map()));
    return terms;
  }

  private deviceOf(caller: Caller, lastPingAt: number): DeviceInfo {
    return {
      socketId: caller.socketId,
      deviceId: caller.deviceId,
      deviceName: caller.deviceName,
      serverId: this.o.serverId,
      userId: caller.userId,
      connectedAt: caller.connectedAt,
      lastPingAt,
    };
  }

  private async undoAttach(socketId: string, terminalId: string): Promise<void> {
    this.o.sink.leave(socketId, terminalId);
    this.o.flow?.detach(terminalId, socketId);
    this.attachments.get(socketId)?.delete(terminalId);
    await this.o.registry.removeSocket(terminalId, socketId).catch((err: unknown) => {
      this.o.logger.warn({ err, terminalId, socketId }, 'could not undo a failed attach in the registry');
    });
  }

  private async detachSocket(socketId: string, terminalId: string): Promise<void> {
    this.o.sink.leave(socketId, terminalId);
    this.o.flow?.detach(terminalId, socketId);
    const terms = this.attachments.get(socketId);
    terms?.delete(terminalId);
    if (terms?.size === 0) this.attachments.delete(socketId);
    await this.o.registry.removeSocket(terminalId, socketId);
    await this.socketsLeft(terminalId, [socketId]);
  }

  /**
   * Devices left a terminal (detached, disconnected, or their instance died): hand primary
   * to the most recently active remaining device if needed, and tell everyone.
   */
  async socketsLeft(terminalId: string, socketIds: string[]): Promise<void> {
    const session = await this.o.store.get(terminalId);
    if (!session) return;
    if (session.primarySocketId && socketIds.includes(session.primarySocketId)) {
      await this.changePrimary(terminalId, (s) =>
        s.primarySocketId && !socketIds.includes(s.primarySocketId) ? undefined : this.mostRecentDevice(terminalId),
      );
    }
    await this.broadcastDevices(terminalId);
  }

  private async mostRecentDevice(terminalId: string): Promise<string | null> {
    const devices = await this.o.registry.getDevicesForTerminal(terminalId);
    devices.sort((a, b) => b.lastPingAt - a.lastPingAt);
    return devices[0]?.socketId ?? null;
  }

  /** The first device to attach becomes primary; also repairs a primary that left. */
  private async ensurePrimary(terminalId: string): Promise<TerminalSessionRecord | null> {
    const session = await this.current(terminalId);
    const sockets = new Set(await this.o.registry.getSocketsForTerminal(terminalId));
    if (session.primarySocketId && sockets.has(session.primarySocketId)) return session;
    const after = await this.changePrimary(terminalId, async (s) => {
      const attached = await this.o.registry.getSocketsForTerminal(terminalId);
      if (s.primarySocketId && attached.includes(s.primarySocketId)) return undefined;
      return this.mostRecentDevice(terminalId);
    });
    return after ?? (await this.current(terminalId));
  }

  /**
   * Change the primary socket under the primary lock. `choose` sees the current session
   * and returns the new primary, or undefined for "leave it". Returns the new record, or
   * null when nothing changed.
   */
  private async changePrimary(
    terminalId: string,
    choose: (s: TerminalSessionRecord) => string | null | undefined | Promise<string | null | undefined>,
  ): Promise<TerminalSessionRecord | null> {
    return this.o.locks.withLock(
      'primary',
      terminalId,
      async () => {
        let changed = false;
        const updated = await this.versioned(terminalId, async (s) => {
          const next = await choose(s);
          changed = next !== undefined && next !== s.primarySocketId;
          return changed ? { primarySocketId: next ?? null } : null;
        });
        if (!changed) return null;
        await this.publishPrimary(updated.after);
        return updated.after;
      },
      this.lockOptions(),
    );
  }

  /**
   * Read-modify-write with the database's version check, retried when another device
   * or instance changed the session in between. `patch` returns null for "no change".
   */
  private async versioned(
    terminalId: string,
    patch: (s: TerminalSessionRecord) => SessionPatch | null | Promise<SessionPatch | null>,
  ): Promise<{ before: TerminalSessionRecord; after: TerminalSessionRecord }> {
    for (let attempt = 0; ; attempt++) {
      const before = await this.current(terminalId);
      const p = await patch(before);
      if (!p) return { before, after: before };
      try {
        const after = await this.o.store.update(terminalId, before.version, p);
        return { before, after };
      } catch (err) {
        if (!(err instanceof VersionConflictError) || attempt >= MAX_VERSION_RETRIES) throw err;
      }
    }
  }

  private async publishPrimary(session: TerminalSessionRecord): Promise<void> {
    const socketId = session.primarySocketId;
    await this.o.registry.setPrimarySocket(session.id, socketId);
    const device = socketId ? (await this.o.registry.getDevicesForTerminal(session.id)).find((d) => d.socketId === socketId) : undefined;
    this.o.sink.toTerminal(session.id, 'terminal:primary', {
      terminalId: session.id,
      socketId,
      deviceId: device?.deviceId ?? null,
      version: session.version,
    });
  }

  private async broadcastDevices(terminalId: string): Promise<DeviceSummary[]> {
    const [devices, primary] = await Promise.all([
      this.o.registry.getDevicesForTerminal(terminalId),
      this.o.registry.getPrimarySocket(terminalId),
    ]);
    const summaries = devices.map((d) => toDeviceSummary(d, primary));
    this.o.sink.toTerminal(terminalId, 'terminal:devices', { terminalId, devices: summaries });
    return summaries;
  }

  private noteActivity(socketId: string, terminalId: string): void {
    const now = Date.now();
    if (now - (this.lastPing.get(socketId) ?? 0) >= PING_INTERVAL_MS) {
      this.lastPing.set(socketId, now);
      this.o.registry.updatePing(socketId, now).catch((err: unknown) => this.o.logger.debug({ err }, 'updatePing failed'));
    }
    if (now - (this.lastTouch.get(terminalId) ?? 0) >= TOUCH_INTERVAL_MS) {
      this.lastTouch.set(terminalId, now);
      this.o.store.touch(terminalId, new Date(now)).catch((err: unknown) => this.o.logger.debug({ err }, 'touch failed'));
    }
  }

  private lockOptions() {
    return { ttlMs: this.o.lockTtlMs, timeoutMs: this.o.lockWaitMs };
  }

  private async serialize<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.creating.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.creating.set(key, run);
    try {
      return await run;
    } finally {
      if (this.creating.get(key) === run) this.creating.delete(key);
    }
  }
}

/** "Terminal N" with the smallest N no running terminal of the user is called. */
function firstFreeTitle(taken: string[]): string {
  const used = new Set(taken);
  let n = 1;
  while (used.has(`Terminal ${n}`)) n++;
  return `Terminal ${n}`;
}

export function toDeviceSummary(d: DeviceInfo, primary: string | null): DeviceSummary {
  return {
    socketId: d.socketId,
    deviceId: d.deviceId,
    deviceName: d.deviceName,
    serverId: d.serverId,
    connectedAt: new Date(d.connectedAt).toISOString(),
    lastPingAt: new Date(d.lastPingAt).toISOString(),
    primary: d.socketId === primary,
  };
}
