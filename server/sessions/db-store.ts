// SessionStore on the database through Prisma. Versioned changes are single
// conditional UPDATEs, so two writers holding the same version cannot both win.
import type { PrismaClient, TerminalSession } from '../db/client.js';
import { VersionConflictError } from './types.js';
import type {
  EndInfo,
  NewSession,
  SessionPatch,
  SessionStatus,
  SessionStore,
  SessionStoreStats,
  TerminalSessionRecord,
} from './types.js';

const RUNNING: SessionStatus = 'running';
const ENDED: SessionStatus = 'ended';

export class DbSessionStore implements SessionStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(input: NewSession): Promise<TerminalSessionRecord> {
    const row = await this.prisma.terminalSession.create({
      data: {
        id: input.id,
        userId: input.userId,
        title: input.title,
        shell: input.shell,
        cwd: input.cwd,
        cols: input.cols,
        rows: input.rows,
        serverId: input.serverId,
      },
    });
    return toRecord(row);
  }

  async get(id: string): Promise<TerminalSessionRecord | null> {
    const row = await this.prisma.terminalSession.findUnique({ where: { id, status: RUNNING } });
    return row ? toRecord(row) : null;
  }

  async listRunningForUser(userId: string): Promise<TerminalSessionRecord[]> {
    const rows = await this.prisma.terminalSession.findMany({
      where: { userId, status: RUNNING },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    return rows.map(toRecord);
  }

  countRunningForUser(userId: string): Promise<number> {
    return this.prisma.terminalSession.count({ where: { userId, status: RUNNING } });
  }

  async listRunningForServer(serverId: string): Promise<TerminalSessionRecord[]> {
    const rows = await this.prisma.terminalSession.findMany({
      where: { serverId, status: RUNNING },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    return rows.map(toRecord);
  }

  /** Instances that own at least one running session (for owner-loss detection). */
  async runningOwners(): Promise<string[]> {
    const rows = await this.prisma.terminalSession.findMany({
      where: { status: RUNNING },
      distinct: ['serverId'],
      select: { serverId: true },
    });
    return rows.map((r) => r.serverId);
  }

  async update(id: string, expectedVersion: number, patch: SessionPatch): Promise<TerminalSessionRecord> {
    // updateManyAndReturn is updateMany with RETURNING: the same single conditional
    // write, and the row read back is exactly the one this write produced.
    const [row] = await this.prisma.terminalSession.updateManyAndReturn({
      where: { id, version: expectedVersion, status: RUNNING },
      data: { ...pickPatch(patch), version: { increment: 1 } },
    });
    if (!row) throw new VersionConflictError(id, expectedVersion, await this.runningVersion(id));
    return toRecord(row);
  }

  async end(id: string, info: EndInfo): Promise<TerminalSessionRecord | null> {
    const [row] = await this.prisma.terminalSession.updateManyAndReturn({
      where: { id, status: RUNNING },
      data: {
        status: ENDED,
        endedAt: new Date(),
        exitCode: info.exitCode,
        endReason: info.reason,
        version: { increment: 1 },
      },
    });
    return row ? toRecord(row) : null;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.prisma.terminalSession.updateMany({
      where: { id, status: RUNNING },
      data: { lastActivityAt: at },
    });
  }

  stats(): SessionStoreStats {
    return { cache: 'none', hits: 0, misses: 0, errors: 0 };
  }

  /** The version a conflicting caller should know about; null once ended or gone. */
  private async runningVersion(id: string): Promise<number | null> {
    const row = await this.prisma.terminalSession.findUnique({
      where: { id },
      select: { version: true, status: true },
    });
    return row?.status === RUNNING ? row.version : null;
  }
}

/** Only the patchable fields; undefined means "leave unchanged". */
function pickPatch(patch: SessionPatch): SessionPatch {
  const out: SessionPatch = {};
  if (patch.cols !== undefined) out.cols = patch.cols;
  if (patch.rows !== undefined) out.rows = patch.rows;
  if (patch.primarySocketId !== undefined) out.primarySocketId = patch.primarySocketId;
  if (patch.title !== undefined) out.title = patch.title;
  return out;
}

export function toRecord(row: TerminalSession): TerminalSessionRecord {
  return {
    id: row.id,
    userId: row.userId,
    title: row.title,
    shell: row.shell,
    cwd: row.cwd,
    cols: row.cols,
    rows: row.rows,
    serverId: row.serverId,
    primarySocketId: row.primarySocketId,
    status: row.status === RUNNING ? RUNNING : ENDED,
    version: row.version,
    exitCode: row.exitCode,
    endReason: row.endReason,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    lastActivityAt: row.lastActivityAt,
    endedAt: row.endedAt,
  };
}
