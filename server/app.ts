// Composition root: builds one ptyhub instance from its configuration, starts it, and
// stops it gracefully. main.ts and the tests both use this.
import fs from 'node:fs';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { AuthService } from './auth/auth-service.js';
import { hashToken } from './auth/tokens.js';
import { CONFIG_KEYS, redactUrl, type Config } from './config/env.js';
import { createPrismaClient } from './db/client.js';
import { applyMigrations } from './db/migrate.js';
import { registerAuthRoutes } from './http/auth-routes.js';
import { registerHealthRoute, type HealthReport } from './http/health-route.js';
import { createHttpServer } from './http/http-server.js';
import type { Logger } from './log/logger.js';
import { EndedElsewhereSweeper } from './cluster/ended-elsewhere.js';
import { OwnerLossWatcher } from './cluster/owner-loss.js';
import { OwnerRpc } from './cluster/owner-rpc.js';
import { createClusterAdapter } from './cluster/socket-adapter.js';
import {
  attachTerminalEvents,
  createSocketServer,
  socketEventSink,
  TERMINAL_ENDED,
  tokenRoomOf,
} from './socket/socket-server.js';
import { createStateBackends } from './state.js';
import { IdleReaper } from './terminals/idle-reaper.js';
import { LocalPtys } from './terminals/local-ptys.js';
import { PtyRouter } from './terminals/pty-router.js';
import { shellEnvironment } from './terminals/pty-process.js';
import { TerminalService } from './terminals/terminal-service.js';

export interface RunningApp {
  url: string;
  port: number;
  serverId: string;
  stop(reason?: string): Promise<void>;
}

export function defaultShell(config: Config): string {
  if (config.SHELL) return config.SHELL;
  if (process.env.SHELL && fs.existsSync(process.env.SHELL)) return process.env.SHELL;
  return fs.existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh';
}

