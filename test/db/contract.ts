// The database contract, run against every provider: session-store.test.ts and
// users.test.ts on SQLite, postgres.test.ts on PostgreSQL.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createToken,
  createUser,
  findActiveTokenByHash,
  findUserById,
  findUserByUsername,
  revokeToken,
} from '../../server/db/users.js';
import { DbSessionStore } from '../../server/sessions/db-store.js';
import { VersionConflictError } from '../../server/sessions/types.js';
import { sessionFixture, type TestDb } from './helpers.js';

const HOUR = 3_600_000;

const newSession = sessionFixture;

async function conflictOf(p: Promise<unknown>): Promise<VersionConflictError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(VersionConflictError);
  return err as VersionConflictError;
}

/** DbSessionStore on the database `db()` returns (opened by the caller's beforeAll). */
export function sessionStoreContract(db: () => TestDb): void {
  describe('DbSessionStore', () => {
    let store: DbSessionStore;
    beforeAll(() => {
      store = new DbSessionStore(db().prisma);
    });

    it('creates a running session at version 1 and gets it back', async () => {
      const input = newSession(await db().addUser());
      const created = await store.create(input);
      expect(created).toMatchObject({ ...input, status: 'running', version: 1, primarySocketId: null });
      expect(created.exitCode).toBeNull();
      expect(created.endedAt).toBeNull();
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(await store.get(input.id)).toEqual(created);
      expect(await store.get(randomUUID())).toBeNull();
    });

    it('update applies the patch and increments the version', async () => {
      const s = await store.create(newSession(await db().addUser()));
      const a = await store.update(s.id, 1, { cols: 120, rows: 40 });
      expect(a).toMatchObject({ cols: 120, rows: 40, title: 'bash', version: 2 });
      const b = await store.update(s.id, 2, { primarySocketId: 'sock-1', title: 'build' });
      expect(b).toMatchObject({ cols: 120, primarySocketId: 'sock-1', title: 'build', version: 3 });
      const c = await store.update(s.id, 3, { primarySocketId: null });
      expect(c).toMatchObject({ primarySocketId: null, version: 4 });
      expect(await store.get(s.id)).toEqual(c);
    });

    it('rejects a stale version with the actual one and changes nothing', async () => {
      const s = await store.create(newSession(await db().addUser()));
      await store.update(s.id, 1, { cols: 100 });
      const err = await conflictOf(store.update(s.id, 1, { cols: 1 }));
      expect(err).toMatchObject({ code: 'conflict', terminalId: s.id, expected: 1, actual: 2 });
      expect(await store.get(s.id)).toMatchObject({ cols: 100, version: 2 });
      expect((await conflictOf(store.update(randomUUID(), 1, {}))).actual).toBeNull();
    });

    it('lets exactly one of many concurrent writers with the same version win', async () => {
      const s = await store.create(newSession(await db().addUser()));
      // Writers on separate connections, as separate instances would be.
      const stores = [store, new DbSessionStore(db().openClient()), new DbSessionStore(db().openClient())];
      const attempts = Array.from({ length: 12 }, (_, i) => stores[i % stores.length]!.update(s.id, 1, { cols: 100 + i }));
      const results = await Promise.allSettled(attempts);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(11);
      for (const r of lost) expect(r.reason).toMatchObject({ name: 'VersionConflictError', actual: 2 });
      expect((await store.get(s.id))?.version).toBe(2);
    });

    it('end increments the version once; afterwards get is null and updates conflict', async () => {
      const s = await store.create(newSession(await db().addUser()));
      const ended = await store.end(s.id, { exitCode: 3, reason: 'exit' });
      expect(ended).toMatchObject({ id: s.id, status: 'ended', version: 2, exitCode: 3, endReason: 'exit' });
      expect(ended?.endedAt).toBeInstanceOf(Date);
      expect(await store.get(s.id)).toBeNull();
      expect(await store.end(s.id, { exitCode: null, reason: 'again' })).toBeNull();
      expect(await store.end(randomUUID(), { exitCode: null, reason: 'missing' })).toBeNull();
      const err = await conflictOf(store.update(s.id, 2, { cols: 1 }));
      expect(err.actual).toBeNull();
    });

    it('lists and counts running sessions per user, oldest first', async () => {
      const userId = await db().addUser();
      const other = await db().addUser();
      // Made one after another, most within the same millisecond: the order must still hold.
      const made: string[] = [];
      for (let i = 0; i < 12; i++) made.push((await store.create(newSession(userId))).id);
      await store.create(newSession(other));
      const gone = made.splice(5, 1)[0]!;
      await store.end(gone, { exitCode: 0, reason: 'exit' });

      expect((await store.listRunningForUser(userId)).map((s) => s.id)).toEqual(made);
      expect(await store.countRunningForUser(userId)).toBe(11);
      expect(await store.countRunningForUser(other)).toBe(1);
      expect(await store.countRunningForUser(randomUUID())).toBe(0);
    });

    it('lists running sessions per server', async () => {
      const userId = await db().addUser();
      const serverId = `srv-${randomUUID()}`;
      const a = await store.create(newSession(userId, { serverId }));
      const b = await store.create(newSession(userId, { serverId }));
      await store.create(newSession(userId));
      await store.end(a.id, { exitCode: null, reason: 'killed' });
      expect((await store.listRunningForServer(serverId)).map((s) => s.id)).toEqual([b.id]);
    });

    it('touch records activity without a new version', async () => {
      const s = await store.create(newSession(await db().addUser()));
      const at = new Date(s.lastActivityAt.getTime() + 60_000);
      await store.touch(s.id, at);
      expect(await store.get(s.id)).toMatchObject({ version: 1, lastActivityAt: at });
      await store.touch(randomUUID(), at); // unknown ids are ignored
    });

    it('reports no cache', () => {
      expect(store.stats()).toEqual({ cache: 'none', hits: 0, misses: 0, errors: 0 });
    });
  });
}

