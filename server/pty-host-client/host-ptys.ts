// The web server's view of its pty host: the ptys of this instance, reached over the
// host's socket. Mirrors which terminals the host runs, turns exits into ends (with the
// reason this side asked for), and survives the host: if it dies, every terminal it ran
// ends as host_lost and a fresh host is started for new terminals.
import type { ExitReason, Replay, TerminalStatus } from '../../common/protocol.js';
import type { Logger } from '../log/logger.js';
import type { HostPaths } from '../pty-protocol/host-paths.js';
import type { HostExit } from '../pty-protocol/messages.js';
import { backoffDelay } from '../redis/backoff.js';
import type { TerminalSessionRecord } from '../sessions/types.js';
import { ServiceError } from '../terminals/errors.js';
import type { InstancePtys, PtyExit } from '../terminals/ports.js';
import { HostBusyError, HostConnection } from './host-connection.js';
import { connectOrStartHost } from './launcher.js';

export interface HostPtysOptions {
  paths: HostPaths;
  serverId: string;
  logger: Logger;
  /** Bound on every request to the host, and on starting one. */
  timeoutMs: number;
  /** Start a host when none answers (false: a supervisor runs it). */
  startHost: boolean;
  /** How long a pty may take to exit after SIGHUP before it is sent SIGKILL. */
  killGraceMs?: number;
  onOutput: (terminalId: string, offset: number, data: Buffer) => void;
  /** Called once per pty, after it exited, with why it ended. */
  onEnded: (terminalId: string, exit: PtyExit, reason: ExitReason) => Promise<void>;
}

/** Input sent to the host for one terminal and not yet taken by its pty, at most (UTF-8 bytes). */
const MAX_INPUT_IN_FLIGHT_BYTES = 512 * 1024;

interface Entry {
  /** Set when this side asked it to end, so the exit is reported with that reason. */
  reason: ExitReason | null;
  /** Input bytes sent to the host and not yet taken. */
  inputInFlight: number;
  /** Flow control: the host stopped reading the pty (it said so). */
  flowPaused: boolean;
  ended: Promise<void>;
  resolveEnded: () => void;
}

export class HostPtys implements InstancePtys {
  private conn: HostConnection | null = null;
  private readonly entries = new Map<string, Entry>();
  private detaching = false;
  private relaunchTimer: NodeJS.Timeout | null = null;
  private relaunches = 0;
  private hostPid: number | null = null;

  constructor(private readonly o: HostPtysOptions) {}

  /**
   * Connect to the running host (or start one) and adopt its terminals. Returns the
   * terminals that exited while no web server was attached.
   */
  async start(): Promise<HostExit[]> {
    const { socket, started } = await connectOrStartHost(this.o.paths, { startTimeoutMs: this.o.timeoutMs, start: this.o.startHost });
    const { conn, welcome } = await HostConnection.open(socket, 'server', this.o.serverId, this.o.timeoutMs);
    for (const t of welcome!.terminals) this.track(t.id);
    conn.listen({
      onOutput: (id, offset, data) => this.o.onOutput(id, offset, data),
      onExit: (exit, shutdown) => this.onExit(exit, shutdown),
      onFlowPaused: (id, paused) => {
        const entry = this.entries.get(id);
        if (entry) entry.flowPaused = paused;
      },
      onClose: () => this.onClose(conn),
    });
    this.conn = conn;
    this.hostPid = welcome!.hostPid;
    this.o.logger.info(
      { hostPid: welcome!.hostPid, started, adopted: welcome!.terminals.length, exitedWhileAway: welcome!.exited.length },
      started ? 'pty host started' : 'pty host found; terminals adopted',
    );
    return welcome!.exited;
  }

  /** For /healthz: without a host, no terminal can start here. */
  health(): { connected: boolean; pid: number | null; terminals: number; flowPaused: number } {
    const connected = this.conn?.isOpen ?? false;
    let flowPaused = 0;
    for (const e of this.entries.values()) if (e.flowPaused) flowPaused++;
    return { connected, pid: connected ? this.hostPid : null, terminals: this.entries.size, flowPaused };
  }

  /** Leave the host and its terminals running (a planned restart of the web server). */
  detach(): void {
    this.detaching = true;
    if (this.relaunchTimer) clearTimeout(this.relaunchTimer);
    this.conn?.close();
  }

  async spawn(session: Pick<TerminalSessionRecord, 'id' | 'shell' | 'cwd' | 'cols' | 'rows'>, osUser?: string): Promise<void> {
    const conn = this.connection();
    await conn.call({ t: 'spawn', id: session.id, shell: session.shell, cwd: session.cwd, cols: session.cols, rows: session.rows, osUser });
    this.track(session.id);
  }

  has(terminalId: string): boolean {
    return this.entries.has(terminalId);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.entries.size;
  }

