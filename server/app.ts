// Composition root: builds one ptyhub instance from its configuration, starts it, and
// stops it gracefully. main.ts and the tests both use this.
import fs from 'node:fs';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { AuthService } from './auth/auth-service.js';
import { LoginThrottle, RedisLoginThrottle } from './auth/login-throttle.js';
import { TokenRechecker } from './auth/token-recheck.js';
import { hashToken } from './auth/tokens.js';
import type { ExitReason } from '../common/protocol.js';
import { redactUrl, type Config } from './config/env.js';
import { accountModeNotice, osAccountOf, sharedModeWarning } from './config/user-mode.js';
import { createPrismaClient } from './db/client.js';
import { probeDatabase } from './db/health-probe.js';
import { applyMigrationsIsolated } from './db/migrate-isolated.js';
import { registerAuthRoutes } from './http/auth-routes.js';
import { registerHealthRoute, type HealthReport } from './http/health-route.js';
import { clientAddressOf, createHttpServer } from './http/http-server.js';
import { audit } from './log/audit.js';
import { UsageLimiter } from './socket/usage-limits.js';
import type { Logger } from './log/logger.js';
import { meteredLocks, meteredOwnerOps, meteredSink } from './metrics/instrument.js';
import { Metrics } from './metrics/metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics/metrics-server.js';
import { EndedElsewhereSweeper } from './cluster/ended-elsewhere.js';
import { OwnerLossWatcher } from './cluster/owner-loss.js';
import { ClusterChannel } from './cluster/cluster-channel.js';
import { RemoteWatchers } from './cluster/remote-watchers.js';
import { announceRestart, clearRestartNotice, isRestarting } from './cluster/restart-notice.js';
import { createClusterAdapter } from './cluster/socket-adapter.js';
import { MechanismHealthBoard } from './log/failure-reporter.js';
import {
  attachTerminalEvents,
  attachedDeviceCount,
  createSocketServer,
  markDisconnectReason,
  socketEventSink,
  tokenRoomOf,
} from './socket/socket-server.js';
import { Closers } from './lifecycle.js';
import { createStateBackends } from './state.js';
import { IdleReaper } from './terminals/idle-reaper.js';
import { HostPtys } from './pty-host-client/host-ptys.js';
import { hostPaths } from './pty-protocol/host-paths.js';
import { FlowReports, FLOW_REFRESH_MS, FLOW_STALE_MS } from './cluster/flow-reports.js';
import { tapOutput } from './socket/output-tap.js';
import { FlowControl, FLOW_MAX_LAG_BYTES, FLOW_WINDOW_BYTES } from './terminals/flow-control.js';
import { FlowGate } from './terminals/flow-gate.js';
import { PtyRouter } from './terminals/pty-router.js';
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

export interface StartOptions {
  /** The migrations were applied before start (account mode: by root, before dropping privileges). */
  migrated?: boolean;
}

export async function startApp(config: Config, logger: Logger, opts: StartOptions = {}): Promise<RunningApp> {
  const started = Date.now();
  const closers = new Closers();
  try {
    return await build(config, logger, closers, started, opts);
  } catch (err) {
    await closers.closeAll(logger); // whatever started before the failure
    throw err;
  }
}

