// Web Storage that never throws (private modes and disabled storage raise on access).

export function storageGet(area: 'local' | 'session', key: string): string | null {
  try {
    return (area === 'local' ? localStorage : sessionStorage).getItem(key);
  } catch {
    return null;
  }
}

export function storageSet(area: 'local' | 'session', key: string, value: string | null): void {
  try {
    const s = area === 'local' ? localStorage : sessionStorage;
    if (value === null) s.removeItem(key);
    else s.setItem(key, value);
  } catch {
    // Storage unavailable: the value lives for this page only.
  }
}