/** The users repository on the database `db()` returns. */
export function usersContract(db: () => TestDb): void {
  describe('users repository', () => {
    it('creates and finds users; usernames are unique', async () => {
      const id = randomUUID();
      const username = `alice-${id}`;
      await createUser(db().prisma, { id, username, passwordHash: 'h' });
      expect(await findUserByUsername(db().prisma, username)).toMatchObject({ id, username, passwordHash: 'h' });
      expect(await findUserById(db().prisma, id)).toMatchObject({ id, username });
      expect(await findUserByUsername(db().prisma, 'nobody')).toBeNull();
      await expect(createUser(db().prisma, { id: randomUUID(), username, passwordHash: 'x' })).rejects.toMatchObject({
        code: 'P2002',
      });
    });

    it('finds only live tokens, with their user', async () => {
      const userId = await db().addUser();
      const now = new Date();
      const live = `hash-${randomUUID()}`;
      const expired = `hash-${randomUUID()}`;
      await createToken(db().prisma, { id: randomUUID(), userId, tokenHash: live, expiresAt: new Date(now.getTime() + HOUR) });
      await createToken(db().prisma, { id: randomUUID(), userId, tokenHash: expired, expiresAt: new Date(now.getTime() - 1) });

      const found = await findActiveTokenByHash(db().prisma, live, now);
      expect(found).toMatchObject({ tokenHash: live, userId, revokedAt: null, user: { id: userId } });
      expect(await findActiveTokenByHash(db().prisma, expired, now)).toBeNull();
      expect(await findActiveTokenByHash(db().prisma, 'unknown', now)).toBeNull();

      expect(await revokeToken(db().prisma, live)).toBe(true);
      expect(await revokeToken(db().prisma, live)).toBe(false);
      expect(await findActiveTokenByHash(db().prisma, live, now)).toBeNull();
    });
  });
}
