// The signed-in workspace: connection, tab bar, terminal panes and status bar.

import type { TerminalInfo } from '../../common/protocol.js';
import * as api from './api.js';
import { Connection, type ConnState } from './connection.js';
import { showMenu } from './context-menu.js';
import { choose } from './dialog.js';
import { getDeviceId, getDeviceName, setDeviceName } from './device.js';
import { h, logo, setData, setText } from './dom.js';
import { endedSentence, plural } from './format.js';
import type { Session, User } from './session.js';
import { FONT_DEFAULT, getFontSize, getHidden, setFontSize, setHidden } from './preferences.js';
import { SearchBar } from './search-bar.js';
import { clearSession } from './session.js';
import { storageGet, storageSet } from './storage.js';
import { TabBar } from './tabs.js';
import { measureFit, TerminalView, type ViewHost } from './terminal-view.js';

const ACTIVE_KEY = 'ptyhub.activeTerminal';
const RESIZE_DEBOUNCE_MS = 100;
const RELIST_MIN_INTERVAL_MS = 5_000;

const CONN_LABELS: Record<ConnState, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

export interface WorkspaceEvents {
  /** The session is over (signed out, or the server refused the token). */
  signedOut(message?: string): void;
}

export class Workspace implements ViewHost {
  readonly conn: Connection;
  readonly root: HTMLDivElement;
  private readonly views = new Map<string, TerminalView>();
  private order: string[] = [];
  private activeId: string | null = null;
  private readonly closing = new Set<string>();
  private listedOnce = false;
  private creating = false;
  private lastRelist = 0;
  private destroyed = false;
  private renderQueued = false;
  private resizeTimer: ReturnType<typeof setTimeout> | undefined;
  private lastOfflineNotice = 0;
  fontSize = getFontSize();
  /** Terminals hidden on this device (still running), with what the last list said. */
  private readonly hidden = getHidden();
  private readonly hiddenInfo = new Map<string, TerminalInfo>();
  private readonly hiddenBtn: HTMLButtonElement;
  private readonly searchBar = new SearchBar();

  private readonly tabBar: TabBar;
  private readonly area: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly newBtn: HTMLButtonElement;
  private readonly userName: HTMLSpanElement;
  private readonly statusEl: HTMLDivElement;
  private readonly statusLabel: HTMLSpanElement;
  private readonly connBanner: HTMLDivElement;
  private readonly deviceBtn: HTMLButtonElement;
  private readonly info: {
    root: HTMLDivElement;
    state: HTMLSpanElement;
    size: HTMLSpanElement;
    devices: HTMLSpanElement;
    control: HTMLSpanElement;
    fitBtn: HTMLButtonElement;
    closeBtn: HTMLButtonElement;
  };
  private readonly toasts: HTMLDivElement;
  private readonly resizeObserver: ResizeObserver;

