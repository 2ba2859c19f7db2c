// One terminal tab's screen: an xterm, its fit addon and its OutputSequencer, plus the
// per-terminal protocol state (size and primary with versions, devices, input queue).

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { WebglAddon } from '@xterm/addon-webgl';
import {
  LIMITS,
  type DeviceSummary,
  type DevicesEvent,
  type ExitEvent,
  type OutputEvent,
  type PrimaryEvent,
  type RenamedEvent,
  type ResizedEvent,
  type TerminalInfo,
} from '../../common/protocol.js';
import { OutputSequencer } from '../../common/output-sequencer.js';
import type { Connection } from './connection.js';
import { h, setData } from './dom.js';
import { endedSentence, exitText } from './format.js';
import { OutputAcks } from './output-acks.js';
import { QueryAnswers } from './query-answers.js';
import { TERMINAL_OPTIONS } from './theme.js';

export type ViewStatus = 'attaching' | 'running' | 'ended';

export interface ViewHost {
  readonly conn: Connection;
  /** Something shown in the tab bar or status bar changed. */
  changed(view: TerminalView): void;
  notify(message: string, kind?: 'info' | 'error'): void;
  isActive(view: TerminalView): boolean;
  /** App-level shortcuts; return true if the key was handled (xterm must ignore it). */
  handleShortcut(e: KeyboardEvent): boolean;
  /** Typing while disconnected: point at the connection status. */
  inputWhileOffline(): void;
  /** This device's font size for terminals. */
  readonly fontSize: number;
  /** Right click on the terminal. */
  contextMenu(view: TerminalView, e: MouseEvent): void;
}

interface Size {
  cols: number;
  rows: number;
}

const FULL_RESET = '\x1bc'; // RIS: goes through the write queue, so it stays in order
/** Above a rebuilt screen whose replay no longer reaches back to what this device saw. */
const SKIPPED_NOTICE = '\x1b[2m[ptyhub: some earlier output was skipped on this device]\x1b[0m\r\n';
/**
 * Input chunk size, in UTF-16 units. Below LIMITS.maxInputLength on purpose: the server
 * closes a connection on a socket.io message over 256 KiB, and a chunk full of control
 * characters grows 6x in JSON (\u00XX). 16 Ki units stay under 100 KiB in the worst case.
 */
const INPUT_CHUNK = Math.min(LIMITS.maxInputLength, 16 * 1024);
const RESIZE_RETRIES = 3;
/** The names the server gives new terminals ("Terminal 3"): the shell's title wins. */
const DEFAULT_TITLE = /^Terminal \d+$/;
const INPUT_RATE_LIMIT_RETRIES = 20;
/**
 * The server answers input once the program has taken it: a program that does not read
 * (`sleep` in the foreground during a paste) holds the answer up. After this long the
 * status bar says so; after INPUT_TIMEOUT_MS the rest of the input is given up.
 */
const INPUT_WAITING_AFTER_MS = 1000;
const INPUT_TIMEOUT_MS = 5 * 60_000;

export class TerminalView {
  readonly id: string;
  readonly pane: HTMLDivElement;
  private readonly host: HTMLDivElement;
  private readonly starting: HTMLDivElement;
  private readonly term: Terminal;
  private readonly fitAddon = new FitAddon();
  readonly search = new SearchAddon();
  private readonly answers: QueryAnswers;
  private seq: OutputSequencer | null = null;
  private readonly acks: OutputAcks;
  private disposed = false;
  /** Replays written but not yet parsed: their query answers are dropped. */
  private replaying = 0;
  private cursorFrame = 0;

  // ---- what the tab bar and status bar show ----
  title: string;
  shellTitle = '';
  status: ViewStatus = 'attaching';
  endedText = '';
  attachError = '';
  unread = false;
  /** Input held up by a program that does not read it ("48 KiB"), or ''. */
  inputWaiting = '';
  devices: DeviceSummary[] = [];
  deviceCount: number;
  primarySocketId: string | null = null;
  primaryDeviceId: string | null = null;
  /** The server's size of the pty. */
  cols: number;
  rows: number;

  // ---- versions: ignore events older than what we know (separately per field) ----
  private sizeVersion = -1;
  private primaryVersion = -1;
  private titleVersion = -1;
  /** What the server last told us (for the hidden-terminals list). */
  private lastInfo: TerminalInfo;

