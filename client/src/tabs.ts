// The tab bar: one tab per terminal, updated in place (no re-render flicker).

import { h, setData, setText } from './dom.js';
import { LIMITS } from '../../common/protocol.js';
import { plural } from './format.js';
import type { TerminalView } from './terminal-view.js';

export interface TabBarHandlers {
  select(id: string): void;
  close(id: string): void;
  rename(id: string, title: string): void;
}

interface TabEls {
  root: HTMLDivElement;
  title: HTMLSpanElement;
  devices: HTMLSpanElement;
  close: HTMLButtonElement;
}

export class TabBar {
  readonly el: HTMLDivElement;
  private readonly tabs = new Map<string, TabEls>();
  /** The server-side title of each tab (what a rename starts from). */
  private readonly titles = new Map<string, string>();

  constructor(private readonly handlers: TabBarHandlers) {
    this.el = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Terminals' });
  }

  sync(views: readonly TerminalView[], activeId: string | null): void {
    const seen = new Set<string>();
    let prev: Element | null = null;
    for (const view of views) {
      seen.add(view.id);
      const els = this.tabs.get(view.id) ?? this.create(view.id);
      this.update(els, view, view.id === activeId);
      // Keep DOM order equal to `views` without moving nodes that are already right.
      const expectedNext: Element | null = prev ? prev.nextElementSibling : this.el.firstElementChild;
      if (expectedNext !== els.root) {
        if (prev) prev.after(els.root);
        else this.el.prepend(els.root);
      }
      prev = els.root;
    }
    for (const [id, els] of this.tabs) {
      if (!seen.has(id)) {
        els.root.remove();
        this.tabs.delete(id);
        this.titles.delete(id);
      }
    }
  }

  /** Edit a tab's title in place; Enter saves, Escape or leaving cancels. */
  startRename(id: string, current: string): void {
    const els = this.tabs.get(id);
    if (!els || els.root.querySelector('.tab-rename')) return;
    const input = h('input', {
      class: 'tab-rename',
      type: 'text',
      value: current,
      maxlength: LIMITS.maxTitleLength,
      'aria-label': 'Terminal name',
      spellcheck: 'false',
    });
    let done = false;
    const finish = (save: boolean) => {
      if (done) return;
      done = true;
      input.replaceWith(els.title);
      if (save && input.value.trim()) this.handlers.rename(id, input.value);
    };
    input.addEventListener('keydown', (e) => {
      e.stopPropagation(); // not the tab's own keys (Delete closes it)
      if (e.key === 'Enter') finish(true);
      else if (e.key === 'Escape') finish(false);
    });
    input.addEventListener('click', (e) => e.stopPropagation());
    input.addEventListener('blur', () => finish(true));
    els.title.replaceWith(input);
    input.focus();
    input.select();
  }

  scrollIntoView(id: string): void {
    this.tabs.get(id)?.root.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  private create(id: string): TabEls {
    const title = h('span', { class: 'tab-title' });
    const devices = h('span', { class: 'tab-devices', 'aria-hidden': 'true' });
    const close = h(
      'button',
      {
        class: 'tab-close',
        type: 'button',
        'aria-label': 'Close terminal',
        title: 'Close terminal',
        onclick: (e: Event) => {
          e.stopPropagation();
          this.handlers.close(id);
        },
      },
      '×',
    );
    const root = h(
      'div',
      {
        class: 'tab',
        role: 'tab',
        tabindex: 0,
        'data-terminal-id': id,
        onclick: () => this.handlers.select(id),
        ondblclick: (e: Event) => {
          if ((e.target as HTMLElement).closest('.tab-close')) return;
          this.startRename(id, this.titles.get(id) ?? '');
        },
        onauxclick: (e: Event) => {
          if ((e as MouseEvent).button === 1) {
            e.preventDefault();
            this.handlers.close(id);
          }
        },
        onkeydown: (e: Event) => {
          const k = (e as KeyboardEvent).key;
          if (k === 'Enter' || k === ' ') {
            e.preventDefault();
            this.handlers.select(id);
          } else if (k === 'Delete') {
            this.handlers.close(id);
          }
        },
      },
      h('span', { class: 'tab-dot', 'aria-hidden': 'true' }),
      title,
      devices,
      close,
    );
    const els = { root, title, devices, close };
    this.tabs.set(id, els);
    return els;
  }

  private update(els: TabEls, view: TerminalView, active: boolean): void {
    const { root } = els;
    setData(root, 'status', view.status);
    setData(root, 'active', active ? 'true' : 'false');
    setData(root, 'unread', view.unread ? 'true' : null);
    setData(root, 'primary', view.isPrimary ? 'true' : 'false');
    root.setAttribute('aria-selected', active ? 'true' : 'false');
    setText(els.title, view.displayTitle);
    this.titles.set(view.id, view.title);

    const others = view.deviceCount > 1;
    setText(els.devices, others ? String(view.deviceCount) : '');
    els.devices.hidden = !others;

    let tip = view.displayTitle;
    if (view.status === 'ended') tip += ` — ${view.endedText}`;
    else if (view.status === 'attaching') tip += view.attachError ? ` — ${view.attachError}` : ' — attaching…';
    else tip += ` — ${plural(Math.max(1, view.deviceCount), 'device')}${view.isPrimary ? ', this device controls the size' : ''}`;
    if (root.title !== tip) root.title = tip;
  }
}
