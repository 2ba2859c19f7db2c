// A small modal dialog: a question and a row of choices. Resolves with the chosen
// choice's id, or null (Escape, a click outside, or "Cancel").

import { h } from './dom.js';

export interface Choice {
  id: string;
  label: string;
  kind?: 'primary' | 'danger' | 'ghost';
  /** Focused when the dialog opens (Enter picks it). */
  default?: boolean;
}

export function choose(title: string, text: string, choices: Choice[]): Promise<string | null> {
  return new Promise((resolve) => {
    const previous = document.activeElement as HTMLElement | null;
    const done = (id: string | null) => {
      document.removeEventListener('keydown', onKey, true);
      backdrop.remove();
      previous?.focus();
      resolve(id);
    };
    const buttons = choices.map((c) =>
      h('button', { type: 'button', class: `${c.kind ?? 'ghost'} choice-${c.id}`, onclick: () => done(c.id) }, c.label),
    );
    const dialog = h(
      'div',
      { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'dialog-title' },
      h('h2', { id: 'dialog-title', class: 'dialog-title' }, title),
      h('p', { class: 'dialog-text' }, text),
      h('div', { class: 'dialog-actions' }, ...buttons),
    );
    const backdrop = h('div', { class: 'dialog-backdrop', onmousedown: (e: Event) => e.target === backdrop && done(null) }, dialog);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        done(null);
      }
    };
    document.addEventListener('keydown', onKey, true);
    document.body.append(backdrop);
    const first = choices.findIndex((c) => c.default);
    buttons[first >= 0 ? first : 0]?.focus();
  });
}
