// One running shell in the pty host: the pty, its replay buffer, and output batching
// (output-batcher.ts).
import path from 'node:path';
import { spawn, type IPty } from 'node-pty';
import type { Replay } from '../../common/protocol.js';
import { ReplayBuffer } from '../terminals/replay-buffer.js';
import { InputQueue } from './input-queue.js';
import { OutputBatcher } from './output-batcher.js';

export interface PtyOptions {
  /** The program started on the pty: the shell, or what starts it as another OS user. */
  shell: string;
  args?: string[];
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

export class PtyProcess {
  private readonly pty: IPty;
  private readonly replay: ReplayBuffer;
  private readonly batcher: OutputBatcher<Buffer>;
  private readonly input: InputQueue;
  private exited: PtyExit | null = null;

  constructor(
    opts: PtyOptions,
    private readonly onOutput: (data: Buffer, offset: number) => void,
    private readonly onExit: (exit: PtyExit) => void,
  ) {
    this.replay = new ReplayBuffer(opts.replayChars);
    this.batcher = new OutputBatcher<Buffer>(
      (chunks) => Buffer.concat(chunks),
      (data) => this.onOutput(data, this.replay.append(data)),
    );
    this.pty = spawn(opts.shell, opts.args ?? [], {
      name: 'xterm-256color',
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: opts.env,
      // Bytes, not text: offsets count bytes end to end, and a UTF-8 sequence split across
      // reads is left for the browser's decoder to join.
      encoding: null,
    });
    // node-pty's UnixTerminal has the master fd (not in its typings).
    this.input = new InputQueue((this.pty as unknown as { fd: number }).fd, opts.maxQueuedInputBytes);
    // With `encoding: null` node-pty hands over Buffers (its typings say string).
    this.pty.onData((data) => this.batcher.push(data as unknown as Buffer));
    this.pty.onExit(({ exitCode, signal }) => {
      this.input.close(new Error('the terminal has ended'));
      this.batcher.flush();
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

  /** The terminal device the shell sees (/dev/pts/N); node-pty has it, untyped. */
  get ptsName(): string | null {
    const name = (this.pty as unknown as { ptsName?: unknown }).ptsName;
    return typeof name === 'string' ? name : null;
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
    this.batcher.flush();
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
    return this.replay.end + this.batcher.pendingLength;
  }

  kill(signal = 'SIGHUP'): void {
    if (this.exited) return;
    try {
      this.pty.kill(signal);
    } catch {
      // already gone: onExit follows
    }
  }
}
