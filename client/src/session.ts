// Where the sign-in token lives.
//
// Default: sessionStorage. A ptyhub token is a shell on the server, so by default it
// should not outlive the browser tab (shared or borrowed computers); sessionStorage
// still survives reloads, which is all reconnecting needs. "Keep me signed in" puts it
// in localStorage instead, so every tab and restarts of this browser share it. Neither
// is safer against XSS than the other; the server can revoke either (sign out).

import { storageGet, storageSet } from './storage.js';

export interface User {
  id: string;
  username: string;
}

export interface Session {
  token: string;
  user: User;
}

const KEY = 'ptyhub.session';

export function loadSession(): Session | null {
  for (const area of ['session', 'local'] as const) {
    const raw = storageGet(area, KEY);
    if (!raw) continue;
    try {
      const s = JSON.parse(raw) as Partial<Session>;
      if (typeof s.token === 'string' && s.token && s.user && typeof s.user.username === 'string') {
        return { token: s.token, user: { id: String(s.user.id ?? ''), username: s.user.username } };
      }
    } catch {
      // fall through: corrupt entry
    }
    storageSet(area, KEY, null);
  }
  return null;
}

export function saveSession(session: Session, remember: boolean): void {
  storageSet(remember ? 'local' : 'session', KEY, JSON.stringify(session));
  storageSet(remember ? 'session' : 'local', KEY, null);
}

/** Update the stored user (e.g. after /api/me) wherever the session is kept. */
export function updateStoredUser(user: User): void {
  for (const area of ['session', 'local'] as const) {
    const raw = storageGet(area, KEY);
    if (!raw) continue;
    try {
      const s = JSON.parse(raw) as Session;
      storageSet(area, KEY, JSON.stringify({ ...s, user }));
    } catch {
      // ignore
    }
  }
}

export function clearSession(): void {
  storageSet('session', KEY, null);
  storageSet('local', KEY, null);
}

/** Another tab signed out (or in as someone else) with a remembered session. */
export function onSessionChangedElsewhere(cb: () => void): () => void {
  const listener = (e: StorageEvent) => {
    if (e.key === KEY && e.storageArea === localStorage) cb();
  };
  window.addEventListener('storage', listener);
  return () => window.removeEventListener('storage', listener);
}
