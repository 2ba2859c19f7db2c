// A context menu at the pointer: one at a time, closed by a choice, Escape or a click
// elsewhere.

import { h } from './dom.js';

export interface MenuItem {
  label: string;
  /** Shown on the right, e.g. "Ctrl+Shift+C". */
  hint?: string;
  disabled?: boolean;
  run(): void;
}

let open: { el: HTMLElement; close(): void } | null = null;

export function showMenu(x: number, y: number, items: MenuItem[]): void {
  open?.close();
  const close = () => {
    document.removeEventListener('mousedown', onDown, true);
    document.removeEventListener('keydown', onKey, true);
    window.removeEventListener('blur', close);
    el.remove();
    if (open?.el === el) open = null;
  };
  const el = h(
    'div',
    { class: 'context-menu', role: 'menu' },
    ...items.map((item) =>
      h(
        'button',
        {
          type: 'button',
          role: 'menuitem',
          class: 'menu-item',
          disabled: item.disabled ?? false,
          onclick: () => {
            close();
            item.run();
          },
        },
        h('span', {}, item.label),
        item.hint ? h('kbd', {}, item.hint) : null,
      ),
    ),
  );
  const onDown = (e: Event) => {
    if (!el.contains(e.target as Node)) close();
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      close();
    }
  };
  document.addEventListener('mousedown', onDown, true);
  document.addEventListener('keydown', onKey, true);
  window.addEventListener('blur', close);
  document.body.append(el);
  // Keep it on screen.
  const r = el.getBoundingClientRect();
  el.style.left = `${Math.max(4, Math.min(x, window.innerWidth - r.width - 4))}px`;
  el.style.top = `${Math.max(4, Math.min(y, window.innerHeight - r.height - 4))}px`;
  open = { el, close };
  el.querySelector<HTMLButtonElement>('.menu-item:not(:disabled)')?.focus();
}
