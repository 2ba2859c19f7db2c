// The ptys this instance owns. Applies PtyOps for local terminals and reports exits.
import path from 'node:path';
import type { Replay, TerminalStatus } from '../../common/protocol.js';
import type { TerminalSessionRecord } from '../sessions/types.js';
import { ServiceError } from './errors.js';
import type { EventSink } from './ports.js';
import { PtyProcess, type PtyExit, type PtyOptions } from './pty-process.js';

export type EndReason = 'exited' | 'closed' | 'idle' | 'shutdown' | 'owner_lost';

export interface LocalPtysOptions {
  sink: EventSink;
  env: NodeJS.ProcessEnv;
  replayChars: number;
  /** Called once per pty, after it exited, with why it ended. */
  onEnded: (terminalId: string, exit: PtyExit, reason: EndReason) => Promise<void>;
  /** How long a pty may take to exit after SIGHUP before it is sent SIGKILL. */
  killGraceMs?: number;
}

interface Entry {
  pty: PtyProcess;
  shell: string;
  /** Set when we asked it to end, so the exit is reported with our reason. */
  reason: EndReason | null;
  ended: Promise<void>;
}

export class LocalPtys {
  private readonly ptys = new Map<string, Entry>();

  constructor(private readonly opts: LocalPtysOptions) {}

  spawn(session: Pick<TerminalSessionRecord, 'id' | 'shell' | 'cwd' | 'cols' | 'rows'>): void {
    const { sink } = this.opts;
    const id = session.id;
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => (resolveEnded = r));
    const ptyOpts: PtyOptions = {
      shell: session.shell,
      cwd: session.cwd,
      cols: session.cols,
      rows: session.rows,
      env: this.opts.env,
      replayChars: this.opts.replayChars,
    };
    const pty = new PtyProcess(
      ptyOpts,
      (data, offset) => sink.toTerminal(id, 'terminal:output', { terminalId: id, data, offset }),
      (exit) => {
        const entry = this.ptys.get(id);
        this.ptys.delete(id);
        void this.opts.onEnded(id, exit, entry?.reason ?? 'exited').finally(resolveEnded);
      },
    );
    this.ptys.set(id, { pty, shell: session.shell, reason: null, ended });
  }

  has(terminalId: string): boolean {
    return this.ptys.has(terminalId);
  }

  ids(): string[] {
    return [...this.ptys.keys()];
  }

  get size(): number {
    return this.ptys.size;
  }

  input(terminalId: string, data: string): void {
    this.get(terminalId).pty.write(data);
  }

  resize(terminalId: string, cols: number, rows: number): void {
    this.get(terminalId).pty.resize(cols, rows);
  }

  replay(terminalId: string): Replay {
    return this.get(terminalId).pty.snapshot();
  }

  status(terminalId: string): TerminalStatus {
    const entry = this.get(terminalId);
    const foreground = entry.pty.foreground();
    return { foreground, shellIdle: foreground === null || foreground === path.basename(entry.shell) };
  }

  /** Kill the pty and wait until its end is recorded (SIGKILL after the grace time). */
  async end(terminalId: string, reason: EndReason): Promise<void> {
    const entry = this.ptys.get(terminalId);
    if (!entry) return;
    entry.reason ??= reason;
    entry.pty.kill('SIGHUP');
    const grace = setTimeout(() => entry.pty.kill('SIGKILL'), this.opts.killGraceMs ?? 2000);
    try {
      await entry.ended;
    } finally {
      clearTimeout(grace);
    }
  }

  async endAll(reason: EndReason): Promise<void> {
    await Promise.all(this.ids().map((id) => this.end(id, reason)));
  }

  private get(terminalId: string): Entry {
    const entry = this.ptys.get(terminalId);
    if (!entry) throw new ServiceError('terminal_ended', `terminal ${terminalId} has ended`);
    return entry;
  }
}
