// The thin layer between socket.io and the terminal core: validate, call, reply.
import type { Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../../common/protocol.js';
import { audit, type AuditEvent } from '../log/audit.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Caller, TerminalService } from '../terminals/terminal-service.js';
import { disconnectReasonOf, type ServerDisconnectReason } from './disconnect-reasons.js';
import { toErrorBody } from './errors.js';
import { SerialQueue, TokenBucket } from './event-queue.js';
import { describeIssues, schemas, type EventName, type Payload } from './schemas.js';
import type { Usage } from './usage-limits.js';

export interface SocketData {
  caller: Caller;
  username: string;
  tokenHash: string;
  tokenExpiresAt: number;
  /** Set just before the server disconnects the socket for a reason of its own. */
  disconnectReason?: ServerDisconnectReason;
  /** The user's and address's shared budgets (absent when no limiter is configured). */
  usage?: Usage;
}

export type PtySocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/** Events waiting per socket before further ones are refused. */
const MAX_QUEUED_EVENTS = 256;
/** Inputs of one socket waiting for their terminal to take them, at most. */
const MAX_INPUTS_IN_FLIGHT = 8;
/**
 * `terminal:ack` budget per socket. Acks have their own (they are not the user's doing,
 * and a device streaming output sends one per 64 KiB it renders): 500/s is 32 MB/s.
 */
const ACKS_PER_SECOND = 500;

type Handler<E extends EventName> = (caller: Caller, payload: Payload<E>) => Promise<object>;

interface EventOptions {
  /**
   * Started in turn with the socket's other events, but not waited for: the reply comes
   * when the handler is done, and the next event starts at once. For events that may wait
   * long (input waits for the program to read it): they must never hold up the socket's
   * other events. At most `maxInFlight` such events of a kind are pending per socket.
   */
  unqueued?: { maxInFlight: number };
  /** A budget of its own instead of the socket's and user's event rate. */
  bucket?: TokenBucket;
}

export function registerSocketEvents(
  socket: PtySocket,
  service: TerminalService,
  opts: { eventsPerSecond: number; logger: Logger; metrics: Metrics },
): void {
  const caller = socket.data.caller;
  const log = opts.logger.child({ socketId: socket.id, userId: caller.userId });
  const record = (event: AuditEvent, terminalId: string, reason?: string) =>
    audit(opts.logger, event, {
      userId: caller.userId,
      username: socket.data.username,
      deviceId: caller.deviceId,
      deviceName: caller.deviceName,
      socketId: socket.id,
      terminalId,
      reason,
    });
  const bucket = new TokenBucket(opts.eventsPerSecond, opts.eventsPerSecond * 2);
  const queue = new SerialQueue(MAX_QUEUED_EVENTS);
  // A misbehaving client must not be able to fill the log: a few lines, then one a minute.
  const dropLog = new TokenBucket(1 / 60, 5);
  // Refused events still cost parsing and a reply: sockets that keep sending long after
  // being told to slow down are flooding, not typing, and are cut off (see Usage).
  const refusals = new TokenBucket(opts.eventsPerSecond, opts.eventsPerSecond * 5);
  const refuse = (): boolean => {
    if (socket.data.usage ? socket.data.usage.tolerateRefusal() : refusals.take()) return false;
    log.warn({}, 'socket kept sending after being rate-limited; disconnecting');
    socket.disconnect(true);
    return true;
  };

  function on<E extends EventName>(event: E, handler: Handler<E>, eo: EventOptions = {}): void {
    let inFlight = 0;
    // Registered untyped: payloads are untrusted until validated below.
    (socket as unknown as NodeJS.EventEmitter).on(event, (...args: unknown[]) => {
      // `emit(event, ack)` without a payload is accepted where the payload may be empty.
      const ack = args.at(-1);
      const payload = args.length > 1 ? args[0] : {};
      // Limit first: an event without a callback costs a token like any other, or a
      // flood of them would bypass the limiter (and the log).
      const allowed = eo.bucket ? eo.bucket.take() : bucket.take() && (socket.data.usage?.takeEvent() ?? true);
      if (!allowed && refuse()) return;
      if (typeof ack !== 'function') {
        if (dropLog.take()) log.warn({ event, rateLimited: !allowed }, 'event without acknowledgement callback dropped');
        opts.metrics.socketEvents.inc({ event, outcome: allowed ? 'no_ack' : 'rate_limited' });
        return;
      }
      const reply = (body: { ok: boolean; error?: { code: string; message: string } }) => {
        opts.metrics.socketEvents.inc({ event, outcome: body.error?.code ?? 'ok' });
        (ack as (r: object) => void)(body);
      };
      if (!allowed) {
        reply({ ok: false, error: { code: 'rate_limited', message: 'too many events; slow down' } });
        return;
      }
      const parsed = schemas[event].safeParse(payload);
      if (!parsed.success) {
        reply({ ok: false, error: { code: 'bad_request', message: describeIssues(parsed.error) } });
        return;
      }
      const run = async () => {
        try {
          reply({ ok: true, ...(await handler(caller, parsed.data as Payload<E>)) });
        } catch (err) {
          const { body, unexpected } = toErrorBody(err);
          if (unexpected) log.error({ err, event }, 'event failed');
          reply({ ok: false, error: body });
        }
      };
      if (eo.unqueued) {
        if (inFlight >= eo.unqueued.maxInFlight) {
          reply({ ok: false, error: { code: 'busy', message: `${inFlight} ${event} requests are still pending; wait for their replies` } });
          return;
        }
        // Started in order with the socket's other events, but not waited for.
        inFlight++;
        const started = queue.push(async () => void run().finally(() => inFlight--));
        if (!started) {
          inFlight--;
          reply({ ok: false, error: { code: 'rate_limited', message: 'too many events waiting; slow down' } });
        }
        return;
      }
      const accepted = queue.push(run);
      if (!accepted) reply({ ok: false, error: { code: 'rate_limited', message: 'too many events waiting; slow down' } });
    });
  }

  on('terminal:create', async (c, p) => {
    const terminal = await service.create(c, p);
    record('terminal_created', terminal.id);
    return { terminal };
  });
  on('terminal:list', async (c) => ({ terminals: await service.list(c.userId) }));
  on('terminal:attach', async (c, p) => {
    const attached = await service.attach(c, p.terminalId);
    record('terminal_attached', p.terminalId);
    return attached;
  });
  on('terminal:detach', async (c, p) => (await service.detach(c, p.terminalId), record('terminal_detached', p.terminalId, 'detach'), {}));
  // The reply comes once the pty has taken the input (a program that does not read holds
  // it up); meanwhile the socket's other events go on. Inputs still reach the terminal in
  // the order they were sent: each is handed on before the next event is looked at.
  on(
    'terminal:input',
    async (c, p) => {
      await service.input(c, p.terminalId, p.data);
      opts.metrics.inputBytes.inc(Buffer.byteLength(p.data, 'utf8'));
      return {};
    },
    { unqueued: { maxInFlight: MAX_INPUTS_IN_FLIGHT } },
  );
  on('terminal:ack', async (c, p) => (service.ack(c, p.terminalId, p.offset), {}), {
    unqueued: { maxInFlight: 1 },
    bucket: new TokenBucket(ACKS_PER_SECOND, ACKS_PER_SECOND),
  });
  on('terminal:resize', async (c, p) => service.resize(c, p.terminalId, p.cols, p.rows));
  on('terminal:claim', async (c, p) => service.claim(c, p.terminalId));
  on('terminal:close', async (c, p) => (await service.close(c, p.terminalId), record('terminal_closed', p.terminalId), {}));
  on('terminal:rename', async (c, p) => service.rename(c, p.terminalId, p.title));
  on('terminal:status', async (c, p) => ({ status: await service.status(c, p.terminalId) }));
  // The socket stays connected (and keeps control of sizes): only its name changes.
  on('device:rename', async (c, p) => {
    c.deviceName = p.deviceName;
    await service.deviceRenamed(c);
    return { deviceName: c.deviceName };
  });

  socket.on('disconnect', (reason) => {
    socket.data.usage?.release();
    const why = disconnectReasonOf(socket, reason);
    log.info({ reason, why }, 'socket disconnected');
    opts.metrics.socketDisconnects.inc({ reason: why });
    // Queued behind the socket's pending events, so they finish first.
    void queue.drain().then(() =>
      service.disconnect(socket.id).then(
        (detached) => detached.forEach((terminalId) => record('terminal_detached', terminalId, `disconnected: ${why}`)),
        (err: unknown) => log.error({ err }, 'cleanup after disconnect failed'),
      ),
    );
  });
}
