// A fresh, migrated SQLite database in a temp dir, per test file.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPrismaClient, type PrismaClient } from '../../server/db/client.js';
import { applyMigrations } from '../../server/db/migrate.js';
import { createUser } from '../../server/db/users.js';

export async function makeTempDir(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ptyhub-db-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface TestDb {
  url: string;
  prisma: PrismaClient;
  /** Another client on the same file: a second connection, as another instance would have. */
  openClient(): PrismaClient;
  addUser(): Promise<string>;
  close(): Promise<void>;
}

export async function openTestDb(): Promise<TestDb> {
  const tmp = await makeTempDir();
  const url = `file:${path.join(tmp.dir, 'db', 'ptyhub.db')}`;
  await applyMigrations(url);
  const clients: PrismaClient[] = [];
  const openClient = () => {
    const client = createPrismaClient(url);
    clients.push(client);
    return client;
  };
  const prisma = openClient();
  return {
    url,
    prisma,
    openClient,
    async addUser() {
      const id = randomUUID();
      await createUser(prisma, { id, username: `user-${id}`, passwordHash: 'x' });
      return id;
    },
    async close() {
      await Promise.all(clients.map((c) => c.$disconnect()));
      await tmp.cleanup();
    },
  };
}