  // ---- attach ----
  private attachGen = 0;
  private attachRetry: ReturnType<typeof setTimeout> | undefined;
  private attachRetryDelay = 1000;
  /** Our socket id at the last attach: after a reconnect, tells us we were primary. */
  private lastSocketId: string | null = null;
  private claimAfterAttach: boolean;
  private bannerWritten = false;
  /** The foreign size last shown (scroll the host only when it changes). */
  private foreignKey = '';
  private lastSizeChange = -Infinity;

  // ---- input, sent in order, one request in flight, coalescing keystrokes ----
  private input = '';
  private sending = false;

  // ---- resize, one request in flight, latest wins ----
  private resizeWanted: Size | null = null;
  private resizing = false;

  constructor(
    info: TerminalInfo,
    parent: HTMLElement,
    private readonly ctx: ViewHost,
    opts: { justCreated?: boolean } = {},
  ) {
    this.id = info.id;
    this.lastInfo = info;
    this.title = info.title;
    this.cols = info.cols;
    this.rows = info.rows;
    this.deviceCount = info.deviceCount ?? 0;
    this.claimAfterAttach = opts.justCreated ?? false;

    this.host = h('div', { class: 'term-host' });
    this.pane = h('div', { class: 'term-pane', 'data-terminal-id': info.id, role: 'tabpanel' }, this.host);
    parent.append(this.pane);

    this.starting = h('div', { class: 'term-starting', role: 'status' }, 'Starting the shell…');
    this.pane.append(this.starting);

    this.acks = new OutputAcks((offset) => this.ctx.conn.request('terminal:ack', { terminalId: this.id, offset }));
    this.term = new Terminal({ ...TERMINAL_OPTIONS, fontSize: ctx.fontSize, cols: clampCols(info.cols), rows: clampRows(info.rows) });
    this.term.loadAddon(this.fitAddon);
    // Unicode 11 widths (emoji are two cells), as current shells and libcs count them.
    this.term.loadAddon(new Unicode11Addon());
    this.term.unicode.activeVersion = '11';
    this.term.loadAddon(new WebLinksAddon());
    this.term.loadAddon(this.search);
    this.term.open(this.host);
    const webgl = loadWebgl(this.term, () => setData(this.pane, 'renderer', 'dom'));
    setData(this.pane, 'renderer', webgl ? 'webgl' : 'dom');
    this.answers = new QueryAnswers(this.term);
    this.term.onData((data) => {
      // xterm answering a terminal query, not typing: never from a replay, and only
      // the device in control of the size answers (one answer per query).
      if (this.answers.isAnswer && (this.replaying > 0 || !this.isPrimary)) return;
      this.handleInput(data);
    });
    this.term.onCursorMove(() => {
      if (this.foreignKey) this.keepCursorInView();
    });
    this.host.addEventListener('contextmenu', (e) => this.ctx.contextMenu(this, e));
    this.term.onTitleChange((t) => {
      this.shellTitle = t.trim().slice(0, LIMITS.maxTitleLength);
      this.ctx.changed(this);
    });
    this.term.attachCustomKeyEventHandler((e) => !(e.type === 'keydown' && this.ctx.handleShortcut(e)));
    this.applyInfo(info);
  }

  /** A title the user gave wins over the one the shell sets; a default one does not. */
  get displayTitle(): string {
    const custom = this.title && !DEFAULT_TITLE.test(this.title);
    return (custom ? this.title : this.shellTitle || this.title) || 'Terminal';
  }

  get isPrimary(): boolean {
    const sid = this.ctx.conn.socketId;
    return sid !== null && this.primarySocketId === sid;
  }

  /** Name of the device whose window sets the size, if known. */
  get primaryDeviceName(): string | null {
    if (!this.primarySocketId) return null;
    const d = this.devices.find((x) => x.socketId === this.primarySocketId);
    return d?.deviceName ?? null;
  }

  /** The size this window would give the terminal, if it were in control. */
  get fittedSize(): Size | null {
    return this.proposeSize();
  }

  /** A method, not a property read: `status` changes across awaits (TS would narrow it). */
  isEnded(): boolean {
    return this.status === 'ended';
  }

  focus(): void {
    if (!this.disposed) this.term.focus();
  }

  get selection(): string {
    return this.term.getSelection();
  }

  selectAll(): void {
    this.term.selectAll();
  }

  paste(text: string): void {
    if (!this.disposed && this.status === 'running') this.term.paste(text);
  }

  setFontSize(px: number): void {
    if (this.disposed || this.term.options.fontSize === px) return;
    this.term.options.fontSize = px;
    this.fitToWindow();
  }