  async input(terminalId: string, data: string): Promise<void> {
    const entry = this.get(terminalId);
    const conn = this.connection();
    const bytes = Buffer.byteLength(data, 'utf8');
    if (entry.inputInFlight + bytes > MAX_INPUT_IN_FLIGHT_BYTES) throw inputBusy(`the terminal is not reading its input (${Math.round(entry.inputInFlight / 1024)} KiB already waiting)`);
    entry.inputInFlight += bytes;
    try {
      await conn.input(terminalId, data);
    } catch (err) {
      if (err instanceof HostBusyError) throw inputBusy(err.message);
      // Anything else means the pty is gone (exited, or the host went away): not taken.
      throw ended(terminalId);
    } finally {
      entry.inputInFlight -= bytes;
    }
  }

  setFlowLimit(terminalId: string, limit: number | null): void {
    if (this.entries.has(terminalId)) this.conn?.tell({ t: 'flow', id: terminalId, limit });
  }

  resize(terminalId: string, cols: number, rows: number): void {
    this.get(terminalId);
    this.connection()
      .call({ t: 'resize', id: terminalId, cols, rows })
      .catch((err: unknown) => this.o.logger.warn({ err, terminalId }, 'pty host did not resize'));
  }

  async replay(terminalId: string): Promise<Replay> {
    this.get(terminalId);
    const replay = await this.connection().replay(terminalId);
    if (!replay) throw ended(terminalId);
    return replay;
  }

  async status(terminalId: string): Promise<TerminalStatus> {
    this.get(terminalId);
    const status = await this.connection().status(terminalId);
    if (!status) throw ended(terminalId);
    return status;
  }

  async end(terminalId: string, reason: ExitReason): Promise<void> {
    const entry = this.entries.get(terminalId);
    if (!entry) return;
    entry.reason ??= reason;
    const kill = (signal: 'SIGHUP' | 'SIGKILL') =>
      this.conn?.call({ t: 'kill', id: terminalId, signal }).catch((err: unknown) => this.o.logger.warn({ err, terminalId }, 'kill failed'));
    void kill('SIGHUP');
    const grace = setTimeout(() => void kill('SIGKILL'), this.o.killGraceMs ?? 2000);
    try {
      await entry.ended;
    } finally {
      clearTimeout(grace);
    }
  }

  private track(id: string): void {
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    this.entries.set(id, { reason: null, inputInFlight: 0, flowPaused: false, ended, resolveEnded });
  }

  private finish(id: string, exit: PtyExit, fallback: ExitReason): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    void this.o.onEnded(id, exit, entry.reason ?? fallback).finally(entry.resolveEnded);
  }

  private onExit(exit: HostExit, shutdown: boolean): void {
    this.finish(exit.id, { exitCode: exit.exitCode, signal: exit.signal }, shutdown ? 'shutdown' : 'exited');
  }

  private onClose(conn: HostConnection): void {
    if (conn !== this.conn) return;
    this.conn = null;
    if (this.detaching) return;
    // The host died (crash, kill -9, host:stop): its shells died with it.
    this.o.logger.error({ terminals: this.entries.size }, 'the pty host is gone; its terminals have ended');
    for (const id of this.ids()) this.finish(id, { exitCode: null, signal: null }, 'host_lost');
    this.scheduleRelaunch();
  }

  /** A fresh host for new terminals, retried with backoff until it answers. */
  private scheduleRelaunch(): void {
    if (this.detaching || this.relaunchTimer) return;
    const delay = this.relaunches === 0 ? 0 : backoffDelay(this.relaunches, { baseMs: 100, maxMs: 5000 });
    this.relaunchTimer = setTimeout(() => {
      this.relaunchTimer = null;
      this.relaunches++;
      this.start().then(
        (exited) => {
          this.relaunches = 0;
          // A host we had already given up on still has terminals: they were recorded as ended.
          for (const id of this.ids()) {
            this.entries.get(id)!.reason = 'host_lost';
            void this.end(id, 'host_lost');
          }
          if (exited.length) this.o.logger.warn({ exited: exited.length }, 'exits reported by a re-found pty host ignored');
        },
        (err: unknown) => {
          this.o.logger.error({ err }, 'could not start a new pty host; retrying');
          this.scheduleRelaunch();
        },
      );
    }, delay);
    this.relaunchTimer.unref();
  }

  private connection(): HostConnection {
    if (!this.conn?.isOpen) throw new ServiceError('unavailable', "this instance's pty host is restarting; try again");
    return this.conn;
  }

  private get(terminalId: string): Entry {
    const entry = this.entries.get(terminalId);
    if (!entry) throw ended(terminalId);
    return entry;
  }
}

const ended = (terminalId: string) => new ServiceError('terminal_ended', `terminal ${terminalId} has ended`);
const inputBusy = (why: string) => new ServiceError('busy', `${why}; send it again later`);
