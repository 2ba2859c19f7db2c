// Which browser origins may open a WebSocket. Browsers always send Origin on upgrades;
// a request without one comes from a non-browser client and still needs a valid token.
import type { IncomingMessage } from 'node:http';

/**
 * `allowed` null means "the server's own origin": the Origin's host must equal the Host
 * the request was sent to. Otherwise the Origin must be in the list ("*" allows any).
 */
export function isOriginAllowed(req: IncomingMessage, allowed: string[] | null): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed?.includes('*')) return true;
  if (allowed?.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return allowed === null && (url.protocol === 'http:' || url.protocol === 'https:') && url.host === req.headers.host;
}
