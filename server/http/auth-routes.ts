// POST /api/login, POST /api/logout, GET /api/me.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuthService } from '../auth/auth-service.js';
import { TokenBucket } from '../socket/event-queue.js';
import { LoginThrottle, type SignInThrottle } from '../auth/login-throttle.js';
import { audit } from '../log/audit.js';
import type { Metrics } from '../metrics/metrics.js';

const loginBody = z.object({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
});

/** The bearer token of a request, from the Authorization header only (never the URL). */
export function bearerToken(req: FastifyRequest): string | null {
  const header = req.headers.authorization;
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1] ?? null;
}

export function registerAuthRoutes(
  app: FastifyInstance,
  deps: { auth: AuthService; onLogout: (token: string) => void; throttle?: SignInThrottle; metrics: Metrics },
): void {
  const throttle = deps.throttle ?? new LoginThrottle();
  // A guessing burst is refused hundreds of times a second: log a little of it.
  const throttledLog = new TokenBucket(1, 10);
  app.post('/api/login', async (req, reply) => {
    const parsed = loginBody.safeParse(req.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: { code: 'bad_request', message: 'expected JSON { "username", "password" }' } });
    }
    const { username, password } = parsed.data;
    // Counted before the password is checked: concurrent guesses cannot outrun the count.
    const waitMs = await throttle.begin(req.ip, username);
    if (waitMs > 0) {
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      if (throttledLog.take()) req.log.warn({ username, ip: req.ip, retryAfterSeconds }, 'sign-in throttled');
      deps.metrics.signIns.inc({ outcome: 'throttled' });
      audit(req.log, 'sign_in_failed', { username, address: req.ip, reason: 'throttled' });
      return reply
        .code(429)
        .header('retry-after', String(retryAfterSeconds))
        .send({ error: { code: 'rate_limited', message: 'too many failed sign-ins; try again later', retryAfterSeconds } });
    }
    const result = await deps.auth.login(username, password);
    if (!result) {
      req.log.info({ username, ip: req.ip }, 'failed sign-in');
      deps.metrics.signIns.inc({ outcome: 'failure' });
      audit(req.log, 'sign_in_failed', { username, address: req.ip, reason: 'wrong_credentials' });
      return reply.code(401).send({ error: { code: 'unauthorized', message: 'wrong username or password' } });
    }
    await throttle.succeeded(req.ip, username);
    req.log.info({ userId: result.user.id }, 'signed in');
    deps.metrics.signIns.inc({ outcome: 'success' });
    audit(req.log, 'sign_in_succeeded', { userId: result.user.id, username: result.user.username, address: req.ip });
    return { token: result.token, user: result.user, expiresAt: result.expiresAt.toISOString() };
  });

  app.post('/api/logout', async (req, reply) => {
    const token = bearerToken(req);
    if (token) {
      // Who signed out, for the audit trail (null: the token was unknown or already dead).
      const user = await deps.auth.authenticate(token);
      await deps.auth.logout(token);
      deps.onLogout(token);
      if (user) audit(req.log, 'token_revoked', { userId: user.id, username: user.username, address: req.ip, reason: 'logout' });
    }
    return reply.code(204).send();
  });

  app.get('/api/me', async (req, reply) => {
    const user = await deps.auth.authenticate(bearerToken(req));
    if (!user) return reply.code(401).send({ error: { code: 'unauthorized', message: 'sign in first' } });
    return { user: { id: user.id, username: user.username }, expiresAt: user.tokenExpiresAt.toISOString() };
  });
}
