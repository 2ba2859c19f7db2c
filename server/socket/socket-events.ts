// The thin layer between socket.io and the terminal core: validate, call, reply.
import type { Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../../common/protocol.js';
import type { Logger } from '../log/logger.js';
import type { Caller, TerminalService } from '../terminals/terminal-service.js';
import { toErrorBody } from './errors.js';
import { SerialQueue, TokenBucket } from './event-queue.js';
import { describeIssues, schemas, type EventName, type Payload } from './schemas.js';

export interface SocketData {
  caller: Caller;
  username: string;
  tokenHash: string;
  tokenExpiresAt: number;
}

export type PtySocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/** Events waiting per socket before further ones are refused. */
const MAX_QUEUED_EVENTS = 256;

type Handler<E extends EventName> = (caller: Caller, payload: Payload<E>) => Promise<object>;

export function registerSocketEvents(
  socket: PtySocket,
  service: TerminalService,
  opts: { eventsPerSecond: number; logger: Logger },
): void {
  const caller = socket.data.caller;
  const log = opts.logger.child({ socketId: socket.id, userId: caller.userId });
  const bucket = new TokenBucket(opts.eventsPerSecond, opts.eventsPerSecond * 2);
  const queue = new SerialQueue(MAX_QUEUED_EVENTS);

  function on<E extends EventName>(event: E, handler: Handler<E>): void {
    // Registered untyped: payloads are untrusted until validated below.
    (socket as unknown as NodeJS.EventEmitter).on(event, (...args: unknown[]) => {
      // `emit(event, ack)` without a payload is accepted where the payload may be empty.
      const ack = args.at(-1);
      const payload = args.length > 1 ? args[0] : {};
      if (typeof ack !== 'function') {
        log.warn({ event }, 'event without acknowledgement callback dropped');
        return;
      }
      const reply = (body: object) => (ack as (r: object) => void)(body);
      if (!bucket.take()) {
        reply({ ok: false, error: { code: 'rate_limited', message: 'too many events; slow down' } });
        return;
      }
      const parsed = schemas[event].safeParse(payload);
      if (!parsed.success) {
        reply({ ok: false, error: { code: 'bad_request', message: describeIssues(parsed.error) } });
        return;
      }
      const accepted = queue.push(async () => {
        try {
          reply({ ok: true, ...(await handler(caller, parsed.data as Payload<E>)) });
        } catch (err) {
          const { body, unexpected } = toErrorBody(err);
          if (unexpected) log.error({ err, event }, 'event failed');
          reply({ ok: false, error: body });
        }
      });
      if (!accepted) reply({ ok: false, error: { code: 'rate_limited', message: 'too many events waiting; slow down' } });
    });
  }

  on('terminal:create', async (c, p) => ({ terminal: await service.create(c, p) }));
  on('terminal:list', async (c) => ({ terminals: await service.list(c.userId) }));
  on('terminal:attach', async (c, p) => service.attach(c, p.terminalId));
  on('terminal:detach', async (c, p) => (await service.detach(c, p.terminalId), {}));
  on('terminal:input', async (c, p) => (await service.input(c, p.terminalId, p.data), {}));
  on('terminal:resize', async (c, p) => service.resize(c, p.terminalId, p.cols, p.rows));
  on('terminal:claim', async (c, p) => service.claim(c, p.terminalId));
  on('terminal:close', async (c, p) => (await service.close(c, p.terminalId), {}));
  on('terminal:rename', async (c, p) => service.rename(c, p.terminalId, p.title));
  on('terminal:status', async (c, p) => ({ status: await service.status(c, p.terminalId) }));
  // The socket stays connected (and keeps control of sizes): only its name changes.
  on('device:rename', async (c, p) => {
    c.deviceName = p.deviceName;
    await service.deviceRenamed(c);
    return { deviceName: c.deviceName };
  });

  socket.on('disconnect', (reason) => {
    log.info({ reason }, 'socket disconnected');
    // Queued behind the socket's pending events, so they finish first.
    void queue.drain().then(() =>
      service.disconnect(socket.id).catch((err: unknown) => log.error({ err }, 'cleanup after disconnect failed')),
    );
  });
}