  setActive(active: boolean): void {
    this.pane.classList.toggle('active', active);
    this.pane.setAttribute('aria-hidden', active ? 'false' : 'true');
    if (active && this.unread) {
      this.unread = false;
      this.ctx.changed(this);
    }
  }

  // ---- attach / re-attach --------------------------------------------------------

  /**
   * Attach (again) and rebuild the screen from the replay. Called on every (re)connect.
   * A fresh sequencer holds output that arrives before the reply; the old one is dropped
   * so nothing from the previous connection is written after the reset.
   */
  async attach(): Promise<void> {
    if (this.disposed || this.status === 'ended') return;
    clearTimeout(this.attachRetry);
    const gen = ++this.attachGen;
    // Where the screen got to: a replay starting later means output was skipped here.
    const shownUpTo = this.seq?.offset ?? null;
    // A gap in the offsets (output lost on its way here): rebuild from a fresh replay.
    this.acks.reset();
    const seq = new OutputSequencer(
      (data) => {
        // The sequencer has moved past `data`: its offset is where `data` ends.
        const end = seq.offset!;
        this.term.write(data, () => {
          if (this.seq === seq) this.acks.renderedUpTo(end);
        });
      },
      () =>
        // After the current call stack: a gap can show while this attach is still applying.
        setTimeout(() => {
          if (this.seq === seq && !this.disposed && !this.isEnded()) void this.attach();
        }, 0),
    );
    this.seq = seq;
    this.status = 'attaching';
    this.ctx.changed(this);

    const r = await this.ctx.conn.request('terminal:attach', { terminalId: this.id });
    if (gen !== this.attachGen || this.disposed) return;

    if (!r.ok) {
      if (!this.isEnded() && (r.error.code === 'terminal_ended' || r.error.code === 'not_found')) {
        this.markEnded(this.lastSocketId ? 'ended while this device was disconnected' : 'ended');
      }
      if (this.isEnded()) {
        this.writeBanner(); // under the last screen we had
        return;
      }
      this.attachError = r.error.message;
      this.ctx.changed(this);
      if (this.ctx.conn.connected) {
        const delay = this.attachRetryDelay;
        this.attachRetryDelay = Math.min(15_000, delay * 2);
        this.attachRetry = setTimeout(() => void this.attach(), delay);
      }
      return;
    }

    this.attachRetryDelay = 1000;
    this.attachError = '';
    const previousSocketId = this.lastSocketId;
    this.lastSocketId = this.ctx.conn.socketId;
    this.devices = r.devices;
    this.deviceCount = r.devices.length;
    this.applyInfo(r.terminal); // sets the size before the replay is written

    this.term.write(FULL_RESET);
    this.bannerWritten = false;
    if (shownUpTo !== null && r.replay.start > shownUpTo) this.term.write(SKIPPED_NOTICE);
    // Queries in the replay were answered when they were first asked: drop xterm's
    // answers until the replay is parsed (the empty write's callback runs after it).
    this.replaying++;
    seq.reset(r.replay, () => this.term.write('', () => this.replaying--));
    if (this.isEnded()) {
      this.writeBanner();
    } else {
      this.status = 'running';
    }
    this.showStarting((seq.offset ?? 0) === 0);
    this.ctx.changed(this);

    // Take the size over when nobody has it, when this device just created the
    // terminal, or when it had it before a reconnect. Otherwise don't fight.
    // (The server makes the first device to attach primary; then we only fit.)
    const primary = this.primarySocketId;
    const wasOurs = primary !== null && primary === previousSocketId;
    const claim = this.claimAfterAttach || primary === null || wasOurs;
    this.claimAfterAttach = false;
    if (this.isEnded()) return;
    void this.pumpInput(); // keystrokes typed while attaching
    if (this.isPrimary) this.fitToWindow();
    else if (claim) await this.takeControl({ quiet: true });
  }

  /** The connection dropped: stop sending; the next connect re-attaches. */
  connectionLost(): void {
    this.input = '';
    this.resizeWanted = null;
    clearTimeout(this.attachRetry);
    if (this.status === 'attaching') this.attachGen++; // its reply can't come any more
  }

  // ---- server events ---------------------------------------------------------------