async function build(config: Config, logger: Logger, closers: Closers, started: number, opts: StartOptions): Promise<RunningApp> {
  const serverId = config.SERVER_ID;
  if (!opts.migrated) await applyMigrationsIsolated(config.DATABASE_URL, logger);
  const prisma = createPrismaClient(config.DATABASE_URL, { timeoutMs: config.DB_TIMEOUT_MS });
  closers.add('database', () => prisma.$disconnect());
  const auth = new AuthService(prisma, config.TOKEN_TTL_HOURS * 3600_000);
  const metrics = new Metrics();
  const state = await createStateBackends(config, prisma, logger, metrics);
  closers.add('shared state', () => state.close());
  const { redis, registry, store, locks } = state;
  const clustered = redis.enabled;
  const mechanisms = new MechanismHealthBoard(logger);

  const http = await createHttpServer({ logger, trustProxy: config.TRUST_PROXY });
  // socket.io's close() closes the http server too; fastify's close then only finishes up.
  closers.add('http', () => http.close().catch(() => undefined));
  let shuttingDown = false;
  const limiter = new UsageLimiter(
    {
      socketsPerUser: config.MAX_SOCKETS_PER_USER,
      socketsPerAddress: config.MAX_SOCKETS_PER_ADDRESS,
      eventsPerSecondPerUser: config.USER_EVENTS_PER_SECOND,
      eventsPerSecondPerAddress: config.ADDRESS_EVENTS_PER_SECOND,
    },
    clustered ? redis : null,
    logger,
  );
  const io = createSocketServer(http.server, {
    limits: { limiter, addressOf: clientAddressOf(config.TRUST_PROXY) },
    allowedOrigins: config.ALLOWED_ORIGINS,
    auth,
    logger,
    extra: clustered
      ? {
          adapter: createClusterAdapter(redis, logger, config.REDIS_COMMAND_TIMEOUT_MS, mechanisms.reporter('crossInstanceBroadcast', 'cross-instance broadcast'), () => {
            logger.info('redis: broadcast subscriber back; re-syncing devices of remote terminals');
            service?.resyncRemoteDevices().catch((err: unknown) => logger.warn({ err }, 'output re-sync failed'));
          }),
        }
      : undefined,
  });
  io.use((_socket, next) => next(shuttingDown ? new Error('shutting_down') : undefined));
  closers.add('socket.io', () => new Promise<void>((resolve) => io.close(() => resolve())));

  // Events flow up (pty exits are recorded by the service, forwarded operations reach
  // the router) and commands down; the upward ports are closures over what is built below.
  let service: TerminalService | null = null;
  // Output of this instance's terminals goes through Redis only while a device on another
  // instance reads it (that instance asks for the replay first, which marks it a watcher).
  const watchers: RemoteWatchers | null = clustered
    ? new RemoteWatchers({
        serverId,
        registry,
        localTerminals: () => ptys.ids(),
        registryShared: () => state.registryBackend() === 'redis',
        // Half the heartbeat: a watcher gone with its instance is dropped about when the instance is.
        intervalMs: Math.max(500, config.HEARTBEAT_TTL_MS / 2),
        logger,
        failures: mechanisms.reporter('remoteWatchersSweep', 'remote watchers sweep'),
      })
    : null;
  // Other instances reach this one's terminals, and hear of ends, over one cluster channel.
  const channel: ClusterChannel | null = clustered
    ? new ClusterChannel({
        redis,
        serverId,
        logger,
        timeoutMs: config.REDIS_COMMAND_TIMEOUT_MS * 2,
        // Checked at start-up (requireClusterSecret) whenever Redis is enabled.
        secret: config.CLUSTER_SECRET ?? '',
        // Forwarded operations run exactly as local ones do: through the router's owner side.
        handle: (op, from): Promise<unknown> => {
          if (op.op === 'replay') watchers!.watch(op.terminalId, from);
          return router.serve(op);
        },
        onEvent: (event) => service!.forgetLocal(event.terminalId),
        onTimeout: (op) => metrics.ownerRpcTimeouts.inc({ op }),
      })
    : null;
  const sink = meteredSink(
    socketEventSink(io, (terminalId) => channel?.broadcast({ type: 'terminal-ended', terminalId })),
    metrics,
  );

  const finish = (id: string, code: number | null, signal: number | null, reason: ExitReason) =>
    (flowGate.forget(id), service!.finish(id, code, signal, reason)).catch((err: unknown) => logger.error({ err, terminalId: id }, 'recording the end failed'));
  // The ptys run in this instance's pty host process, so they outlive this process.
  const ptys = new HostPtys({
    paths: hostPaths(config),
    serverId,
    logger: logger.child({ component: 'pty-host-client' }),
    timeoutMs: 15_000,
    startHost: config.PTY_HOST_START === 'auto',
    onOutput: (terminalId, offset, data) =>
      watchers && !watchers.isWatched(terminalId)
        ? sink.toTerminalHere(terminalId, 'terminal:output', { terminalId, data, offset })
        : sink.toTerminal(terminalId, 'terminal:output', { terminalId, data, offset }),
    onEnded: (id, exit, reason) => finish(id, exit.exitCode, exit.signal, reason),
  });
  // Flow control: credits of this instance's devices (FlowControl, fed by the output as
  // it goes out and by the devices' acks); the pause of this instance's ptys (FlowGate).
  const flowGate = new FlowGate({
    serverId,
    staleMs: FLOW_STALE_MS,
    localLimit: (id) => flow.limit(id),
    setLimit: (id, limit) => ptys.setFlowLimit(id, limit),
  });
  const flowReports = new FlowReports({
    serverId,
    gate: flowGate,
    send: channel && ((owner, id, state) => channel.reportFlow(owner, id, state)),
    refreshMs: FLOW_REFRESH_MS,
    logger,
  });
  const flow = new FlowControl({
    windowBytes: FLOW_WINDOW_BYTES,
    maxLagBytes: FLOW_MAX_LAG_BYTES,
    onState: (id, owner, state) => flowReports.report(id, owner, state),
    onCredit: (id, owner) => flowReports.credit(id, owner),
    onStream: (socketId, terminalId, streaming, end) => {
      logger.debug({ socketId, terminalId, streaming, end }, streaming ? 'flow control: device back in the output stream' : 'flow control: device too far behind; out of the output stream');
      if (!streaming) return sink.leave(socketId, terminalId);
      sink.join(socketId, terminalId);
      // Where the output stands: a device that missed some sees the gap and re-syncs.
      sink.toSocket(socketId, 'terminal:output', { terminalId, data: new Uint8Array(0), offset: end });
    },
  });
  tapOutput(io, (id, end) => flow.output(id, end));
  flowReports.start(flow);
  closers.add('flow control', () => flowReports.stop());
  const router: PtyRouter = new PtyRouter(
    serverId,
    ptys,
    {
      resize: (id, socketId, cols, rows) => service!.applyResize(id, socketId, cols, rows),
      endOrphan: (id, reason) => finish(id, null, null, reason),
      flow: (id, from, state) => flowReports.receive(id, from, state),
    },
    channel && meteredOwnerOps(channel, metrics),
  );
  service = new TerminalService({
    serverId,
    shell: defaultShell(config),
    cwd: config.TERMINAL_CWD ?? os.homedir(),
    maxTerminalsPerUser: config.MAX_TERMINALS_PER_USER,
    lockWaitMs: config.LOCK_WAIT_MS,
    lockTtlMs: config.LOCK_TTL_MS,
    store,
    registry,
    locks: meteredLocks(locks, metrics),
    sink,
    owner: router,
    ptys,
    osAccountOf: config.TERMINAL_USER_MODE === 'account' ? (userId) => osAccountOf(prisma, userId) : undefined,
    flow,
    logger,
  });
  const core = service;
  attachTerminalEvents(io, core, {
    eventsPerSecond: config.SOCKET_EVENTS_PER_SECOND,
    maxBufferedBytes: config.SOCKET_MAX_BUFFERED_BYTES,
    logger,
    metrics,
  });

  // ---- other instances ----

  if (channel) {
    await channel.start();
    closers.add('cluster channel', () => channel.stop());
    // Devices whose instance died: hand primary on and tell the remaining devices.
    state.reaper?.on('reaped', (removed) => {
      const byTerminal = new Map<string, string[]>();
      for (const r of removed) byTerminal.set(r.terminalId, [...(byTerminal.get(r.terminalId) ?? []), r.socketId]);
      for (const [terminalId, sockets] of byTerminal) {
        core.socketsLeft(terminalId, sockets).catch((err: unknown) => logger.warn({ err, terminalId }, 'could not update devices after an instance died'));
      }
    });
    const ownerLoss = new OwnerLossWatcher({
      serverId,
      redis,
      store,
      heartbeatTtlMs: config.HEARTBEAT_TTL_MS,
      runningOwners: () => state.db.runningOwners(),
      isAlive: (id) => state.heartbeat!.isAlive(id),
      isRestarting: (id) => isRestarting(redis, id),
      onLost: (terminalId) => core.announceEnded(terminalId, { exitCode: null, signal: null, reason: 'owner_lost' }),
      logger,
      failures: mechanisms.reporter('ownerLossSweep', 'owner-loss sweep'),
    });
    ownerLoss.start();
    closers.add('owner-loss watcher', () => ownerLoss.stop());
    const endedElsewhere = new EndedElsewhereSweeper(ptys, store, config.HEARTBEAT_TTL_MS, logger, mechanisms.reporter('endedElsewhereSweep', 'ended-elsewhere sweep'));
    endedElsewhere.start();
    closers.add('ended-elsewhere sweeper', () => endedElsewhere.stop());
  }

  // Re-adopt the terminals of this SERVER_ID that still run in the pty host (a restart
  // of this process ends nothing) and reconcile with the database: end only what the
  // host no longer has, and kill what the database says has ended (another instance
  // declared it lost while this one was away).
  const exitedWhileAway = new Map((await ptys.start()).map((e) => [e.id, e]));
  // Closing leaves the host and its terminals running (a planned restart).
  closers.add('pty host connection', () => ptys.detach());
  const recorded = await store.listRunningForServer(serverId);
  for (const s of recorded) {
    if (ptys.has(s.id)) continue;
    const exit = exitedWhileAway.get(s.id);
    await finish(s.id, exit?.exitCode ?? null, exit?.signal ?? null, exit ? 'exited' : 'host_lost');
  }
  const recordedIds = new Set(recorded.map((s) => s.id));
  for (const id of ptys.ids()) if (!recordedIds.has(id)) void ptys.end(id, 'owner_lost');
  if (watchers) {
    // After adoption: the first sweep finds who still reads the adopted terminals.
    watchers.start();
    closers.add('remote watchers', () => watchers.stop());
  }
  if (clustered) await clearRestartNotice(redis, serverId).catch((err: unknown) => logger.warn({ err }, 'could not clear the restart notice'));

  registerAuthRoutes(http, {
    auth,
    metrics,
    throttle: clustered ? new RedisLoginThrottle(redis, logger) : new LoginThrottle(),
    onLogout: (token) => {
      const room = tokenRoomOf(hashToken(token));
      io.local.in(room).disconnectSockets(true); // also during a Redis outage
      io.in(room).disconnectSockets(true);
    },
  });
  // Sockets whose token was revoked where this instance could not hear of it.
  const tokenRecheck = new TokenRechecker({
    intervalMs: config.TOKEN_RECHECK_MS,
    tokensInUse: () => [...io.sockets.sockets.values()].map((s) => s.data.tokenHash).filter(Boolean),
    stillActive: (hashes) => auth.activeTokenHashes(hashes),
    disconnect: (tokenHash) => io.local.in(tokenRoomOf(tokenHash)).disconnectSockets(true),
    logger,
  });
  tokenRecheck.start();
  closers.add('token re-check', () => tokenRecheck.stop());
  redis.on('ready', () => void tokenRecheck.checkNow());
  let lastDbProblem: string | undefined;
  registerHealthRoute(http, async (): Promise<HealthReport> => {
    const database = await probeDatabase(prisma, 800, (err, what) => logger.debug({ err, what }, 'database health probe failed'));
    if (database.problem !== lastDbProblem) {
      if (database.problem) logger.warn({ problem: database.problem }, 'database health probe failing');
      else logger.info('database health probe passes again');
      lastDbProblem = database.problem;
    }
    const redisHealth = redis.health();
    const ptyHost = ptys.health();
    const degraded = (redis.enabled && redisHealth.state !== 'ready') || !database.writable || mechanisms.anyFailing() || !ptyHost.connected;
    return {
      status: !database.ok || database.problem === 'write_failed' ? 'unhealthy' : degraded ? 'degraded' : 'ok',
      serverId,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      database,
      redis: redisHealth,
      registry: { ...(await registry.getStats().catch(() => ({}))), backend: state.registryBackend() },
      sessions: { ...store.stats(), pendingInvalidations: store.pendingInvalidations() },
      terminals: ptys.size,
      mechanisms: mechanisms.report(),
      ptyHost,
    };
  });

  // During a Redis outage the registry sees only this instance's devices: no verdicts then.
  const reaper = new IdleReaper(ptys, registry, config.TERMINAL_IDLE_TIMEOUT_MS, logger, () => !clustered || state.registryBackend() === 'redis');
  reaper.start();
  closers.add('idle reaper', () => reaper.stop());

  metrics.readFrom({
    terminalsRunning: () => ptys.size,
    socketsConnected: () => io.of('/').sockets.size,
    devicesAttached: () => attachedDeviceCount(io),
    redisHealth: () => redis.health(),
    sessionCache: () => store.stats(),
    ptyHostUp: () => !shuttingDown && ptys.health().connected,
  });
  const metricsServer: MetricsServer | null =
    config.METRICS_PORT === undefined ? null : await startMetricsServer(metrics, { host: config.METRICS_HOST, port: config.METRICS_PORT, logger });
  if (metricsServer) closers.add('metrics listener', () => metricsServer.close());

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
  if (config.TERMINAL_USER_MODE === 'account') logger.info({ mode: 'account', uid: process.getuid?.() }, accountModeNotice(config.SERVICE_USER));
  else if (users > 1) logger.warn({ mode: config.TERMINAL_USER_MODE, users }, sharedModeWarning());
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
      // The terminals keep running in the pty host: tell the other instances not to
      // declare them lost while this one is away, and devices to reconnect.
      if (clustered) {
        await announceRestart(redis, serverId, config.RESTART_GRACE_MS).catch((err: unknown) =>
          logger.warn({ err }, 'could not announce the restart; other instances may end this instance\'s terminals'),
        );
      }
      // Only this instance's devices: the others stay connected where they are.
      io.local.emit('server:shutdown', { serverId, reason: 'restart' });
      markDisconnectReason(io.of('/').sockets.values(), 'shutdown');
      io.local.disconnectSockets(true);
      // Everything started, newest first: sweepers, the pty host connection, the cluster
      // channel, socket.io, http, shared state, the database.
      await closers.closeAll(logger);
      logger.info('stopped');
    })());

  return { url, port, serverId, stop };
}
