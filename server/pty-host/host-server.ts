// The pty host's listener: one web server (role `server`) at a time, plus short-lived
// `control` clients (`npm run host:stop`). Output goes to the attached web server as
// OUTPUT frames; while none is attached it is only kept in the replay buffers, and exits
// are remembered so the next web server records them.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import { encodeFrame, FrameDecoder, FrameType, type Frame } from '../pty-protocol/frames.js';
import { PTY_PROTOCOL_VERSION, toHostSchema, type FromHost, type HostExit, type ToHost } from '../pty-protocol/messages.js';
import { InputQueueFullError } from './input-queue.js';
import { AccountRefused, launchAsAccount } from './os-account.js';
import { PtyTable } from './pty-table.js';

export interface HostServerOptions {
  socketPath: string;
  serverId: string;
  /** The host's own environment: only its allowlisted variables reach a shell. */
  hostEnv: NodeJS.ProcessEnv;
  /** account: every shell runs as the OS account named in its spawn request (the host is root). */
  userMode: 'shared' | 'account';
  /**
   * Account mode: the web server's group (SERVICE_USER's). The socket's folder and the
   * socket stay root's, but this group may reach and connect to it; nobody else may.
   */
  socketGroup?: number;
  replayChars: number;
  killGraceMs: number;
  /** With no terminal and no web server attached for this long, the host exits. */
  idleExitMs: number;
  logger: Logger;
  /** Called once the host has stopped (by `stop`, a signal, or idling). */
  onStopped: () => void;
}

/** Output queued to the web server beyond this pauses every pty until it drains. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/** Input waiting for one pty to take it, at most (a paste into a program that does not read). */
const MAX_QUEUED_INPUT_BYTES = 512 * 1024;
/** Exits remembered while no web server is attached. */
const MAX_REMEMBERED_EXITS = 10_000;
/** A client must say hello this soon after connecting. */
const HELLO_TIMEOUT_MS = 5000;