  onOutput(e: OutputEvent): void {
    if (!this.seq) return;
    this.seq.push(e);
    if (e.data.length > 0) this.showStarting(false);
    // A shell redraws its prompt after a resize: that is not news for the tab.
    const redraw = performance.now() - this.lastSizeChange < 1000;
    if (this.status === 'running' && !this.unread && !redraw && !this.ctx.isActive(this)) {
      this.unread = true;
      this.ctx.changed(this);
    }
  }

  onExit(e: ExitEvent): void {
    this.markEnded(exitText(e));
  }

  onResized(e: ResizedEvent): void {
    if (this.applySize(e.cols, e.rows, e.version)) this.ctx.changed(this);
  }

  onPrimary(e: PrimaryEvent): void {
    const was = this.isPrimary;
    if (!this.applyPrimary(e.socketId, e.deviceId, e.version)) return;
    this.ctx.changed(this);
    // The server handed us the size (the previous primary left): follow this window.
    if (!was && this.isPrimary) {
      this.fitToWindow();
      return;
    }
    // Nobody controls the size any more (that device left): the visible tab of a
    // visible window takes it, so the terminal fits someone's screen.
    if (
      e.socketId === null &&
      this.status === 'running' &&
      this.ctx.isActive(this) &&
      document.visibilityState === 'visible'
    ) {
      void this.takeControl({ quiet: true });
    }
  }

  onRenamed(e: RenamedEvent): void {
    if (this.applyTitle(e.title, e.version)) this.ctx.changed(this);
  }

  applyTitle(title: string, version: number): boolean {
    if (version < this.titleVersion) return false;
    this.titleVersion = version;
    this.title = title;
    return true;
  }

  onDevices(e: DevicesEvent): void {
    this.devices = e.devices;
    this.deviceCount = e.devices.length;
    this.ctx.changed(this);
  }

  // ---- size and control --------------------------------------------------------------

  /** "Take control" / "Fit to this window": claim primary, then resize to fit. */
  async takeControl(opts: { quiet?: boolean } = {}): Promise<void> {
    if (this.disposed || this.status !== 'running') return;
    const r = await this.ctx.conn.request('terminal:claim', { terminalId: this.id });
    if (this.disposed) return;
    if (!r.ok) {
      if (r.error.code === 'terminal_ended') this.markEnded('ended');
      else if (!opts.quiet) this.ctx.notify(`Could not take control: ${r.error.message}`, 'error');
      return;
    }
    this.applyPrimary(r.socketId, this.ctx.conn.deviceId, r.version);
    this.ctx.changed(this);
    this.fitToWindow();
  }

  /** The window (terminal area) changed size, or we just became primary. */
  fitToWindow(): void {
    if (this.disposed || this.status !== 'running' || !this.isPrimary) {
      this.updateSizeClass();
      return;
    }
    const want = this.proposeSize();
    if (!want) return;
    if (want.cols === this.cols && want.rows === this.rows && !this.resizing) {
      this.showSize(want);
      return;
    }
    this.showSize(want); // optimistic: no jank while the server confirms
    this.resizeWanted = want;
    void this.pumpResize();
  }

  private async pumpResize(): Promise<void> {
    if (this.resizing) return;
    this.resizing = true;
    let retries = 0;
    try {
      while (this.resizeWanted && !this.disposed && this.status === 'running') {
        const want = this.resizeWanted;
        this.resizeWanted = null;
        const r = await this.ctx.conn.request('terminal:resize', { terminalId: this.id, ...want });
        if (this.disposed) return;
        if (r.ok) {
          retries = 0;
          if (r.version >= this.sizeVersion) {
            this.sizeVersion = r.version;
            this.cols = r.cols;
            this.rows = r.rows;
          }
          // Resizing makes this device primary too.
          if (r.version >= this.primaryVersion && this.ctx.conn.socketId) {
            this.primaryVersion = r.version;
            this.primarySocketId = this.ctx.conn.socketId;
            this.primaryDeviceId = this.ctx.conn.deviceId;
          }
        } else if (r.error.code === 'terminal_ended') {
          this.markEnded('ended');
        } else if ((r.error.code === 'conflict' || r.error.code === 'busy') && retries++ < RESIZE_RETRIES) {
          this.resizeWanted ??= want;
        } else if (r.error.code !== 'unavailable' || this.ctx.conn.connected) {
          this.ctx.notify(`Could not resize the terminal: ${r.error.message}`, 'error');
        }
      }
    } finally {
      this.resizing = false;
      if (!this.disposed) {
        this.showSize({ cols: this.cols, rows: this.rows }); // whatever the server settled on
        this.ctx.changed(this);
      }
    }
  }

