// The wire form of a terminal session.
import type { TerminalInfo } from '../../common/protocol.js';
import type { TerminalSessionRecord } from '../sessions/types.js';

export function toTerminalInfo(s: TerminalSessionRecord, deviceCount: number): TerminalInfo {
  return {
    id: s.id,
    title: s.title,
    cols: s.cols,
    rows: s.rows,
    serverId: s.serverId,
    status: s.status,
    version: s.version,
    createdAt: s.createdAt.toISOString(),
    lastActivityAt: s.lastActivityAt.toISOString(),
    primarySocketId: s.primarySocketId,
    deviceCount,
  };
}
