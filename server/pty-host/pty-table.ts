// Every pty of the host process: spawn, write, resize, replay, kill. Output leaves as
// (terminal id, offset, text); the host's connection decides how to frame it.
import path from 'node:path';
import type { Replay, TerminalStatus } from '../../common/protocol.js';
import type { HostExit, HostTerminal } from '../pty-protocol/messages.js';
import { PtyProcess } from './pty-process.js';
import { endSession } from './session-reaper.js';
import { handOverTerminal, type ShellLaunch } from './os-account.js';
import { hostAccount, shellEnvironment } from './shell-env.js';

export interface PtyTableOptions {
  /** The host's own environment: only its allowlisted variables reach a shell. */
  hostEnv: NodeJS.ProcessEnv;
  replayChars: number;
  /** Input waiting for one pty to take it, at most (bytes); more is refused. */
  maxQueuedInputBytes: number;
  /** How long a pty (and then what is left of its session) may take to exit after SIGHUP before SIGKILL. */
  killGraceMs: number;
  onOutput: (terminalId: string, offset: number, data: Buffer) => void;
  /** Flow control stopped (true) or resumed reading a pty. */
  onFlowPaused: (terminalId: string, paused: boolean) => void;
  onExit: (exit: HostExit) => void;
  /** Ending what was left of a session failed (reading /proc). */
  onReapError: (id: string, err: unknown) => void;
  /** Account mode: the terminal device could not be handed to the shell's account. */
  onTtyError?: (id: string, err: unknown) => void;
}

export interface SpawnRequest {
  id: string;
  shell: string;
  cwd: string;
  cols: number;
  rows: number;
  /** Account mode: the shell as the user's own OS account (replaces shell and cwd). */
  launch?: ShellLaunch;
}

interface Entry {
  pty: PtyProcess;
  shell: string;
  /** The shell has exited and nothing of its session is left. */
  exited: Promise<void>;
  /** Flow control: stop reading once the output reaches this offset (null: no limit). */
  flowLimit: number | null;
  /** Stopped at the limit. */
  flowPaused: boolean;
}

export class PtyTable {
  private readonly ptys = new Map<string, Entry>();
  private paused = false;

  constructor(private readonly o: PtyTableOptions) {}

  spawn(req: SpawnRequest): number {
    if (this.ptys.has(req.id)) throw new Error(`terminal ${req.id} already runs here`);
    let resolveExited!: () => void;
    const exited = new Promise<void>((r) => (resolveExited = r));
    const launch = req.launch ?? { file: req.shell, args: [], cwd: req.cwd, shell: req.shell, account: hostAccount(this.o.hostEnv, req.shell) };
    const pty = new PtyProcess(
      {
        shell: launch.file,
        args: launch.args,
        cwd: launch.cwd,
        cols: req.cols,
        rows: req.rows,
        env: shellEnvironment(this.o.hostEnv, launch.account),
        replayChars: this.o.replayChars,
        maxQueuedInputBytes: this.o.maxQueuedInputBytes,
      },
      (data, offset) => {
        this.o.onOutput(req.id, offset, data);
        this.checkLimit(req.id);
      },
      (exit) => {
        this.ptys.delete(req.id);
        this.o.onExit({ id: req.id, ...exit });
        // However the shell ended, what it started (`nohup`, `( ... & )`) ends with it.
        endSession(pid, this.o.killGraceMs)
          .catch((err: unknown) => this.o.onReapError(req.id, err))
          .finally(resolveExited);
      },
    );
    const pid = pty.pid;
    const pts = pty.ptsName;
    if (launch.ttyOwner !== undefined && pts) {
      handOverTerminal(pts, launch.ttyOwner).catch((err: unknown) => this.o.onTtyError?.(req.id, err));
    }
    if (this.paused) pty.pause();
    this.ptys.set(req.id, { pty, shell: launch.shell, exited, flowLimit: null, flowPaused: false });
    return pid;
  }

  has(id: string): boolean {
    return this.ptys.has(id);
  }

  get size(): number {
    return this.ptys.size;
  }

  list(): HostTerminal[] {
    return [...this.ptys].map(([id, e]) => ({ id, pid: e.pty.pid, end: e.pty.end }));
  }

  /** Resolves once the pty has taken all of it (see InputQueue). */
  write(id: string, data: Buffer): Promise<void> {
    const entry = this.ptys.get(id);
    if (!entry) return Promise.reject(new Error(`terminal ${id} has ended`));
    return entry.pty.write(data);
  }

  resize(id: string, cols: number, rows: number): void {
    this.ptys.get(id)?.pty.resize(cols, rows);
  }

  /** The replay of a live terminal, or null when it has exited. */
  replay(id: string): Replay | null {
    return this.ptys.get(id)?.pty.snapshot() ?? null;
  }

  /** The foreground process of a live terminal, or null when it has exited. */
  status(id: string): TerminalStatus | null {
    const entry = this.ptys.get(id);
    if (!entry) return null;
    const foreground = entry.pty.foreground();
    return { foreground, shellIdle: foreground === null || foreground === path.basename(entry.shell) };
  }

  kill(id: string, signal: 'SIGHUP' | 'SIGKILL'): void {
    this.ptys.get(id)?.pty.kill(signal);
  }

  /** SIGHUP, SIGKILL after the grace time; resolves once it and its whole session have exited. */
  async end(id: string): Promise<void> {
    const entry = this.ptys.get(id);
    if (!entry) return;
    entry.pty.kill('SIGHUP');
    const grace = setTimeout(() => entry.pty.kill('SIGKILL'), this.o.killGraceMs);
    try {
      await entry.exited;
    } finally {
      clearTimeout(grace);
    }
  }

  async endAll(): Promise<void> {
    await Promise.all([...this.ptys.keys()].map((id) => this.end(id)));
  }

  /** Flow control: stop reading every pty until the web server has caught up. */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    for (const entry of this.ptys.values()) this.apply(entry);
  }

  /** Flow control for one terminal: read its output up to `limit` (null: no limit). */
  setFlowLimit(id: string, limit: number | null): void {
    const entry = this.ptys.get(id);
    if (!entry) return;
    entry.flowLimit = limit;
    this.checkLimit(id);
  }

  /** No web server: no devices, so no terminal waits for one. */
  clearFlowLimits(): void {
    for (const id of this.ptys.keys()) this.setFlowLimit(id, null);
  }

  private checkLimit(id: string): void {
    const entry = this.ptys.get(id);
    if (!entry) return;
    const paused = entry.flowLimit !== null && entry.pty.end >= entry.flowLimit;
    if (paused === entry.flowPaused) return;
    entry.flowPaused = paused;
    this.apply(entry);
    this.o.onFlowPaused(id, paused);
  }

  private apply(entry: Entry): void {
    if (this.paused || entry.flowPaused) entry.pty.pause();
    else entry.pty.resume();
  }
}