  private proposeSize(): Size | null {
    if (this.disposed) return null;
    let d: { cols: number; rows: number } | undefined;
    try {
      d = this.fitAddon.proposeDimensions();
    } catch {
      return null;
    }
    if (!d || !Number.isFinite(d.cols) || !Number.isFinite(d.rows) || d.cols <= 0 || d.rows <= 0) return null;
    return { cols: clampCols(d.cols), rows: clampRows(d.rows) };
  }

  private showSize(s: Size): void {
    if (this.term.cols !== s.cols || this.term.rows !== s.rows) {
      this.term.resize(s.cols, s.rows);
      this.lastSizeChange = performance.now();
    }
    this.updateSizeClass();
  }

  private updateSizeClass(): void {
    const fit = this.proposeSize();
    const foreign = !!fit && (fit.cols !== this.term.cols || fit.rows !== this.term.rows);
    const key = foreign ? `${this.term.cols}x${this.term.rows}` : '';
    this.pane.classList.toggle('foreign-size', foreign);
    const changed = key !== this.foreignKey;
    this.foreignKey = key;
    if (key && changed) this.keepCursorInView();
  }

  /** A grid larger than this window: scroll it so the cursor is in view. */
  private keepCursorInView(): void {
    if (this.cursorFrame) return;
    this.cursorFrame = requestAnimationFrame(() => {
      this.cursorFrame = 0;
      const screen = this.host.querySelector<HTMLElement>('.xterm-screen');
      if (this.disposed || !this.foreignKey || !screen) return;
      const buf = this.term.buffer.active;
      const row = buf.baseY + buf.cursorY - buf.viewportY;
      const rowH = screen.offsetHeight / this.term.rows;
      const colW = screen.offsetWidth / this.term.cols;
      const h = this.host;
      const top = screen.offsetTop + row * rowH;
      if (top < h.scrollTop) h.scrollTop = top;
      else if (top + rowH > h.scrollTop + h.clientHeight) h.scrollTop = top + rowH - h.clientHeight;
      const left = screen.offsetLeft + buf.cursorX * colW;
      if (left < h.scrollLeft) h.scrollLeft = Math.max(0, left - h.clientWidth / 2);
      else if (left + colW > h.scrollLeft + h.clientWidth) h.scrollLeft = left + colW - h.clientWidth / 2;
    });
  }

  /** "Starting the shell…" while a running terminal has no output at all yet. */
  private showStarting(on: boolean): void {
    this.pane.classList.toggle('starting', on && this.status === 'running');
  }

  get info(): TerminalInfo {
    return { ...this.lastInfo, title: this.title, version: Math.max(this.lastInfo.version, this.titleVersion) };
  }

  private applyInfo(t: TerminalInfo): void {
    this.lastInfo = t;
    this.applyTitle(t.title, t.version);
    if (t.deviceCount !== undefined) this.deviceCount = t.deviceCount;
    this.applySize(t.cols, t.rows, t.version);
    this.applyPrimary(t.primarySocketId, null, t.version);
    if (t.status === 'ended') this.markEnded('ended');
  }

  private applySize(cols: number, rows: number, version: number): boolean {
    if (version < this.sizeVersion) return false;
    this.sizeVersion = version;
    this.cols = clampCols(cols);
    this.rows = clampRows(rows);
    // While our own resize is in flight, the reply decides; don't flip back and forth.
    if (!this.resizing) this.showSize({ cols: this.cols, rows: this.rows });
    return true;
  }

  private applyPrimary(socketId: string | null, deviceId: string | null, version: number): boolean {
    if (version < this.primaryVersion) return false;
    this.primaryVersion = version;
    this.primarySocketId = socketId;
    this.primaryDeviceId = deviceId ?? this.devices.find((d) => d.socketId === socketId)?.deviceId ?? null;
    this.updateSizeClass();
    return true;
  }

  // ---- input -------------------------------------------------------------------------

  private handleInput(data: string): void {
    if (this.disposed || this.status === 'ended') return;
    if (!this.ctx.conn.connected) {
      this.ctx.inputWhileOffline();
      return;
    }
    this.input += data;
    void this.pumpInput();
  }

