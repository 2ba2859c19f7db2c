// TerminalSessionRecord <-> the JSON kept in the session cache. Dates travel as epoch ms;
// decoding checks every field so a damaged or foreign entry is reported, not returned.
import type { TerminalSessionRecord } from './types.js';

type Encoded = Omit<TerminalSessionRecord, 'createdAt' | 'updatedAt' | 'lastActivityAt' | 'endedAt'> & {
  createdAt: number;
  updatedAt: number;
  lastActivityAt: number;
  endedAt: number | null;
};

export function encodeSession(r: TerminalSessionRecord): string {
  const e: Encoded = {
    id: r.id,
    userId: r.userId,
    title: r.title,
    shell: r.shell,
    cwd: r.cwd,
    cols: r.cols,
    rows: r.rows,
    serverId: r.serverId,
    primarySocketId: r.primarySocketId,
    status: r.status,
    version: r.version,
    exitCode: r.exitCode,
    endReason: r.endReason,
    createdAt: r.createdAt.getTime(),
    updatedAt: r.updatedAt.getTime(),
    lastActivityAt: r.lastActivityAt.getTime(),
    endedAt: r.endedAt ? r.endedAt.getTime() : null,
  };
  return JSON.stringify(e);
}

export class SessionDecodeError extends Error {
  constructor(message: string) {
    super(`cached session entry: ${message}`);
    this.name = 'SessionDecodeError';
  }
}

export function decodeSession(json: string): TerminalSessionRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new SessionDecodeError('not JSON');
  }
  if (typeof raw !== 'object' || raw === null) throw new SessionDecodeError('not an object');
  const o = raw as Record<string, unknown>;
  const str = (k: string): string => {
    if (typeof o[k] !== 'string') throw new SessionDecodeError(`${k} is not a string`);
    return o[k];
  };
  const strOrNull = (k: string): string | null => (o[k] === null ? null : str(k));
  const int = (k: string): number => {
    if (!Number.isSafeInteger(o[k])) throw new SessionDecodeError(`${k} is not an integer`);
    return o[k] as number;
  };
  const intOrNull = (k: string): number | null => (o[k] === null ? null : int(k));
  const date = (k: string): Date => new Date(int(k));
  const status = str('status');
  if (status !== 'running' && status !== 'ended') throw new SessionDecodeError(`bad status ${status}`);
  const endedAt = intOrNull('endedAt');
  return {
    id: str('id'),
    userId: str('userId'),
    title: str('title'),
    shell: str('shell'),
    cwd: str('cwd'),
    cols: int('cols'),
    rows: int('rows'),
    serverId: str('serverId'),
    primarySocketId: strOrNull('primarySocketId'),
    status,
    version: int('version'),
    exitCode: intOrNull('exitCode'),
    endReason: strOrNull('endReason'),
    createdAt: date('createdAt'),
    updatedAt: date('updatedAt'),
    lastActivityAt: date('lastActivityAt'),
    endedAt: endedAt === null ? null : new Date(endedAt),
  };
}
