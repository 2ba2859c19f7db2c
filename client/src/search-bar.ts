// Find in the scrollback of the visible terminal (xterm's search addon).

import type { IDisposable } from '@xterm/xterm';
import { h, setText } from './dom.js';
import type { TerminalView } from './terminal-view.js';

const DECORATIONS = {
  matchBackground: '#3a3f1e',
  matchOverviewRuler: '#e0c270',
  activeMatchBackground: '#8a6d1a',
  activeMatchColorOverviewRuler: '#f5dc8f',
};

export class SearchBar {
  readonly el: HTMLDivElement;
  private readonly input: HTMLInputElement;
  private readonly count: HTMLSpanElement;
  private view: TerminalView | null = null;
  private results: IDisposable | null = null;

  constructor() {
    this.input = h('input', {
      class: 'search-input',
      type: 'search',
      placeholder: 'Find',
      'aria-label': 'Find in terminal',
      spellcheck: 'false',
      oninput: () => this.find(true),
      onkeydown: (e: Event) => this.onKey(e as KeyboardEvent),
    });
    this.count = h('span', { class: 'search-count', 'aria-live': 'polite' });
    this.el = h(
      'div',
      { class: 'search-bar', hidden: true },
      this.input,
      this.count,
      h('button', { type: 'button', class: 'ghost', title: 'Previous (Shift+Enter)', 'aria-label': 'Previous match', onclick: () => this.find(false, true) }, '↑'),
      h('button', { type: 'button', class: 'ghost', title: 'Next (Enter)', 'aria-label': 'Next match', onclick: () => this.find(false) }, '↓'),
      h('button', { type: 'button', class: 'ghost', title: 'Close (Escape)', 'aria-label': 'Close search', onclick: () => this.close() }, '×'),
    );
  }

  get isOpen(): boolean {
    return !this.el.hidden;
  }

  open(view: TerminalView): void {
    if (this.view !== view) this.detach();
    this.view = view;
    this.results ??= view.search.onDidChangeResults(({ resultIndex, resultCount }) => {
      setText(this.count, resultCount === 0 ? 'No results' : resultIndex >= 0 ? `${resultIndex + 1} of ${resultCount}` : `${resultCount} found`);
    });
    const selected = view.selection;
    if (selected && !selected.includes('\n')) this.input.value = selected;
    this.el.hidden = false;
    this.input.focus();
    this.input.select();
    if (this.input.value) this.find(true);
  }

  close(): void {
    if (this.el.hidden) return;
    this.el.hidden = true;
    const view = this.view;
    this.detach();
    view?.focus();
  }

  /** The visible terminal changed or went away. */
  viewChanged(view: TerminalView | null): void {
    if (this.view && this.view !== view) this.close();
  }

  private detach(): void {
    this.results?.dispose();
    this.results = null;
    this.view?.search.clearDecorations();
    this.view = null;
    setText(this.count, '');
  }

  private find(incremental: boolean, backwards = false): void {
    const view = this.view;
    if (!view) return;
    const text = this.input.value;
    if (!text) {
      view.search.clearDecorations();
      setText(this.count, '');
      return;
    }
    const opts = { incremental, decorations: DECORATIONS };
    if (backwards) view.search.findPrevious(text, opts);
    else view.search.findNext(text, opts);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Enter') {
      e.preventDefault();
      this.find(false, e.shiftKey);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      this.close();
    }
  }
}