export async function startApp(config: Config, logger: Logger): Promise<RunningApp> {
  const started = Date.now();
  const serverId = config.SERVER_ID;

  await applyMigrations(config.DATABASE_URL, logger);
  const prisma = createPrismaClient(config.DATABASE_URL);
  const auth = new AuthService(prisma, config.TOKEN_TTL_HOURS * 3600_000);
  const state = await createStateBackends(config, prisma, logger);
  const { redis, registry, store, locks } = state;
  const clustered = redis.enabled;

  const http = await createHttpServer({ logger, trustProxy: config.TRUST_PROXY });
  let shuttingDown = false;
  const io = createSocketServer(http.server, {
    allowedOrigins: config.ALLOWED_ORIGINS,
    auth,
    logger,
    extra: clustered ? { adapter: createClusterAdapter(redis, logger, config.REDIS_COMMAND_TIMEOUT_MS) } : undefined,
  });
  io.use((_socket, next) => next(shuttingDown ? new Error('shutting_down') : undefined));
  const sink = socketEventSink(io, clustered);

  // The service and the ptys refer to each other: exits are recorded by the service.
  let service: TerminalService | null = null;
  const finish = (id: string, code: number | null, signal: number | null, reason: string) =>
    service!.finish(id, code, signal, reason).catch((err: unknown) => logger.error({ err, terminalId: id }, 'recording the end failed'));
  const ptys = new LocalPtys({
    sink,
    env: shellEnvironment(process.env, CONFIG_KEYS),
    replayChars: config.REPLAY_BUFFER_CHARS,
    onEnded: (id, exit, reason) => finish(id, exit.exitCode, exit.signal, reason),
  });
  const router = new PtyRouter(serverId, ptys, {
    resize: (id, socketId, cols, rows) => service!.applyResize(id, socketId, cols, rows),
    endOrphan: (id, reason) => finish(id, null, null, reason),
  });
  service = new TerminalService({
    serverId,
    shell: defaultShell(config),
    cwd: config.TERMINAL_CWD ?? os.homedir(),
    maxTerminalsPerUser: config.MAX_TERMINALS_PER_USER,
    lockWaitMs: config.LOCK_WAIT_MS,
    lockTtlMs: config.LOCK_TTL_MS,
    store,
    registry,
    locks,
    sink,
    ptys: router,
    spawnLocal: (s) => ptys.spawn(s),
    resizePty: (id, cols, rows) => ptys.resize(id, cols, rows),
    logger,
  });
  const core = service;
  attachTerminalEvents(io, core, {
    eventsPerSecond: config.SOCKET_EVENTS_PER_SECOND,
    maxBufferedBytes: config.SOCKET_MAX_BUFFERED_BYTES,
    logger,
  });

  // ---- other instances ----
  let rpc: OwnerRpc | null = null;
  let ownerLoss: OwnerLossWatcher | null = null;
  let endedElsewhere: EndedElsewhereSweeper | null = null;
  if (clustered) {
    rpc = new OwnerRpc({
      redis,
      serverId,
      logger,
      timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS * 2,
      handle: async (op) => {
        switch (op.op) {
          case 'input':
            return ptys.input(op.terminalId, op.data);
          case 'resize':
            return core.applyResize(op.terminalId, op.socketId, op.cols, op.rows);
          case 'replay':
            return ptys.replay(op.terminalId);
          case 'close':
            return ptys.has(op.terminalId) ? ptys.end(op.terminalId, op.reason) : finish(op.terminalId, null, null, op.reason);
        }
      },
    });
    await rpc.start();
    router.remote = rpc;
    io.on(TERMINAL_ENDED as never, ((terminalId: string) => core.forgetLocal(terminalId)) as never);
    // Devices whose instance died: hand primary on and tell the remaining devices.
    state.reaper?.on('reaped', (removed) => {
      const byTerminal = new Map<string, string[]>();
      for (const r of removed) byTerminal.set(r.terminalId, [...(byTerminal.get(r.terminalId) ?? []), r.socketId]);
      for (const [terminalId, sockets] of byTerminal) {
        core.socketsLeft(terminalId, sockets).catch((err: unknown) => logger.warn({ err, terminalId }, 'could not update devices after an instance died'));
      }
    });
    ownerLoss = new OwnerLossWatcher({
      serverId,
      redis,
      store,
      heartbeatTtlMs: config.HEARTBEAT_TTL_MS,
      runningOwners: () => state.db.runningOwners(),
      isAlive: (id) => state.heartbeat!.isAlive(id),
      onLost: (terminalId) => core.announceEnded(terminalId, { exitCode: null, signal: null, reason: 'owner_lost' }),
      logger,
    });
    ownerLoss.start();
    endedElsewhere = new EndedElsewhereSweeper(ptys, store, config.HEARTBEAT_TTL_MS, logger);
    endedElsewhere.start();
  }

  // Terminals this instance owned before a restart have no pty any more: end them and
  // tell any device still attached elsewhere (their owner is gone, as after a crash).
  for (const s of await store.listRunningForServer(serverId)) {
    if (await store.end(s.id, { exitCode: null, reason: 'server_restart' })) {
      await core.announceEnded(s.id, { exitCode: null, signal: null, reason: 'owner_lost' });
    }
  }

  registerAuthRoutes(http, {
    auth,
    onLogout: (token) => {
      const room = tokenRoomOf(hashToken(token));
      io.local.in(room).disconnectSockets(true); // also during a Redis outage
      io.in(room).disconnectSockets(true);
    },
  });
  registerHealthRoute(http, async (): Promise<HealthReport> => {
    const t0 = Date.now();
    const database = await prisma.$queryRawUnsafe('SELECT 1').then(
      () => ({ ok: true, latencyMs: Date.now() - t0 }),
      (err: unknown) => ({ ok: false, error: String(err) }),
    );
    const redisHealth = redis.health();
    const degraded = redis.enabled && redisHealth.state !== 'ready';
    return {
      status: !database.ok ? 'unhealthy' : degraded ? 'degraded' : 'ok',
      serverId,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      database,
      redis: redisHealth,
      registry: { ...(await registry.getStats().catch(() => ({}))), backend: state.registryBackend() },
      sessions: { ...store.stats(), pendingInvalidations: store.pendingInvalidations() },
      terminals: ptys.size,
    };
  });

  // During a Redis outage the registry sees only this instance's devices: no verdicts then.
  const reaper = new IdleReaper(ptys, registry, config.TERMINAL_IDLE_TIMEOUT_MS, logger, () => !clustered || state.registryBackend() === 'redis');
  reaper.start();

  await http.listen({ host: config.HOST, port: config.PORT });
  const port = (http.server.address() as AddressInfo).port;
  // Bound to every interface: print an address a person can open on this machine.
  const shownHost = config.HOST === '0.0.0.0' || config.HOST === '::' ? 'localhost' : config.HOST;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  const users = await prisma.user.count();
  logger.info(
    {
      url,
      host: config.HOST,
      port,
      database: redactUrl(config.DATABASE_URL),
      state: state.registryBackend(),
      redis: !redis.enabled
        ? 'disabled'
        : config.REDIS_CLUSTER_NODES
          ? `cluster ${config.REDIS_CLUSTER_NODES.replace(/\/\/[^@,]*@/g, '//***@')}`
          : redactUrl(config.REDIS_URL ?? `redis://${config.REDIS_HOST}:${config.REDIS_PORT}`),
      serverId,
    },
    'listening',
  );
  logger.info(
    users === 0
      ? `No users yet. Create one with: npm run user:add -- <username>  (then sign in at ${url})`
      : `Sign in at ${url}`,
  );

  let stopping: Promise<void> | null = null;
  const stop = (reason = 'shutdown') =>
    (stopping ??= (async () => {
      shuttingDown = true;
      logger.info({ reason }, 'shutting down');
      reaper.stop();
      ownerLoss?.stop();
      endedElsewhere?.stop();
      // Only this instance's devices: the others stay connected where they are.
      io.local.emit('server:shutdown', { serverId, reason });
      await ptys.endAll('shutdown');
      io.local.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await http.close().catch(() => undefined);
      await rpc?.stop();
      await state.close();
      await prisma.$disconnect();
      logger.info('stopped');
    })());

  return { url, port, serverId, stop };
}