  constructor(
    parent: HTMLElement,
    private readonly session: Session,
    private readonly events: WorkspaceEvents,
  ) {
    this.tabBar = new TabBar({
      select: (id) => this.activate(id, true),
      close: (id) => void this.closeTab(id),
      rename: (id, title) => void this.renameTerminal(id, title),
    });
    this.hiddenBtn = h('button', {
      class: 'hidden-list ghost',
      type: 'button',
      title: 'Terminals hidden on this device (still running)',
      hidden: true,
      onclick: (e: Event) => this.showHiddenMenu(e.currentTarget as HTMLElement),
    });
    this.newBtn = h(
      'button',
      {
        class: 'new-tab',
        type: 'button',
        title: 'New terminal (Alt+Shift+T)',
        'aria-label': 'New terminal',
        onclick: () => void this.createTerminal(),
      },
      '+',
    );
    this.userName = h('span', { class: 'user-name' }, session.user.username);
    const header = h(
      'header',
      { class: 'topbar' },
      h('div', { class: 'brand', title: 'ptyhub' }, logo('logo'), h('span', { class: 'brand-name' }, 'ptyhub')),
      h('div', { class: 'tabs-wrap' }, this.tabBar.el, this.newBtn, this.hiddenBtn),
      h(
        'div',
        { class: 'user' },
        this.userName,
        h('button', { class: 'ghost signout', type: 'button', onclick: () => void this.signOut() }, 'Sign out'),
      ),
    );

    this.empty = h(
      'div',
      { class: 'empty', hidden: true },
      h('div', { class: 'empty-title' }, 'No terminals open'),
      h('p', { class: 'empty-text' }, 'Terminals keep running on the server when you close this window, and open on every device you sign in from.'),
      h('button', { class: 'primary', type: 'button', onclick: () => void this.createTerminal() }, 'New terminal'),
      h('div', { class: 'empty-hint' }, h('kbd', {}, 'Alt'), '+', h('kbd', {}, 'Shift'), '+', h('kbd', {}, 'T')),
    );
    this.connBanner = h('div', { class: 'conn-banner', role: 'status' });
    this.area = h('main', { class: 'terminals' }, this.empty, this.connBanner, this.searchBar.el);

    this.statusLabel = h('span', { class: 'label' }, CONN_LABELS.connecting);
    this.statusEl = h(
      'div',
      { id: 'status', class: 'conn', 'data-state': 'connecting', role: 'status', 'aria-live': 'polite' },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      this.statusLabel,
    );
    this.deviceBtn = h('button', {
      class: 'device-name ghost',
      type: 'button',
      title: 'This device’s name, as other devices see it. Click to rename.',
      onclick: () => this.editDeviceName(),
    });
    this.info = {
      root: h('div', { class: 'term-info' }),
      state: h('span', { class: 'info-state' }),
      size: h('span', { class: 'info-size', title: 'Terminal size (columns × rows)' }),
      devices: h('span', { class: 'info-devices' }),
      control: h('span', { class: 'info-control' }),
      fitBtn: h(
        'button',
        {
          class: 'link fit-btn',
          type: 'button',
          title: 'Make this window control the terminal size',
          onclick: () => {
            // The click moved the focus to this button: give it back to the terminal.
            this.activeView?.focus();
            void this.activeView?.takeControl();
          },
        },
        'Fit to this window',
      ),
      closeBtn: h(
        'button',
        { class: 'link', type: 'button', onclick: () => this.activeId && void this.closeTab(this.activeId) },
        'Close tab',
      ),
    };
    this.info.root.append(this.info.state, this.info.size, this.info.devices, this.info.control, this.info.fitBtn, this.info.closeBtn);
    const footer = h('footer', { class: 'statusbar' }, this.statusEl, this.deviceBtn, h('div', { class: 'spacer' }), this.info.root);
    this.toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });

    this.root = h('div', { class: 'workspace', 'data-conn': 'connecting' }, header, this.area, footer, this.toasts);
    parent.append(this.root);

    this.conn = new Connection(
      // This client acknowledges the output it renders (flow control).
      { token: session.token, deviceId: getDeviceId(), deviceName: getDeviceName(), outputAcks: true },
      {
        onConnect: () => void this.syncTerminals(true),
        onDisconnect: () => {
          for (const v of this.views.values()) v.connectionLost();
          this.render();
        },
        onState: (state, detail) => this.showConnState(state, detail),
        onUnauthorized: () => this.endSession('Your session has expired. Please sign in again.'),
      },
    );
    this.bindServerEvents();

    this.resizeObserver = new ResizeObserver(() => {
      clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => this.fitAll(), RESIZE_DEBOUNCE_MS);
    });
    this.resizeObserver.observe(this.area);
    document.addEventListener('keydown', this.onDocumentKey);
    document.addEventListener('visibilitychange', this.onVisibility);

    this.render();
  }

  start(): void {
    this.conn.connect();
  }

  get token(): string {
    return this.session.token;
  }

  setUser(user: User): void {
    setText(this.userName, user.username);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    clearTimeout(this.resizeTimer);
    this.resizeObserver.disconnect();
    document.removeEventListener('keydown', this.onDocumentKey);
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.conn.close();
    for (const v of this.views.values()) v.dispose();
    this.views.clear();
    this.root.remove();
  }

  // ---- ViewHost ----------------------------------------------------------------------

  changed(): void {
    this.render();
  }

  isActive(view: TerminalView): boolean {
    return view.id === this.activeId;
  }

  notify(message: string, kind: 'info' | 'error' = 'info'): void {
    if (this.destroyed) return;
    const toast = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
    this.toasts.append(toast);
    while (this.toasts.childElementCount > 3) this.toasts.firstElementChild?.remove();
    setTimeout(() => {
      toast.classList.add('leaving');
      setTimeout(() => toast.remove(), 300);
    }, kind === 'error' ? 8000 : 5000);
  }

  inputWhileOffline(): void {
    this.statusEl.classList.remove('pulse');
    void this.statusEl.offsetWidth; // restart the animation
    this.statusEl.classList.add('pulse');
    const now = Date.now();
    if (now - this.lastOfflineNotice > 5000) {
      this.lastOfflineNotice = now;
      this.notify('Not connected: keystrokes are not being sent.', 'error');
    }
  }

  contextMenu(view: TerminalView, e: MouseEvent): void {
    e.preventDefault();
    const selection = view.selection;
    showMenu(e.clientX, e.clientY, [
      { label: 'Copy', hint: 'Ctrl+Shift+C', disabled: !selection, run: () => void this.copy(view) },
      { label: 'Paste', hint: 'Ctrl+Shift+V', disabled: view.status !== 'running' || !navigator.clipboard?.readText, run: () => void this.pasteInto(view) },
      { label: 'Select all', run: () => view.selectAll() },
      { label: 'Find…', hint: 'Ctrl+Shift+F', run: () => this.searchBar.open(view) },
      { label: 'Rename terminal…', disabled: view.status !== 'running', run: () => this.tabBar.startRename(view.id, view.title) },
      { label: view.status === 'ended' ? 'Close tab' : 'Close terminal…', run: () => void this.closeTab(view.id) },
    ]);
  }

  handleShortcut(e: KeyboardEvent): boolean {
    const view = this.activeView;
    if (e.ctrlKey && !e.altKey && !e.metaKey) {
      // Font size, remembered on this device: Ctrl + / Ctrl - / Ctrl 0.
      // (Not Ctrl+Shift+-: that is Ctrl+_, undo in emacs and readline.)
      const font = e.key === '+' || e.key === '=' ? 1 : e.key === '-' ? -1 : e.key === '0' && !e.shiftKey ? 0 : null;
      if (font !== null) {
        e.preventDefault(); // not the browser's page zoom
        this.changeFontSize(font === 0 ? FONT_DEFAULT : this.fontSize + font);
        return true;
      }
      if (e.shiftKey && view && (e.code === 'KeyC' || e.code === 'KeyV' || e.code === 'KeyF')) {
        if (e.code === 'KeyV' && !navigator.clipboard?.readText) return true; // xterm ignores it; the browser pastes
        e.preventDefault();
        if (e.code === 'KeyC') void this.copy(view);
        else if (e.code === 'KeyV') void this.pasteInto(view);
        else this.searchBar.open(view);
        return true;
      }
      return false;
    }
    if (!e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey) return false;
    if (e.code === 'KeyT') {
      void this.createTerminal();
    } else if (e.code === 'BracketLeft' || e.code === 'BracketRight') {
      this.cycle(e.code === 'BracketLeft' ? -1 : 1);
    } else if (/^Digit[1-9]$/.test(e.code)) {
      const id = this.order[Number(e.code.slice(5)) - 1];
      if (id) this.activate(id, true);
    } else {
      return false;
    }
    e.preventDefault();
    return true;
  }

  // ---- terminals -----------------------------------------------------------------

  private get activeView(): TerminalView | null {
    return (this.activeId && this.views.get(this.activeId)) || null;
  }

  private changeFontSize(size: number): void {
    this.fontSize = setFontSize(size);
    for (const v of this.views.values()) v.setFontSize(this.fontSize);
    this.render();
  }

  private async copy(view: TerminalView): Promise<void> {
    const text = view.selection;
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      this.notify('Could not copy: the browser refused access to the clipboard.', 'error');
    }
  }

  private async pasteInto(view: TerminalView): Promise<void> {
    let text: string;
    try {
      text = await navigator.clipboard.readText();
    } catch {
      this.notify('Could not paste: the browser refused access to the clipboard (try Ctrl+V).', 'error');
      return;
    }
    if (text) view.paste(text);
    view.focus();
  }

  /** After every (re)connect: list, add terminals opened elsewhere, (re)attach all. */
  private async syncTerminals(reattachAll: boolean): Promise<void> {
    const r = await this.conn.request('terminal:list', {});
    if (this.destroyed || !this.conn.connected) return;
    const added: TerminalView[] = [];
    if (r.ok) {
      this.hiddenInfo.clear();
      for (const t of r.terminals) {
        if (this.hidden.has(t.id)) this.hiddenInfo.set(t.id, t);
        else if (!this.views.has(t.id)) added.push(this.addView(t));
      }
      // Forget hidden terminals that have ended.
      for (const id of this.hidden) if (!this.hiddenInfo.has(id)) this.hidden.delete(id);
      setHidden(this.hidden);
    } else {
      this.notify(`Could not list your terminals: ${r.error.message}`, 'error');
    }
    this.lastRelist = Date.now();
    this.listedOnce = true;
    if (!this.activeView) {
      const stored = storageGet('session', ACTIVE_KEY);
      const pick = stored && this.views.has(stored) ? stored : this.order.find((id) => this.views.get(id)?.status !== 'ended');
      if (pick) this.activate(pick, true);
    }
    this.render();
    const toAttach = reattachAll ? [...this.views.values()] : added;
    await Promise.all(toAttach.map((v) => v.attach()));
  }

  private addView(info: TerminalInfo, opts: { justCreated?: boolean } = {}): TerminalView {
    const view = new TerminalView(info, this.area, this, opts);
    this.views.set(info.id, view);
    this.order.push(info.id);
    view.setActive(false);
    this.render();
    return view;
  }

  private async createTerminal(): Promise<void> {
    if (this.creating || this.destroyed) return;
    if (!this.conn.connected) {
      this.notify('Not connected: cannot open a terminal right now.', 'error');
      return;
    }
    this.creating = true;
    this.render();
    try {
      const size = this.activeView?.fittedSize ?? measureFit(this.area, this.fontSize);
      const r = await this.conn.request('terminal:create', size);
      if (this.destroyed) return;
      if (!r.ok) {
        this.notify(
          r.error.code === 'limit_reached'
            ? 'You have reached your limit of open terminals. Close one to open another.'
            : `Could not open a terminal: ${r.error.message}`,
          'error',
        );
        return;
      }
      const view = this.views.get(r.terminal.id) ?? this.addView(r.terminal, { justCreated: true });
      this.activate(view.id, true);
      await view.attach();
      if (this.activeId === view.id) view.focus();
    } finally {
      this.creating = false;
      this.render();
    }
  }

  /**
   * Closing a running terminal asks first: "Hide on this device" (it keeps running, and
   * other devices keep it) or "End for everyone" (its shell is killed). The question
   * names the program in the foreground, if it is not the shell.
   */
  private async closeTab(id: string): Promise<void> {
    const view = this.views.get(id);
    if (!view || this.closing.has(id)) return;
    if (view.status !== 'ended') {
      if (!this.conn.connected) {
        this.notify('Not connected: the terminal cannot be closed right now.', 'error');
        return;
      }
      this.closing.add(id);
      try {
        const s = await this.conn.request('terminal:status', { terminalId: id });
        if (this.destroyed || view.isEnded()) return;
        const busy = s.ok && !s.status.shellIdle ? s.status.foreground : null;
        const name = view.displayTitle;
        const choice = await choose(
          busy ? `“${busy}” is running in “${name}”` : `Close “${name}”?`,
          busy
            ? `Ending the terminal stops ${busy} on every device. Hiding it keeps it running; this device can show it again later.`
            : 'Ending the terminal stops its shell on every device. Hiding it keeps it running; this device can show it again later.',
          [
            { id: 'cancel', label: 'Cancel', kind: 'ghost', default: !!busy },
            { id: 'hide', label: 'Hide on this device', kind: 'ghost' },
            { id: 'end', label: 'End for everyone', kind: 'danger', default: !busy },
          ],
        );
        if (choice === 'hide') await this.hideTerminal(view);
        if (choice !== 'end' || this.destroyed || view.isEnded()) return;
        const r = await this.conn.request('terminal:close', { terminalId: id });
        if (!r.ok && r.error.code !== 'terminal_ended' && r.error.code !== 'not_found') {
          this.notify(`Could not close the terminal: ${r.error.message}`, 'error');
          return;
        }
      } finally {
        this.closing.delete(id);
      }
    }
    this.removeView(id);
  }

  private async hideTerminal(view: TerminalView): Promise<void> {
    this.hidden.add(view.id);
    setHidden(this.hidden);
    this.hiddenInfo.set(view.id, view.info);
    this.removeView(view.id);
    // Stop receiving its output; its other devices and its shell are not affected.
    await this.conn.request('terminal:detach', { terminalId: view.id });
  }

  private showHiddenMenu(anchor: HTMLElement): void {
    const r = anchor.getBoundingClientRect();
    showMenu(
      r.left,
      r.bottom + 4,
      [...this.hiddenInfo.values()].map((t) => ({ label: `Show “${t.title}”`, run: () => void this.unhide(t.id) })),
    );
  }

  private async unhide(id: string): Promise<void> {
    const info = this.hiddenInfo.get(id);
    this.hidden.delete(id);
    this.hiddenInfo.delete(id);
    setHidden(this.hidden);
    if (!info || this.views.has(id)) return;
    const view = this.addView(info);
    this.activate(id, true);
    await view.attach();
  }

  private async renameTerminal(id: string, title: string): Promise<void> {
    const view = this.views.get(id);
    const clean = title.replace(/\s+/g, ' ').trim();
    if (!view || !clean || clean === view.title) return;
    const r = await this.conn.request('terminal:rename', { terminalId: id, title: clean });
    if (!r.ok) {
      this.notify(`Could not rename the terminal: ${r.error.message}`, 'error');
      return;
    }
    if (view.applyTitle(r.title, r.version)) this.render();
  }

  private removeView(id: string): void {
    const view = this.views.get(id);
    if (!view) return;
    const idx = this.order.indexOf(id);
    this.order.splice(idx, 1);
    this.views.delete(id);
    view.dispose();
    if (this.activeId === id) {
      this.activeId = null;
      const next = this.order[Math.min(idx, this.order.length - 1)];
      if (next) this.activate(next, true);
      else storageSet('session', ACTIVE_KEY, null);
    }
    this.render();
  }

  private activate(id: string, focus: boolean): void {
    const view = this.views.get(id);
    if (!view) return;
    if (this.activeId !== id) {
      this.activeView?.setActive(false);
      this.activeId = id;
      view.setActive(true);
      storageSet('session', ACTIVE_KEY, id);
      this.tabBar.scrollIntoView(id);
    }
    view.fitToWindow();
    if (focus) view.focus();
    this.render();
  }

  private cycle(delta: number): void {
    if (this.order.length === 0) return;
    const idx = this.activeId ? this.order.indexOf(this.activeId) : -1;
    const next = this.order[(idx + delta + this.order.length) % this.order.length];
    if (next) this.activate(next, true);
  }

  private fitAll(): void {
    for (const v of this.views.values()) v.fitToWindow();
    this.render();
  }

  // ---- server events ---------------------------------------------------------------

  private bindServerEvents(): void {
    const s = this.conn.socket;
    s.on('terminal:output', (e) => this.views.get(e.terminalId)?.onOutput(e));
    s.on('terminal:exit', (e) => this.views.get(e.terminalId)?.onExit(e));
    s.on('terminal:resized', (e) => this.views.get(e.terminalId)?.onResized(e));
    s.on('terminal:primary', (e) => this.views.get(e.terminalId)?.onPrimary(e));
    s.on('terminal:renamed', (e) => {
      this.views.get(e.terminalId)?.onRenamed(e);
      const hidden = this.hiddenInfo.get(e.terminalId);
      if (hidden && e.version >= hidden.version) this.hiddenInfo.set(e.terminalId, { ...hidden, title: e.title, version: e.version });
    });
    s.on('terminal:devices', (e) => this.views.get(e.terminalId)?.onDevices(e));
    // Opened on another device: show it here too.
    s.on('terminal:created', (e) => {
      if (!this.views.has(e.terminal.id)) void this.syncTerminals(false);
    });
    s.on('server:shutdown', (e) => {
      // 'restart': the instance's terminals keep running in its pty host; tabs stay.
      if (e.reason === 'restart') this.notify('The server instance is restarting; your terminals keep running. Reconnecting…', 'info');
      else this.notify(`The server instance is shutting down${e.reason ? ` (${e.reason})` : ''}. Reconnecting…`, 'info');
    });
  }

  // ---- session ---------------------------------------------------------------------

  private async signOut(): Promise<void> {
    const token = this.session.token;
    this.endSession();
    try {
      await api.logout(token);
    } catch {
      // Signed out locally either way; the token expires on its own.
    }
  }

  private endSession(message?: string): void {
    clearSession();
    this.destroy();
    this.events.signedOut(message);
  }

  private editDeviceName(): void {
    const input = h('input', {
      class: 'device-input',
      type: 'text',
      value: this.conn.deviceName,
      maxlength: 100,
      'aria-label': 'Device name',
      spellcheck: 'false',
    });
    let done = false;
    const finish = (save: boolean) => {
      if (done) return;
      done = true;
      input.replaceWith(this.deviceBtn);
      if (save && input.value.trim() !== this.conn.deviceName) {
        const name = setDeviceName(input.value);
        void this.conn.setDeviceName(name).then((r) => {
          // Offline: the next connection's handshake carries the name.
          if (!r.ok && this.conn.connected) this.notify(`Could not rename this device: ${r.error.message}`, 'error');
        });
      }
      this.render();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') finish(true);
      else if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('blur', () => finish(true));
    this.deviceBtn.replaceWith(input);
    input.focus();
    input.select();
  }

  private onDocumentKey = (e: KeyboardEvent) => {
    if (e.defaultPrevented) return;
    const t = e.target as HTMLElement | null;
    if (t?.closest('.xterm')) return; // the terminal's own handler saw it
    if (t?.closest('input, textarea') && !e.altKey) return; // editing text: its keys (Ctrl+Shift+V...)
    this.handleShortcut(e);
  };

  private onVisibility = () => {
    if (document.visibilityState !== 'visible' || !this.conn.connected) return;
    // Pick up terminals opened on other devices while this one was in the background.
    if (Date.now() - this.lastRelist > RELIST_MIN_INTERVAL_MS) void this.syncTerminals(false);
  };

  // ---- rendering ---------------------------------------------------------------------

  private showConnState(state: ConnState, detail: string): void {
    setData(this.statusEl, 'state', state);
    setData(this.root, 'conn', state);
    setText(this.statusLabel, CONN_LABELS[state]);
    this.statusEl.title = detail ? `${CONN_LABELS[state]} — ${detail}` : CONN_LABELS[state];
    setText(
      this.connBanner,
      state === 'offline' ? 'Offline — waiting for the network' : state === 'reconnecting' ? 'Connection lost — reconnecting…' : '',
    );
    this.render();
  }

  private render(): void {
    if (this.renderQueued || this.destroyed) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      if (!this.destroyed) this.renderNow();
    });
  }

  private renderNow(): void {
    const views = this.order.map((id) => this.views.get(id)).filter((v): v is TerminalView => !!v);
    this.tabBar.sync(views, this.activeId);
    this.empty.hidden = !(this.listedOnce && views.length === 0);
    this.newBtn.disabled = this.creating;
    this.hiddenBtn.hidden = this.hiddenInfo.size === 0;
    setText(this.hiddenBtn, `${this.hiddenInfo.size} hidden`);
    this.searchBar.viewChanged(this.activeView);
    setData(this.newBtn, 'busy', this.creating ? 'true' : null);
    setText(this.deviceBtn, this.conn.deviceName);

    const v = this.activeView;
    const i = this.info;
    i.root.hidden = !v;
    if (!v) return;
    setData(i.root, 'status', v.status);
    i.size.hidden = i.devices.hidden = i.control.hidden = i.fitBtn.hidden = true;
    i.closeBtn.hidden = v.status !== 'ended';
    i.state.hidden = v.status === 'running';

    if (v.status === 'ended') {
      const sentence = endedSentence(v.endedText);
      setText(i.state, sentence.charAt(0).toUpperCase() + sentence.slice(1));
      return;
    }
    if (!this.conn.connected) {
      i.state.hidden = false;
      setText(i.state, 'Disconnected — the terminal keeps running on the server');
      return;
    }
    if (v.status === 'attaching') {
      setText(i.state, v.attachError ? `Cannot attach: ${v.attachError} — retrying` : this.conn.connected ? 'Attaching…' : 'Waiting for the connection…');
      return;
    }

    if (v.inputWaiting) {
      i.state.hidden = false;
      setText(i.state, `Input waiting: the program is not reading it yet (${v.inputWaiting} to send)`);
    }

    i.size.hidden = false;
    setText(i.size, `${v.cols}×${v.rows}`);

    i.devices.hidden = false;
    const count = Math.max(1, v.deviceCount);
    setText(i.devices, plural(count, 'device'));
    i.devices.title = v.devices.length
      ? v.devices
          .map((d) => `${d.deviceName || d.deviceId}${d.socketId === this.conn.socketId ? ' (this window)' : ''}${d.primary || d.socketId === v.primarySocketId ? ' — controls the size' : ''}`)
          .join('\n')
      : 'Devices attached to this terminal';

    i.control.hidden = false;
    if (v.isPrimary) {
      setData(i.control, 'primary', 'true');
      setText(i.control, 'Controls size');
      i.control.title = 'This window sets the terminal size';
    } else {
      setData(i.control, 'primary', 'false');
      const who = v.primaryDeviceName;
      setText(i.control, who ? `Sized by ${who}` : 'Size not controlled');
      i.control.title = 'Another device sets the terminal size';
      i.fitBtn.hidden = false;
    }
  }
}
