// This browser's identity as a ptyhub device: a random id kept in localStorage (so all
// tabs of one browser are one device, and it survives restarts) and a readable name.

import { LIMITS } from '../../common/protocol.js';
import { storageGet, storageSet } from './storage.js';

const ID_KEY = 'ptyhub.deviceId';
const NAME_KEY = 'ptyhub.deviceName';

let fallbackId: string | null = null;

export function getDeviceId(): string {
  const stored = storageGet('local', ID_KEY);
  if (stored && /^[A-Za-z0-9_-]{8,64}$/.test(stored)) return stored;
  // crypto.getRandomValues works on plain http too (randomUUID needs a secure context).
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  const id = 'dev_' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  storageSet('local', ID_KEY, id);
  // If storage is unavailable, stay stable for the life of the page at least.
  fallbackId ??= id;
  return storageGet('local', ID_KEY) ?? fallbackId;
}

export function getDeviceName(): string {
  const stored = storageGet('local', NAME_KEY)?.trim();
  return stored ? stored.slice(0, LIMITS.maxDeviceNameLength) : defaultDeviceName();
}

/** Save a custom name; an empty name goes back to the derived one. */
export function setDeviceName(name: string): string {
  const clean = name.replace(/\s+/g, ' ').trim().slice(0, LIMITS.maxDeviceNameLength);
  storageSet('local', NAME_KEY, clean || null);
  return getDeviceName();
}

/**
 * "Chrome on Linux (3fa2)": the suffix comes from this browser's random device id, so
 * two browsers of the same kind still get different names.
 */
export function defaultDeviceName(): string {
  return `${browserName()} on ${platformName()} (${getDeviceId().slice(-4)})`;
}

function browserName(): string {
  const ua = navigator.userAgent;
  if (/Edg\//.test(ua)) return 'Edge';
  if (/OPR\//.test(ua)) return 'Opera';
  if (/Firefox\//.test(ua)) return 'Firefox';
  if (/Chrom(e|ium)\//.test(ua)) return 'Chrome';
  if (/Safari\//.test(ua)) return 'Safari';
  return 'Browser';
}

function platformName(): string {
  const ua = navigator.userAgent;
  // userAgentData is Chromium-only and not in every lib.dom version.
  const uaData = (navigator as Navigator & { userAgentData?: { platform?: string; mobile?: boolean } }).userAgentData;
  if (/iPhone/.test(ua)) return 'iPhone';
  if (/iPad/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return 'iPad';
  if (/Android/.test(ua)) return 'Android';
  if (uaData?.platform) return uaData.platform === 'macOS' ? 'Mac' : uaData.platform;
  if (/Mac OS X|Macintosh/.test(ua)) return 'Mac';
  if (/Windows/.test(ua)) return 'Windows';
  if (/CrOS/.test(ua)) return 'ChromeOS';
  if (/Linux/.test(ua)) return 'Linux';
  return 'unknown';
}
