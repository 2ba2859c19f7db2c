import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createToken,
  createUser,
  findActiveTokenByHash,
  findUserById,
  findUserByUsername,
  revokeToken,
} from '../../server/db/users.js';
import { openTestDb, type TestDb } from './helpers.js';

let db: TestDb;
beforeAll(async () => {
  db = await openTestDb();
});
afterAll(() => db.close());

const HOUR = 3_600_000;

describe('users repository', () => {
  it('creates and finds users; usernames are unique', async () => {
    const id = randomUUID();
    const username = `alice-${id}`;
    await createUser(db.prisma, { id, username, passwordHash: 'h' });
    expect(await findUserByUsername(db.prisma, username)).toMatchObject({ id, username, passwordHash: 'h' });
    expect(await findUserById(db.prisma, id)).toMatchObject({ id, username });
    expect(await findUserByUsername(db.prisma, 'nobody')).toBeNull();
    await expect(createUser(db.prisma, { id: randomUUID(), username, passwordHash: 'x' })).rejects.toMatchObject({
      code: 'P2002',
    });
  });

  it('finds only live tokens, with their user', async () => {
    const userId = await db.addUser();
    const now = new Date();
    const live = `hash-${randomUUID()}`;
    const expired = `hash-${randomUUID()}`;
    await createToken(db.prisma, { id: randomUUID(), userId, tokenHash: live, expiresAt: new Date(now.getTime() + HOUR) });
    await createToken(db.prisma, { id: randomUUID(), userId, tokenHash: expired, expiresAt: new Date(now.getTime() - 1) });

    const found = await findActiveTokenByHash(db.prisma, live, now);
    expect(found).toMatchObject({ tokenHash: live, userId, revokedAt: null, user: { id: userId } });
    expect(await findActiveTokenByHash(db.prisma, expired, now)).toBeNull();
    expect(await findActiveTokenByHash(db.prisma, 'unknown', now)).toBeNull();

    expect(await revokeToken(db.prisma, live)).toBe(true);
    expect(await revokeToken(db.prisma, live)).toBe(false);
    expect(await findActiveTokenByHash(db.prisma, live, now)).toBeNull();
  });
});
