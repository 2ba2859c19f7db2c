// Per-device preferences, kept in localStorage: terminal font size, and the terminals
// hidden on this device (they keep running and can be shown again).

import { storageGet, storageSet } from './storage.js';

const FONT_KEY = 'ptyhub.fontSize';
const HIDDEN_KEY = 'ptyhub.hiddenTerminals';
export const FONT_MIN = 8;
export const FONT_MAX = 32;
export const FONT_DEFAULT = 14;
/** More than any user could hide; keeps the stored list bounded. */
const MAX_HIDDEN = 200;

export function getFontSize(): number {
  const n = Number(storageGet('local', FONT_KEY));
  return Number.isInteger(n) && n >= FONT_MIN && n <= FONT_MAX ? n : FONT_DEFAULT;
}

export function setFontSize(n: number): number {
  const size = Math.max(FONT_MIN, Math.min(FONT_MAX, Math.round(n)));
  storageSet('local', FONT_KEY, size === FONT_DEFAULT ? null : String(size));
  return size;
}

export function getHidden(): Set<string> {
  try {
    const list = JSON.parse(storageGet('local', HIDDEN_KEY) ?? '[]') as unknown;
    return new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : []);
  } catch {
    return new Set();
  }
}

export function setHidden(ids: Set<string>): void {
  const list = [...ids].slice(-MAX_HIDDEN);
  storageSet('local', HIDDEN_KEY, list.length ? JSON.stringify(list) : null);
}
