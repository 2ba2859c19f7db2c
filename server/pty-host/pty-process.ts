// One running shell in the pty host: the pty, its replay buffer, and output batching.
import path from 'node:path';
import { spawn, type IPty } from 'node-pty';
import type { Replay } from '../../common/protocol.js';
import { ReplayBuffer } from '../terminals/replay-buffer.js';
import { InputQueue } from './input-queue.js';

export interface PtyOptions {
  shell: string;
  cwd: string;
  cols: number;
  rows: number;
  /** The shell's whole environment (see shell-env.ts). */
  env: Record<string, string>;
  replayChars: number;
  /** Input accepted and not yet taken by the pty, at most (bytes). */
  maxQueuedInputBytes: number;
}

export interface PtyExit {
  exitCode: number | null;
  signal: number | null;
}

/** Largest batch of output sent as one event. */
const MAX_BATCH_CHARS = 64 * 1024;
/** Output arriving this soon after the last send is a stream, not an echo... */
const STREAM_GAP_MS = 2;
/** ...and waits this long to travel with what follows. */
const STREAM_BATCH_MS = 4;

export class PtyProcess {
  private readonly pty: IPty;
  private readonly replay: ReplayBuffer;
  private readonly input: InputQueue;
  private pending: string[] = [];
  private pendingChars = 0;
  private flushScheduled = false;
  private lastFlushAt = 0;
  private exited: PtyExit | null = null;

  constructor(
    opts: PtyOptions,
    private readonly onOutput: (data: string, offset: number) => void,
    private readonly onExit: (exit: PtyExit) => void,
  ) {
    this.replay = new ReplayBuffer(opts.replayChars);
    this.pty = spawn(opts.shell, [], {
      name: 'xterm-256color',
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: opts.env,
    });
    // node-pty's UnixTerminal has the master fd (not in its typings).
    this.input = new InputQueue((this.pty as unknown as { fd: number }).fd, opts.maxQueuedInputBytes);
    this.pty.onData((data) => this.collect(data));
    this.pty.onExit(({ exitCode, signal }) => {
      this.input.close(new Error('the terminal has ended'));
      this.flush();
      this.exited = { exitCode: exitCode ?? null, signal: signal || null };
      this.onExit(this.exited);
    });
  }

  /** Name of the pty's foreground process (node-pty reads it from the OS), or null. */
  foreground(): string | null {
    if (this.exited) return null;
    try {
      // The shell shows as the path it was started with ("/bin/bash"), programs by name.
      return path.basename(this.pty.process) || null;
    } catch {
      return null;
    }
  }

  get pid(): number {
    return this.pty.pid;
  }

  get hasExited(): boolean {
    return this.exited !== null;
  }

  /** Resolves once the pty has taken all of it; rejects (taking none) when too much waits already. */
  write(data: Buffer): Promise<void> {
    return this.input.push(data);
  }

  resize(cols: number, rows: number): void {
    if (!this.exited) this.pty.resize(cols, rows);
  }

  /** Everything output so far that is still buffered, including unflushed output. */
  snapshot(): Replay {
    this.flush();
    return this.replay.snapshot();
  }

  /** Stop reading (the web server is not keeping up); the shell blocks on a full pty. */
  pause(): void {
    if (!this.exited) this.pty.pause();
  }

  resume(): void {
    if (!this.exited) this.pty.resume();
  }

  /** Offset just past the newest output, including unflushed output. */
  get end(): number {
    return this.replay.end + this.pendingChars;
  }

  kill(signal = 'SIGHUP'): void {
    if (this.exited) return;
    try {
      this.pty.kill(signal);
    } catch {
      // already gone: onExit follows
    }
  }

  // Fewer, larger messages are much cheaper (each one is a socket.io packet and, with
  // several instances, a Redis publish), but an echo must not wait. So: output after a
  // quiet spell goes out at the end of this event-loop turn; output that keeps coming
  // (a stream: the last send was moments ago) waits a few ms to travel together.
  private collect(data: string): void {
    this.pending.push(data);
    this.pendingChars += data.length;
    if (this.pendingChars >= MAX_BATCH_CHARS) {
      this.flush();
    } else if (!this.flushScheduled) {
      this.flushScheduled = true;
      if (performance.now() - this.lastFlushAt < STREAM_GAP_MS) setTimeout(() => this.flush(), STREAM_BATCH_MS);
      else setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pendingChars === 0) return;
    this.lastFlushAt = performance.now();
    const data = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    const offset = this.replay.append(data);
    this.onOutput(data, offset);
  }
}
