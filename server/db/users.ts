// Thin repository for users and bearer tokens (tokens are stored as hashes only).
import type { AuthToken, PrismaClient, User } from './client.js';

export type AuthTokenWithUser = AuthToken & { user: User };

export function createUser(
  prisma: PrismaClient,
  input: { id: string; username: string; passwordHash: string; osUser?: string | null },
): Promise<User> {
  return prisma.user.create({ data: input });
}

export function findUserByUsername(prisma: PrismaClient, username: string): Promise<User | null> {
  return prisma.user.findUnique({ where: { username } });
}

export function findUserById(prisma: PrismaClient, id: string): Promise<User | null> {
  return prisma.user.findUnique({ where: { id } });
}

export function createToken(
  prisma: PrismaClient,
  input: { id: string; userId: string; tokenHash: string; expiresAt: Date },
): Promise<AuthToken> {
  return prisma.authToken.create({ data: input });
}

/** A token that is neither revoked nor expired at `now`, with its user. */
export function findActiveTokenByHash(
  prisma: PrismaClient,
  tokenHash: string,
  now: Date,
): Promise<AuthTokenWithUser | null> {
  return prisma.authToken.findFirst({
    where: { tokenHash, revokedAt: null, expiresAt: { gt: now } },
    include: { user: true },
  });
}

/** Returns whether a live token was revoked (false if unknown or already revoked). */
export async function revokeToken(prisma: PrismaClient, tokenHash: string, at: Date = new Date()): Promise<boolean> {
  const { count } = await prisma.authToken.updateMany({
    where: { tokenHash, revokedAt: null },
    data: { revokedAt: at },
  });
  return count > 0;
}
