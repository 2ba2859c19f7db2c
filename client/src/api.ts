// The HTTP API: sign in, sign out, who am I.

import type { User } from './session.js';

export class ApiError extends Error {
  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    /** From a 429: how long until the server accepts another attempt. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function call<T>(path: string, init: RequestInit & { token?: string } = {}): Promise<T | null> {
  const headers = new Headers(init.headers);
  headers.set('Accept', 'application/json');
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  if (init.token) headers.set('Authorization', `Bearer ${init.token}`);
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection.');
  }
  if (res.status === 204) return null;
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // non-JSON body (proxy error page, etc.)
  }
  if (!res.ok) {
    const b = body as { error?: { code?: unknown; message?: unknown; retryAfterSeconds?: unknown } } | null;
    const err = b?.error;
    const retryAfter = typeof err?.retryAfterSeconds === 'number' ? err.retryAfterSeconds : Number(res.headers.get('retry-after'));
    throw new ApiError(
      res.status,
      typeof err?.code === 'string' ? err.code : `http_${res.status}`,
      typeof err?.message === 'string' && err.message ? err.message : `Request failed (${res.status} ${res.statusText})`,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
    );
  }
  return body as T;
}

export async function login(username: string, password: string): Promise<{ token: string; user: User }> {
  const r = await call<{ token: string; user: User }>('/api/login', {
    method: 'POST',
    body: JSON.stringify({ username, password }),
  });
  if (!r || typeof r.token !== 'string' || !r.user) throw new ApiError(500, 'internal', 'Unexpected reply from the server.');
  return r;
}

export async function logout(token: string): Promise<void> {
  await call('/api/logout', { method: 'POST', token });
}

export async function me(token: string): Promise<User> {
  const r = await call<{ user: User }>('/api/me', { method: 'GET', token });
  if (!r?.user) throw new ApiError(500, 'internal', 'Unexpected reply from the server.');
  return r.user;
}