  private async pumpInput(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    let rateLimited = 0;
    try {
      // Input needs an attached socket; attach() calls back here when it is.
      while (this.input.length > 0 && !this.disposed && this.status === 'running') {
        const chunk = takeChunk(this.input, INPUT_CHUNK);
        this.input = this.input.slice(chunk.length);
        const waiting = setTimeout(() => this.showInputWaiting(chunk.length + this.input.length), INPUT_WAITING_AFTER_MS);
        const r = await this.ctx.conn.request('terminal:input', { terminalId: this.id, data: chunk }, INPUT_TIMEOUT_MS);
        clearTimeout(waiting);
        if (r.ok) {
          rateLimited = 0;
          continue;
        }
        // busy: too much input already waits for the program (e.g. another device's paste).
        if ((r.error.code === 'rate_limited' || r.error.code === 'busy') && rateLimited++ < INPUT_RATE_LIMIT_RETRIES) {
          this.input = chunk + this.input;
          await sleep(Math.min(2000, 100 * 2 ** Math.min(rateLimited, 5)));
          continue;
        }
        this.input = '';
        if (r.error.code === 'terminal_ended') this.markEnded('ended');
        else this.ctx.notify(`Input was not delivered: ${r.error.message}`, 'error');
      }
    } finally {
      this.sending = false;
      this.showInputWaiting(0);
    }
  }

  private showInputWaiting(units: number): void {
    const text = units > 0 ? `${Math.max(1, Math.round(units / 1024))} KiB` : '';
    if (text === this.inputWaiting) return;
    this.inputWaiting = text;
    this.ctx.changed(this);
  }

  // ---- end and cleanup ---------------------------------------------------------------

  markEnded(text: string): void {
    if (this.status === 'ended') return;
    this.status = 'ended';
    this.endedText = text;
    this.attachError = '';
    this.input = '';
    this.resizeWanted = null;
    clearTimeout(this.attachRetry);
    this.term.options.cursorBlink = false;
    this.term.options.disableStdin = true;
    this.pane.classList.add('ended');
    this.showStarting(false);
    // If the replay is still on its way, attach() writes the banner after it.
    if (this.seq?.offset != null) this.writeBanner();
    this.ctx.changed(this);
  }

  private writeBanner(): void {
    if (this.bannerWritten) return;
    this.bannerWritten = true;
    // Dim note under the last output; hide the cursor (nothing can be typed any more).
    this.term.write(`\r\n\x1b[0m\x1b[2m[${endedSentence(this.endedText)}]\x1b[0m\r\n\x1b[?25l`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.attachGen++;
    clearTimeout(this.attachRetry);
    this.seq = null;
    this.acks.dispose();
    cancelAnimationFrame(this.cursorFrame);
    this.term.dispose();
    this.pane.remove();
  }
}

/** The WebGL renderer where the browser can; xterm's DOM renderer otherwise. */
function loadWebgl(term: Terminal, onFallback: () => void): boolean {
  try {
    const webgl = new WebglAddon();
    // The GPU took the context back (driver reset, too many contexts): back to the DOM.
    webgl.onContextLoss(() => {
      webgl.dispose();
      onFallback();
    });
    term.loadAddon(webgl);
    return true;
  } catch {
    return false;
  }
}

/**
 * The size a new terminal should get in `area`: measured with a throwaway xterm so the
 * cell metrics are exactly what the real one will use. Falls back to 80x24.
 */
export function measureFit(area: HTMLElement, fontSize: number): Size {
  const host = h('div', { class: 'term-host' });
  const pane = h('div', { class: 'term-pane measuring', 'aria-hidden': 'true' }, host);
  area.append(pane);
  const term = new Terminal({ ...TERMINAL_OPTIONS, fontSize, cols: 80, rows: 24 });
  const fit = new FitAddon();
  try {
    term.loadAddon(fit);
    term.open(host);
    const d = fit.proposeDimensions();
    if (d && Number.isFinite(d.cols) && Number.isFinite(d.rows) && d.cols > 0 && d.rows > 0) {
      return { cols: clampCols(d.cols), rows: clampRows(d.rows) };
    }
    return { cols: 80, rows: 24 };
  } catch {
    return { cols: 80, rows: 24 };
  } finally {
    term.dispose();
    pane.remove();
  }
}

/** At most `max` UTF-16 units, never splitting a surrogate pair. */
export function takeChunk(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max;
  const last = s.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return s.slice(0, end);
}

function clampCols(n: number): number {
  return Math.max(LIMITS.minCols, Math.min(LIMITS.maxCols, Math.floor(n)));
}

function clampRows(n: number): number {
  return Math.max(LIMITS.minRows, Math.min(LIMITS.maxRows, Math.floor(n)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
