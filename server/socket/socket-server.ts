// socket.io server: origin check, token handshake, and the EventSink the core uses.
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import { Server, type ServerOptions } from 'socket.io';
import { outputFrameParser } from '../../common/output-frame-parser.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../common/protocol.js';
import type { AuthService } from '../auth/auth-service.js';
import { hashToken } from '../auth/tokens.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { EventSink } from '../terminals/ports.js';
import type { TerminalService } from '../terminals/terminal-service.js';
import { markDisconnectReason } from './disconnect-reasons.js';
import { TokenBucket } from './event-queue.js';
import { isOriginAllowed } from './origin-check.js';
import { guardSlowConsumer } from './slow-consumer.js';
import { handshakeSchema } from './schemas.js';
import type { UsageLimiter } from './usage-limits.js';
import { registerSocketEvents, type SocketData } from './socket-events.js';

export type PtyServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/** Terminal input is at most 64 K characters; leave room for JSON and UTF-8. */
const MAX_MESSAGE_BYTES = 256 * 1024;

export const roomOf = (terminalId: string) => `t:${terminalId}`;
export const tokenRoomOf = (tokenHash: string) => `token:${tokenHash}`;
export const userRoomOf = (userId: string) => `u:${userId}`;

export { markDisconnectReason };

/** Attachments (device, terminal) held by this instance's sockets. */
export function attachedDeviceCount(io: PtyServer): number {
  let n = 0;
  for (const [room, members] of io.of('/').adapter.rooms) if (room.startsWith(roomOf(''))) n += members.size;
  return n;
}

export function createSocketServer(
  http: HttpServer,
  opts: {
    allowedOrigins: string[] | null;
    auth: AuthService;
    logger: Logger;
    extra?: Partial<ServerOptions>;
    /** Per-user and per-address limits, with the client address of a handshake. */
    limits?: { limiter: UsageLimiter; addressOf: (req: IncomingMessage) => string };
  },
): PtyServer {
  const io: PtyServer = new Server(http, {
    // WebSocket only: no long-polling, so no sticky sessions are needed behind a load balancer.
    transports: ['websocket'],
    maxHttpBufferSize: MAX_MESSAGE_BYTES,
    pingInterval: 10_000,
    pingTimeout: 10_000,
    serveClient: false,
    // `terminal:output` as one binary frame (the browser client uses the same parser).
    parser: outputFrameParser,
    allowRequest: (req, cb) => {
      const ok = isOriginAllowed(req, opts.allowedOrigins);
      if (!ok) opts.logger.warn({ origin: req.headers.origin }, 'websocket from a disallowed origin refused');
      cb(ok ? null : 'origin not allowed', ok);
    },
    ...opts.extra,
  });

  io.use((socket, next) => {
    const parsed = handshakeSchema.safeParse(socket.handshake.auth);
    if (!parsed.success) return next(new Error('unauthorized'));
    const { token, deviceId, deviceName, outputAcks } = parsed.data;
    opts.auth.authenticate(token).then(
      (user) => {
        if (!user) return next(new Error('unauthorized'));
        const tokenHash = hashToken(token);
        socket.data = {
          caller: { userId: user.id, socketId: socket.id, deviceId, deviceName, connectedAt: Date.now(), outputAcks: outputAcks === true },
          username: user.username,
          tokenHash,
          tokenExpiresAt: user.tokenExpiresAt.getTime(),
        };
        next();
      },
      (err: unknown) => {
        opts.logger.error({ err }, 'authentication failed with an error');
        next(new Error('unavailable'));
      },
    );
  });
  const limits = opts.limits;
  if (limits) {
    const refusalLog = new TokenBucket(1, 10);
    // After authentication: the user is known, and strangers cannot use up a user's sockets.
    io.use((socket, next) => {
      const address = limits.addressOf(socket.request);
      limits.limiter.admit(socket.data.caller.userId, address, socket.id).then(
        (usage) => {
          if ('refused' in usage) {
            // A client that keeps reconnecting must not fill the log.
            if (refusalLog.take()) opts.logger.warn({ userId: socket.data.caller.userId, address, limit: usage.refused }, usage.refused === 'flooding' ? 'socket refused: its user was cut off for flooding moments ago' : 'socket refused: too many sockets');
            return next(new Error('rate_limited'));
          }
          // Released on disconnect (socket-events.ts). Only the shutdown check runs after
          // this, and a place held by a process that is exiting does not matter.
          socket.data.usage = usage;
          next();
        },
        (err: unknown) => {
          opts.logger.error({ err }, 'socket limits failed with an error');
          next(new Error('unavailable'));
        },
      );
    });
  }
  return io;
}

export function attachTerminalEvents(
  io: PtyServer,
  service: TerminalService,
  opts: { eventsPerSecond: number; maxBufferedBytes: number; logger: Logger; metrics: Metrics },
): void {
  io.on('connection', (socket) => {
    opts.logger.info(
      { socketId: socket.id, userId: socket.data.caller.userId, deviceId: socket.data.caller.deviceId },
      'socket connected',
    );
    // Lets a logout disconnect every socket opened with that token, on any instance.
    void socket.join([tokenRoomOf(socket.data.tokenHash), userRoomOf(socket.data.caller.userId)]);
    // A socket lives no longer than its token (the client then signs in again).
    const expiry = setTimeout(() => {
      opts.logger.info({ socketId: socket.id }, 'token expired; disconnecting');
      markDisconnectReason([socket], 'token_expired');
      socket.disconnect(true);
    }, Math.min(Math.max(0, socket.data.tokenExpiresAt - Date.now()), 2 ** 31 - 1));
    socket.once('disconnect', () => clearTimeout(expiry));
    guardSlowConsumer(socket, opts.maxBufferedBytes, opts.logger);
    registerSocketEvents(socket, service, opts);
  });
}

/** `announceEnded` tells the other instances (the cluster channel; a no-op alone). */
export function socketEventSink(io: PtyServer, announceEnded: (terminalId: string) => void): EventSink {
  return {
    toTerminal: (terminalId, event, ...args) => {
      io.to(roomOf(terminalId)).emit(event, ...args);
    },
    toTerminalHere: (terminalId, event, ...args) => {
      io.local.to(roomOf(terminalId)).emit(event, ...args);
    },
    toSocket: (socketId, event, ...args) => {
      io.sockets.sockets.get(socketId)?.emit(event, ...args);
    },
    toUser: (userId, except, event, ...args) => {
      io.to(userRoomOf(userId)).except(except).emit(event, ...args);
    },
    join: (socketId, terminalId) => {
      void io.sockets.sockets.get(socketId)?.join(roomOf(terminalId));
    },
    leave: (socketId, terminalId) => {
      void io.sockets.sockets.get(socketId)?.leave(roomOf(terminalId));
    },
    dropTerminal: (terminalId) => {
      // Local first: the adapter applies its own instance's part only when its message
      // comes back from Redis, which it does not during an outage.
      io.local.in(roomOf(terminalId)).socketsLeave(roomOf(terminalId));
      io.in(roomOf(terminalId)).socketsLeave(roomOf(terminalId));
    },
    announceEnded,
  };
}
