// Terminal sessions as the rest of ptyhub sees them. The database is the source of
// truth; a store may put a cache in front (see cached-store.ts), with the same API.

export type SessionStatus = 'running' | 'ended';

export interface TerminalSessionRecord {
  id: string;
  userId: string;
  title: string;
  shell: string;
  cwd: string;
  cols: number;
  rows: number;
  serverId: string;
  primarySocketId: string | null;
  status: SessionStatus;
  /** Integer incremented by the database on every change. */
  version: number;
  exitCode: number | null;
  endReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  lastActivityAt: Date;
  endedAt: Date | null;
}

/** What creating a session takes; the database fills in the rest. */
export type NewSession = Pick<TerminalSessionRecord, 'id' | 'userId' | 'title' | 'shell' | 'cwd' | 'cols' | 'rows' | 'serverId'>;

/** Fields a versioned update may change. */
export interface SessionPatch {
  cols?: number;
  rows?: number;
  primarySocketId?: string | null;
  title?: string;
}

export interface EndInfo {
  exitCode: number | null;
  reason: string;
}

/** The version the caller expected is not the one in the database. */
export class VersionConflictError extends Error {
  readonly code = 'conflict' as const;
  constructor(
    readonly terminalId: string,
    readonly expected: number,
    readonly actual: number | null,
  ) {
    super(`terminal ${terminalId}: expected version ${expected}, found ${actual ?? 'none (ended or missing)'}`);
    this.name = 'VersionConflictError';
  }
}

export interface SessionStoreStats {
  cache: 'none' | 'redis';
  hits: number;
  misses: number;
  errors: number;
}

export interface SessionStore {
  create(input: NewSession): Promise<TerminalSessionRecord>;
  /** A running session, or null when it is missing, ended or tombstoned. */
  get(id: string): Promise<TerminalSessionRecord | null>;
  /** Running sessions of a user, oldest first (always from the database). */
  listRunningForUser(userId: string): Promise<TerminalSessionRecord[]>;
  countRunningForUser(userId: string): Promise<number>;
  /** Running sessions owned by an instance (always from the database). */
  listRunningForServer(serverId: string): Promise<TerminalSessionRecord[]>;
  /**
   * Apply a patch if the database still holds `expectedVersion`; the version becomes
   * expectedVersion + 1. Throws VersionConflictError otherwise (also when ended).
   */
  update(id: string, expectedVersion: number, patch: SessionPatch): Promise<TerminalSessionRecord>;
  /** Mark ended (version + 1). Returns null if it was already ended or missing. */
  end(id: string, info: EndInfo): Promise<TerminalSessionRecord | null>;
  /** Record activity (not a versioned change; callers throttle). */
  touch(id: string, at: Date): Promise<void>;
  stats(): SessionStoreStats;
}
