// POST /api/login, POST /api/logout, GET /api/me.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuthService } from '../auth/auth-service.js';
import { LoginThrottle } from '../auth/login-throttle.js';

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
  deps: { auth: AuthService; onLogout: (token: string) => void; throttle?: LoginThrottle },
): void {
  const throttle = deps.throttle ?? new LoginThrottle();
  app.post('/api/login', async (req, reply) => {
    const parsed = loginBody.safeParse(req.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: { code: 'bad_request', message: 'expected JSON { "username", "password" }' } });
    }
    const { username, password } = parsed.data;
    const waitMs = throttle.retryAfterMs(req.ip, username);
    if (waitMs > 0) {
      req.log.warn({ username, ip: req.ip }, 'sign-in throttled');
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      return reply
        .code(429)
        .header('retry-after', String(retryAfterSeconds))
        .send({ error: { code: 'rate_limited', message: 'too many failed sign-ins; try again later' }, retryAfterSeconds });
    }
    const result = await deps.auth.login(username, password);
    if (!result) {
      throttle.recordFailure(req.ip, username);
      req.log.info({ username, ip: req.ip }, 'failed sign-in');
      return reply.code(401).send({ error: { code: 'unauthorized', message: 'wrong username or password' } });
    }
    throttle.recordSuccess(req.ip, username);
    req.log.info({ userId: result.user.id }, 'signed in');
    return { token: result.token, user: result.user, expiresAt: result.expiresAt.toISOString() };
  });

  app.post('/api/logout', async (req, reply) => {
    const token = bearerToken(req);
    if (token) {
      await deps.auth.logout(token);
      deps.onLogout(token);
    }
    return reply.code(204).send();
  });

  app.get('/api/me', async (req, reply) => {
    const user = await deps.auth.authenticate(bearerToken(req));
    if (!user) return reply.code(401).send({ error: { code: 'unauthorized', message: 'sign in first' } });
    return { user: { id: user.id, username: user.username }, expiresAt: user.tokenExpiresAt.toISOString() };
  });
}
