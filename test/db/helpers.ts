// Fresh, migrated test databases: SQLite in a temp dir by default, or any URL (the
// PostgreSQL tests pass a new database on their private server).
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPrismaClient, type PrismaClient } from '../../server/db/client.js';
import { applyMigrations } from '../../server/db/migrate.js';
import { createUser } from '../../server/db/users.js';
import { newSessionId } from '../../server/sessions/session-id.js';
import type { NewSession } from '../../server/sessions/types.js';

export async function makeTempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ptyhub-db-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface TestDb {
  url: string;
  prisma: PrismaClient;
  /** Another client on the same database: a second connection, as another instance would have. */
  openClient(): PrismaClient;
  addUser(): Promise<string>;
  close(): Promise<void>;
}

/** Migrates `url` (default: a new SQLite file in a temp dir) and opens a client on it. */
export async function openTestDb(url?: string): Promise<TestDb> {
  const tmp = url === undefined ? await makeTempDir() : null;
  const dbUrl = tmp ? `file:${path.join(tmp.dir, 'db', 'ptyhub.db')}` : (url ?? '');
  await applyMigrations(dbUrl);
  const clients: PrismaClient[] = [];
  const openClient = () => {
    const client = createPrismaClient(dbUrl);
    clients.push(client);
    return client;
  };
  const prisma = openClient();
  return {
    url: dbUrl,
    prisma,
    openClient,
    async addUser() {
      const id = randomUUID();
      await createUser(prisma, { id, username: `user-${id}`, passwordHash: 'x' });
      return id;
    },
    async close() {
      await Promise.all(clients.map((c) => c.$disconnect()));
      await tmp?.cleanup();
    },
  };
}

/** A new session of `userId` with ordinary values; `over` changes any of them. */
export function sessionFixture(userId: string, over: Partial<NewSession> = {}): NewSession {
  return {
    id: newSessionId(),
    userId,
    title: 'bash',
    shell: '/bin/bash',
    cwd: '/tmp',
    cols: 80,
    rows: 24,
    serverId: `srv-${randomUUID()}`,
    ...over,
  };
}
