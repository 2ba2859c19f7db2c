// Sign-in, token checks and sign-out. Transport-independent: HTTP routes and the
// socket handshake both call this.
import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '../db/client.js';
import { createToken, findActiveTokenByHash, findUserByUsername, revokeToken } from '../db/users.js';
import { burnVerify, verifyPassword } from './passwords.js';
import { hashToken, looksLikeToken, newToken } from './tokens.js';

export interface AuthUser {
  id: string;
  username: string;
}

export interface Authenticated extends AuthUser {
  /** When the token used expires. */
  tokenExpiresAt: Date;
}

export class AuthService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly tokenTtlMs: number,
  ) {}

  /** Returns a new token, or null when the username or password is wrong. */
  async login(username: string, password: string): Promise<{ token: string; user: AuthUser; expiresAt: Date } | null> {
    const user = await findUserByUsername(this.prisma, username);
    if (!user) {
      await burnVerify(password);
      return null;
    }
    if (!(await verifyPassword(user.passwordHash, password))) return null;
    const token = newToken();
    const expiresAt = new Date(Date.now() + this.tokenTtlMs);
    await createToken(this.prisma, { id: randomUUID(), userId: user.id, tokenHash: hashToken(token), expiresAt });
    return { token, user: { id: user.id, username: user.username }, expiresAt };
  }

  /** The user a token belongs to, or null if it is unknown, expired or revoked. */
  async authenticate(token: unknown): Promise<Authenticated | null> {
    if (!looksLikeToken(token)) return null;
    const row = await findActiveTokenByHash(this.prisma, hashToken(token), new Date());
    return row ? { id: row.user.id, username: row.user.username, tokenExpiresAt: row.expiresAt } : null;
  }

  /** Which of these token hashes are still active (neither revoked nor expired). */
  async activeTokenHashes(tokenHashes: string[]): Promise<Set<string>> {
    const rows = await this.prisma.authToken.findMany({
      where: { tokenHash: { in: tokenHashes }, revokedAt: null, expiresAt: { gt: new Date() } },
      select: { tokenHash: true },
    });
    return new Set(rows.map((r) => r.tokenHash));
  }

  async logout(token: unknown): Promise<void> {
    if (!looksLikeToken(token)) return;
    await revokeToken(this.prisma, hashToken(token));
  }
}
