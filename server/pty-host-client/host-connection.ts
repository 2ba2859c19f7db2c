// The web server's connection to its pty host: the version handshake, requests with
// bounded timeouts, keystrokes, and the host's output and exits.
import net from 'node:net';
import type { Replay, TerminalStatus } from '../../common/protocol.js';
import { encodeFrame, FrameDecoder, FrameType, type Frame } from '../pty-protocol/frames.js';
import { fromHostSchema, PTY_PROTOCOL_VERSION, type FromHost, type HostExit, type ToHost } from '../pty-protocol/messages.js';

export interface HostEvents {
  onOutput(terminalId: string, offset: number, data: Buffer): void;
  /** The host stopped (or resumed) reading a pty for flow control. */
  onFlowPaused(terminalId: string, paused: boolean): void;
  /** `shutdown`: ended because the host is stopping (`npm run host:stop`). */
  onExit(exit: HostExit, shutdown: boolean): void;
  /** The connection is gone (the host exited or crashed, or close() was called). */
  onClose(): void;
}

export type Welcome = Extract<FromHost, { t: 'welcome' }>;

/** Why a host could not be used; the message says what to do. */
export class HostRefusedError extends Error {}

/** The terminal's input queue in the host is full: none of this input was taken. */
export class HostBusyError extends Error {}

interface Pending {
  resolve: (frame: Frame) => void;
  reject: (err: Error) => void;
  /** Null for input: it waits for the program to read, which takes as long as it takes. */
  timer: NodeJS.Timeout | null;
}

/** Connects without starting anything; rejects with the socket error (ENOENT, ECONNREFUSED...). */
export function connectSocket(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => (socket.destroy(), reject(new Error(`pty host at ${socketPath} did not accept within ${timeoutMs} ms`))), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'EACCES') {
        // Account mode: the web server (SERVICE_USER) must be able to reach the root host's socket.
        err.message = `${err.message}: this OS user (uid ${process.getuid?.()}) may not connect to the pty host's socket; every folder above it must be searchable by this user`;
      }
      reject(err);
    });
  });
}

export class HostConnection {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private events: HostEvents | null = null;
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (f) => this.onFrame(f));
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      this.closed = true;
      for (const p of this.pending.values()) {
        if (p.timer) clearTimeout(p.timer);
        p.reject(new Error('the pty host connection closed'));
      }
      this.pending.clear();
      this.events?.onClose();
    });
  }

  /**
   * Say hello as `role`; resolves with the host's welcome (its terminals) or, for a
   * control client, an open connection. Throws HostRefusedError with the host's reason.
   */
  static async open(socket: net.Socket, role: 'server' | 'control', serverId: string, timeoutMs: number): Promise<{ conn: HostConnection; welcome: Welcome | null }> {
    const conn = new HostConnection(socket, timeoutMs);
    const answer = await conn.request({ t: 'hello', version: PTY_PROTOCOL_VERSION, role, serverId }, 0);
    if (answer.t === 'refused') {
      socket.destroy();
      throw new HostRefusedError(`the pty host refused this web server: ${answer.message}`);
    }
    if (role === 'control' && answer.t === 'ok') return { conn, welcome: null };
    if (answer.t !== 'welcome' || answer.version !== PTY_PROTOCOL_VERSION) {
      socket.destroy();
      throw new HostRefusedError(
        `the pty host answered with protocol version ${answer.t === 'welcome' ? answer.version : '?'}, this web server speaks ${PTY_PROTOCOL_VERSION}: ` +
          'stop the old host with `npm run host:stop` (this ends its terminals), then start again.',
      );
    }
    return { conn, welcome: answer };
  }

  listen(events: HostEvents): void {
    this.events = events;
    if (this.closed) events.onClose();
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Resolves once the pty has taken all of it. Rejects with HostBusyError (none of it
   * taken) when the terminal's input queue in the host is full. No deadline: the wait is
   * bounded by that queue, and ends when the terminal or the connection does.
   */
  input(terminalId: string, data: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the pty host connection is closed'));
    const seq = this.nextSeq();
    return new Promise<void>((resolve, reject) => {
      const answered = (frame: Frame) => {
        try {
          const answer = this.parse(frame);
          if (answer.t === 'ok') resolve();
          else reject(answer.t === 'busy' ? new HostBusyError(answer.message) : new Error(answer.t === 'error' ? answer.message : `unexpected ${answer.t}`));
        } catch (err) {
          reject(err as Error);
        }
      };
      this.pending.set(seq, { resolve: answered, reject, timer: null });
      this.socket.write(encodeFrame(FrameType.Input, terminalId, seq, 0, data));
    });
  }

  /** A control message that is not answered. */
  tell(msg: ToHost): void {
    if (!this.closed) this.send(0, msg);
  }

  /** A control request; resolves on `ok`, rejects on `error` or timeout. */
  async call(msg: ToHost, timeoutMs = this.timeoutMs): Promise<FromHost> {
    const answer = await this.request(msg, timeoutMs);
    if (answer.t === 'error') throw new Error(answer.message);
    return answer;
  }

  async replay(terminalId: string): Promise<Replay | null> {
    const frame = await this.requestFrame({ t: 'replay', id: terminalId }, this.timeoutMs);
    if (frame.type !== FrameType.Replay) return null; // an error: it has ended
    return { data: frame.payload, start: frame.offset, end: frame.offset + frame.payload.length };
  }

  /** The terminal's foreground process, or null when it has ended. */
  async status(terminalId: string): Promise<TerminalStatus | null> {
    const answer = await this.request({ t: 'status', id: terminalId }, this.timeoutMs);
    return answer.t === 'status' ? { foreground: answer.foreground, shellIdle: answer.shellIdle } : null;
  }

  close(): void {
    this.socket.end();
  }

  private async request(msg: ToHost, timeoutMs: number): Promise<FromHost> {
    const frame = await this.requestFrame(msg, timeoutMs || this.timeoutMs);
    return this.parse(frame);
  }

  private requestFrame(msg: ToHost, timeoutMs: number): Promise<Frame> {
    if (this.closed) return Promise.reject(new Error('the pty host connection is closed'));
    const seq = this.nextSeq();
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`the pty host did not answer ${msg.t} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, { resolve, reject, timer });
      this.send(seq, msg);
    });
  }

  private nextSeq(): number {
    // 0 is "no request": sequence numbers run 1..2^32-1.
    this.seq = (this.seq % 0xfffffffe) + 1;
    return this.seq;
  }

  private send(seq: number, msg: ToHost): void {
    this.socket.write(encodeFrame(FrameType.Control, '', seq, 0, JSON.stringify(msg)));
  }

  private onFrame(frame: Frame): void {
    if (frame.type === FrameType.Output) {
      this.events?.onOutput(frame.terminalId, frame.offset, frame.payload);
      return;
    }
    const pending = this.pending.get(frame.seq);
    if (pending) {
      this.pending.delete(frame.seq);
      if (pending.timer) clearTimeout(pending.timer);
      pending.resolve(frame);
      return;
    }
    if (frame.type !== FrameType.Control) return;
    const msg = this.parse(frame);
    if (msg.t === 'exit') this.events?.onExit({ id: msg.id, exitCode: msg.exitCode, signal: msg.signal }, msg.shutdown);
    else if (msg.t === 'flow') this.events?.onFlowPaused(msg.id, msg.paused);
  }

  private parse(frame: Frame): FromHost {
    const parsed = fromHostSchema.safeParse(JSON.parse(frame.payload.toString('utf8')));
    if (!parsed.success) throw new Error(`unexpected message from the pty host: ${parsed.error.message}`);
    return parsed.data;
  }
}
