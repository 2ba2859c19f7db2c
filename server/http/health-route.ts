// GET /healthz: 200 while this instance can serve (Redis may be degraded: it then runs
// on its in-memory fallback), 503 when the database is unreachable.
import type { FastifyInstance } from 'fastify';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'unhealthy';
  [key: string]: unknown;
}

export function registerHealthRoute(app: FastifyInstance, report: () => Promise<HealthReport>): void {
  app.get('/healthz', async (_req, reply) => {
    const body = await report();
    return reply
      .code(body.status === 'unhealthy' ? 503 : 200)
      .header('cache-control', 'no-store')
      .send(body);
  });
}
