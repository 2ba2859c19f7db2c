// A tiny element builder: h('button', { class: 'x', onclick: fn }, 'text').

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(key.replace(/^on/, ''), value);
    } else if (key === 'class') {
      el.className = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** Set or remove a data-* attribute only when it changes (keeps MutationObservers quiet). */
export function setData(el: HTMLElement, name: string, value: string | null): void {
  if (value === null) {
    if (name in el.dataset) delete el.dataset[name];
  } else if (el.dataset[name] !== value) {
    el.dataset[name] = value;
  }
}

export function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** The ptyhub mark (a prompt), as inline SVG. */
export function logo(className: string): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 32 32');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  svg.innerHTML =
    '<rect width="32" height="32" rx="7" fill="#1b2130"/><path d="M8 11l6 5-6 5" fill="none" stroke="#6ea8fe" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round"/><path d="M16 22h8" stroke="#d7dce6" stroke-width="2.6" stroke-linecap="round"/>';
  return svg;
}
