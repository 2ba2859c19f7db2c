// The HTTP side: JSON API, health, the built browser client, and security headers.
import fs from 'node:fs';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';
import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { isDatabaseUnavailable } from '../db/deadline.js';
import type { Logger } from '../log/logger.js';
import { CLIENT_DIR } from '../paths.js';
import { RedisUnavailableError } from '../redis/types.js';

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // xterm.js sets inline styles on its elements.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export async function createHttpServer(opts: { logger: Logger; trustProxy: boolean | number | string }): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger type is richer than fastify's; the instance is the same pino logger.
    loggerInstance: opts.logger as unknown as FastifyBaseLogger,
    trustProxy: trustProxyOption(opts.trustProxy),
    bodyLimit: 16 * 1024,
    // Requests are not logged one by one (the socket traffic is what matters).
    logController: new LogController({ disableRequestLogging: true }),
  });
  // Error details (Prisma's text, SQL, paths) go to the log, never to the client.
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
      // fastify's own client errors (bad JSON, body too large): the message is about the request.
      return reply.code(err.statusCode).send({ error: { code: 'bad_request', message: err.message } });
    }
    if (isDatabaseUnavailable(err) || err instanceof RedisUnavailableError) {
      req.log.warn({ err, url: req.url }, 'request failed: a backing service is unavailable');
      return reply.code(503).header('retry-after', '2').send({ error: { code: 'unavailable', message: 'a backing service is unavailable; try again shortly' } });
    }
    req.log.error({ err, url: req.url }, 'request failed');
    return reply.code(500).send({ error: { code: 'internal', message: 'internal error' } });
  });
  app.addHook('onSend', async (_req, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy', CSP);
  });
  if (fs.existsSync(path.join(CLIENT_DIR, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: CLIENT_DIR,
      index: 'index.html',
      // Source maps are for developers (`npx vite`), not for whoever can reach the server.
      allowedPath: (pathName) => !pathName.endsWith('.map'),
    });
  } else {
    app.get('/', async (_req, reply) =>
      reply.code(503).type('text/plain').send('The browser client is not built. Run `npm run build`.'),
    );
  }
  return app;
}

/**
 * The client's address of a raw request (the WebSocket handshake), by the same
 * TRUST_PROXY rule as fastify's `req.ip` for HTTP requests.
 */
export function clientAddressOf(trustProxy: boolean | number | string): (req: IncomingMessage) => string {
  const opt = trustProxyOption(trustProxy);
  const trust = typeof opt === 'function' ? opt : opt === true ? () => true : opt === false ? () => false : proxyAddr.compile(opt);
  return (req) => proxyAddr(req, trust);
}

/** TRUST_PROXY as fastify takes it: a hop count becomes "trust the nearest N hops". */
function trustProxyOption(value: boolean | number | string): boolean | string[] | ((addr: string, hop: number) => boolean) {
  if (typeof value === 'number') return (_addr, hop) => hop < value;
  if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
  return value;
}