export class PtyHostServer {
  private readonly table: PtyTable;
  private readonly listener = net.createServer((socket) => this.accept(socket));
  private attached: net.Socket | null = null;
  private exitedWhileDetached: HostExit[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<HostExit[]> | null = null;
  /** Collects exits while stopping, for the `stop` answer. */
  private onEndedDuringStop: ((e: HostExit) => void) | null = null;

  constructor(private readonly o: HostServerOptions) {
    this.table = new PtyTable({
      hostEnv: o.hostEnv,
      replayChars: o.replayChars,
      maxQueuedInputBytes: MAX_QUEUED_INPUT_BYTES,
      killGraceMs: o.killGraceMs,
      onOutput: (id, offset, data) => this.sendOutput(id, offset, data),
      onFlowPaused: (id, paused) => this.attached && this.reply(this.attached, 0, { t: 'flow', id, paused }),
      onExit: (exit) => this.onExit(exit),
      onReapError: (id, err) => o.logger.error({ err, terminalId: id }, 'ending what was left of a session failed'),
      onTtyError: (id, err) => o.logger.warn({ err, terminalId: id }, 'could not hand the terminal device to the shell\'s account'),
    });
  }

  /** Listen on the socket, in a directory only this user can open. */
  async listen(): Promise<void> {
    const dir = path.dirname(this.o.socketPath);
    const group = this.o.socketGroup;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (group !== undefined) {
      // Root is about to chown and chmod it: never through a link, never someone else's folder.
      const stat = fs.lstatSync(dir);
      if (!stat.isDirectory() || stat.uid !== 0) throw new Error(`${dir}: the pty host's socket folder must be a directory owned by root`);
      fs.chownSync(dir, 0, group);
    }
    fs.chmodSync(dir, group !== undefined ? 0o710 : 0o700);
    fs.rmSync(this.o.socketPath, { force: true }); // stale: the caller checked no host answers
    await new Promise<void>((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(this.o.socketPath, () => {
        this.listener.off('error', reject);
        resolve();
      });
    });
    if (group !== undefined) fs.chownSync(this.o.socketPath, 0, group);
    fs.chmodSync(this.o.socketPath, group !== undefined ? 0o660 : 0o600);
    this.scheduleIdleExit();
  }

  /** End every terminal, close the socket; resolves with the exits. Idempotent. */
  stop(): Promise<HostExit[]> {
    return (this.stopping ??= (async () => {
      this.o.logger.info({ terminals: this.table.size }, 'pty host stopping; ending every terminal');
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.listener.close();
      const ended: HostExit[] = [];
      this.onEndedDuringStop = (e) => ended.push(e);
      await this.table.endAll();
      fs.rmSync(this.o.socketPath, { force: true });
      return ended;
    })());
  }

  private accept(socket: net.Socket): void {
    const decoder = new FrameDecoder();
    let role: 'server' | 'control' | null = null;
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk, (frame) => {
          if (role === null) {
            clearTimeout(helloTimer);
            role = this.hello(socket, frame);
            if (role === null) socket.end();
            return;
          }
          this.onFrame(socket, role, frame);
        });
      } catch (err) {
        this.o.logger.warn({ err }, 'malformed stream from a pty host client; closing it');
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.o.logger.debug({ err }, 'pty host client socket error'));
    socket.on('close', () => {
      clearTimeout(helloTimer);
      if (socket !== this.attached) return;
      this.attached = null;
      this.table.setPaused(false);
      this.table.clearFlowLimits();
      this.o.logger.info({ terminals: this.table.size }, 'web server detached; terminals keep running');
      this.scheduleIdleExit();
    });
    socket.on('drain', () => {
      if (socket === this.attached) this.table.setPaused(false);
    });
  }

  /** Checks the greeting; returns the client's role, or null (refused, told why). */
  private hello(socket: net.Socket, frame: Frame): 'server' | 'control' | null {
    const msg = frame.type === FrameType.Control ? this.parse(frame) : null;
    const seq = frame.seq;
    if (!msg || msg.t !== 'hello') {
      this.reply(socket, seq, { t: 'refused', message: 'expected a hello' });
      return null;
    }
    if (msg.version !== PTY_PROTOCOL_VERSION) {
      this.reply(socket, seq, {
        t: 'refused',
        message:
          `this pty host speaks protocol version ${PTY_PROTOCOL_VERSION}, the client version ${msg.version}: ` +
          'it was started by another ptyhub version. Stop it with `npm run host:stop` (this ends its terminals), then start ptyhub again.',
      });
      return null;
    }
    if (msg.serverId !== this.o.serverId) {
      this.reply(socket, seq, { t: 'refused', message: `this pty host belongs to SERVER_ID ${this.o.serverId}, not ${msg.serverId}` });
      return null;
    }
    if (msg.role === 'control') {
      this.reply(socket, seq, { t: 'ok' });
      return 'control';
    }
    if (this.attached) {
      this.reply(socket, seq, { t: 'refused', message: 'another web server is attached to this pty host (same SERVER_ID running twice?)' });
      return null;
    }
    this.attached = socket;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const exited = this.exitedWhileDetached;
    this.exitedWhileDetached = [];
    this.reply(socket, seq, { t: 'welcome', version: PTY_PROTOCOL_VERSION, hostPid: process.pid, terminals: this.table.list(), exited });
    this.o.logger.info({ terminals: this.table.size, exitedWhileDetached: exited.length }, 'web server attached');
    return 'server';
  }

  private onFrame(socket: net.Socket, role: 'server' | 'control', frame: Frame): void {
    if (frame.type === FrameType.Input && role === 'server') {
      // Answered once the pty has taken all of it (seq 0: nobody waits for an answer).
      this.table.write(frame.terminalId, Buffer.from(frame.payload)).then(
        () => frame.seq && this.reply(socket, frame.seq, { t: 'ok' }),
        (err: Error) =>
          frame.seq && this.reply(socket, frame.seq, err instanceof InputQueueFullError ? { t: 'busy', message: err.message } : { t: 'error', message: err.message }),
      );
      return;
    }
    const msg = frame.type === FrameType.Control ? this.parse(frame) : null;
    if (!msg) {
      this.reply(socket, frame.seq, { t: 'error', message: 'bad request' });
      return;
    }
    if (msg.t === 'stop') {
      void this.stop().then((ended) => {
        this.reply(socket, frame.seq, { t: 'stopped', ended, serverAttached: this.attached !== null && !this.attached.destroyed });
        socket.end(() => this.o.onStopped());
      });
      return;
    }
    if (role !== 'server') {
      this.reply(socket, frame.seq, { t: 'error', message: `${msg.t} needs the web server role` });
      return;
    }
    try {
      this.apply(socket, frame.seq, msg);
    } catch (err) {
      this.reply(socket, frame.seq, { t: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }

  private apply(socket: net.Socket, seq: number, msg: ToHost): void {
    switch (msg.t) {
      case 'spawn':
        if (this.stopping) throw new Error('the pty host is stopping');
        if (this.idleTimer) clearTimeout(this.idleTimer);
        if (this.o.userMode === 'account' || msg.osUser !== undefined) return void this.spawnAsAccount(socket, seq, msg);
        this.table.spawn(msg);
        return this.reply(socket, seq, { t: 'ok' });
      case 'resize':
        this.table.resize(msg.id, msg.cols, msg.rows);
        return this.reply(socket, seq, { t: 'ok' });
      case 'kill':
        this.table.kill(msg.id, msg.signal);
        return this.reply(socket, seq, { t: 'ok' });
      case 'flow':
        return this.table.setFlowLimit(msg.id, msg.limit); // not answered: sent often
      case 'replay': {
        const replay = this.table.replay(msg.id);
        if (!replay) return this.reply(socket, seq, { t: 'error', message: `terminal ${msg.id} has ended` });
        socket.write(encodeFrame(FrameType.Replay, msg.id, seq, replay.start, replay.data));
        return;
      }
      case 'status': {
        const status = this.table.status(msg.id);
        if (!status) return this.reply(socket, seq, { t: 'error', message: `terminal ${msg.id} has ended` });
        return this.reply(socket, seq, { t: 'status', ...status });
      }
      default:
        return this.reply(socket, seq, { t: 'error', message: `unexpected ${msg.t}` });
    }
  }

  /** Account mode: the shell runs as the request's OS account, never as root or the host's own user. */
  private async spawnAsAccount(socket: net.Socket, seq: number, msg: Extract<ToHost, { t: 'spawn' }>): Promise<void> {
    try {
      if (this.o.userMode !== 'account') throw new AccountRefused('this pty host runs in TERMINAL_USER_MODE=shared: it starts no shell as another OS account');
      if (!msg.osUser) throw new AccountRefused('TERMINAL_USER_MODE=account: a shell needs an OS account');
      const launch = await launchAsAccount(msg.osUser);
      if (this.stopping) throw new Error('the pty host is stopping');
      this.table.spawn({ ...msg, launch });
      this.reply(socket, seq, { t: 'ok' });
    } catch (err) {
      this.o.logger.warn({ err, terminalId: msg.id, osUser: msg.osUser }, 'shell not started');
      this.reply(socket, seq, { t: 'error', message: err instanceof Error ? err.message : String(err) });
    }
    this.scheduleIdleExit();
  }

  private sendOutput(id: string, offset: number, data: Buffer): void {
    const socket = this.attached;
    if (!socket) return; // kept in the replay for the next web server
    const flushed = socket.write(encodeFrame(FrameType.Output, id, 0, offset, data));
    // Never buffer without bound: stop reading the ptys until the web server catches up.
    if (!flushed && socket.writableLength > MAX_QUEUED_BYTES) this.table.setPaused(true);
  }

  private onExit(exit: HostExit): void {
    this.onEndedDuringStop?.(exit);
    if (this.attached) this.reply(this.attached, 0, { t: 'exit', ...exit, shutdown: this.stopping !== null });
    else if (this.exitedWhileDetached.push(exit) > MAX_REMEMBERED_EXITS) this.exitedWhileDetached.shift();
    this.scheduleIdleExit();
  }

  private scheduleIdleExit(): void {
    if (this.attached || this.table.size > 0 || this.stopping) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.attached || this.table.size > 0) return;
      this.o.logger.info({ idleExitMs: this.o.idleExitMs }, 'no terminal and no web server: pty host exiting');
      void this.stop().then(() => this.o.onStopped());
    }, this.o.idleExitMs);
  }

  private parse(frame: Frame): ToHost | null {
    try {
      const parsed = toHostSchema.safeParse(JSON.parse(frame.payload.toString('utf8')));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  private reply(socket: net.Socket, seq: number, msg: FromHost): void {
    if (!socket.writable) return;
    socket.write(encodeFrame(FrameType.Control, '', seq, 0, JSON.stringify(msg)));
  }
}
