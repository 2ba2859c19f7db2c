// The one channel between instances (Redis pub/sub; documented in docs/redis-keys.md):
// - owner RPC: forwards operations on a terminal to the instance that owns its pty, and
//   serves the operations other instances forward to this one;
// - cluster events, to every instance: a terminal has ended (drop local attachments).
//
// Every instance subscribes to `<prefix>rpc:<serverId>`, which carries both requests for
// it and replies to its own requests, and to `<prefix>rpc`, the events for everyone. A
// device's requests are already serialized by its socket's queue (one at a time,
// awaiting each reply), and one channel is delivered in order, so the owner applies them
// in the order the device sent them. Every message is authenticated (HMAC under
// CLUSTER_SECRET, see message-auth.ts), requests and events are refused when replayed
// (id and deadline), and every message is validated (zod) on receipt.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { ErrorCode, Replay, TerminalStatus } from '../../common/protocol.js';
import type { Logger } from '../log/logger.js';
import { MessageAuth, ReplayGuard } from './message-auth.js';
import { createPubSub, type PubSub } from '../redis/pubsub.js';
import { RedisUnavailableError, type RedisConnectionManager } from '../redis/types.js';
import type { TerminalSessionRecord } from '../sessions/types.js';
import { ServiceError } from '../terminals/errors.js';
import type { OwnerOps, ResizeResult } from '../terminals/ports.js';

const id = z.string().min(1).max(200);
const opSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('input'), terminalId: id, data: z.string() }),
  z.object({ op: z.literal('resize'), terminalId: id, socketId: id, cols: z.number().int(), rows: z.number().int() }),
  z.object({ op: z.literal('replay'), terminalId: id }),
  z.object({ op: z.literal('status'), terminalId: id }),
  z.object({ op: z.literal('close'), terminalId: id, reason: z.enum(['closed', 'idle']) }),
  /** Flow control: the sender's devices of the terminal (see flow-control.ts); `none`: it has none. */
  z.object({ op: z.literal('flow'), terminalId: id, serverId: id, state: z.enum(['flowing', 'blocked', 'none']) }),
]);
export type Op = z.infer<typeof opSchema>;

const clusterEventSchema = z.discriminatedUnion('type', [
  /** A terminal has ended (recorded by the sender): drop local attachments to it. */
  z.object({ type: z.literal('terminal-ended'), terminalId: id }),
]);
export type ClusterEvent = z.infer<typeof clusterEventSchema>;

const messageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('req'), id, from: id, deadline: z.number(), body: opSchema }),
  z.object({
    kind: z.literal('res'),
    id,
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  }),
  z.object({ kind: z.literal('event'), id, from: id, deadline: z.number(), event: clusterEventSchema }),
  /** The owner has a request that may take long (input): the caller now waits for its answer. */
  z.object({ kind: z.literal('received'), id }),
]);
type Message = z.infer<typeof messageSchema>;
type Response = Extract<Message, { kind: 'res' }>;

/** What the owner side does with a request (from instance `from`): the local ptys (through the router). */
export type LocalHandler = (op: Op, from: string) => Promise<unknown>;

/**
 * How long a device's input may wait for the owner's answer once the owner has said it
 * received it: the answer comes once the pty has taken the input, which waits for the
 * program in it to read. Until that receipt the usual short timeout applies, so input lost
 * on the way (a Redis failover, an owner gone) is answered `unavailable` at once. The
 * request's own deadline (replay protection) stays short: the owner checks it on receipt.
 */
const INPUT_REPLY_TIMEOUT_MS = 5 * 60_000;

/** Request and event ids remembered against replays (beyond this, new ones are refused). */
const MAX_REMEMBERED_IDS = 200_000;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** After the owner's receipt: wait this long for the answer (absent: no receipt expected). */
  afterReceiptMs?: number;
  expire: () => void;
}

/** The channel an instance listens on for requests to it. */
export function rpcChannel(prefix: string, serverId: string): string {
  return `${prefix}rpc:${serverId}`;
}

export class ClusterChannel implements OwnerOps {
  private readonly pending = new Map<string, Pending>();
  private bus: PubSub | null = null;
  private readonly auth: MessageAuth;
  private readonly replays: ReplayGuard;

  constructor(
    private readonly o: {
      redis: RedisConnectionManager;
      serverId: string;
      handle: LocalHandler;
      /** Events other instances sent to every instance (never our own). */
      onEvent: (event: ClusterEvent) => void;
      logger: Logger;
      timeoutMs: number;
      /** A request the owner did not answer within timeoutMs (for metrics). */
      onTimeout?: (op: Op['op']) => void;
      /** CLUSTER_SECRET: shared by every instance, known to nothing else. */
      secret: string;
    },
  ) {
    this.auth = new MessageAuth(o.secret);
    // Instances' clocks must agree to well within the timeout (NTP); as much again is tolerated.
    this.replays = new ReplayGuard({ skewMs: o.timeoutMs, maxAheadMs: o.timeoutMs, maxIds: MAX_REMEMBERED_IDS });
  }

  private channelOf(serverId: string): string {
    return rpcChannel(this.o.redis.prefix, serverId);
  }

  private get everyone(): string {
    return `${this.o.redis.prefix}rpc`;
  }

  /**
   * Subscribe to this instance's channel (re-subscribed by ioredis after reconnects).
   * Waits for the subscription only while Redis is up, and at most `waitMs`.
   */
  async start(waitMs = 5000): Promise<void> {
    const bus = createPubSub(this.o.redis, 'cluster-channel', { logger: this.o.logger, pingTimeoutMs: this.o.timeoutMs });
    this.bus = bus;
    bus.onMessage((channel, raw) => this.onMessage(channel, raw));
    // One (S)SUBSCRIBE per channel: on a cluster the two channels hash to different slots.
    const subscribed = Promise.all([bus.subscribe(this.channelOf(this.o.serverId)), bus.subscribe(this.everyone)]).then(
      () => undefined,
      (err: unknown) => {
        this.o.logger.warn({ err }, 'cluster channel: subscribing failed; retried on reconnect');
      },
    );
    if (this.o.redis.state !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([subscribed, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ServiceError('unavailable', 'shutting down'));
      this.pending.delete(id);
    }
    await this.bus?.close();
    this.bus = null;
  }

  /** Tell every other instance; fire and forget (logged when Redis is unavailable). */
  broadcast(event: ClusterEvent): void {
    const message: Message = { kind: 'event', id: randomUUID(), from: this.o.serverId, deadline: Date.now() + this.o.timeoutMs, event };
    let sent: Promise<number>;
    try {
      sent = this.publish(this.everyone, message);
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.catch((err: unknown) => this.o.logger.warn({ err, event }, 'cluster event not sent (Redis unavailable)'));
  }

  // ---- OwnerOps: the caller side ----

  async input(s: TerminalSessionRecord, data: string): Promise<void> {
    await this.call(s.serverId, { op: 'input', terminalId: s.id, data }, INPUT_REPLY_TIMEOUT_MS);
  }

  /** Tell a terminal's owner the flow-control state of this instance's devices of it. */
  async reportFlow(owner: string, terminalId: string, state: 'flowing' | 'blocked' | 'none'): Promise<void> {
    await this.call(owner, { op: 'flow', terminalId, serverId: this.o.serverId, state });
  }

  async resize(s: TerminalSessionRecord, socketId: string, cols: number, rows: number): Promise<ResizeResult> {
    return (await this.call(s.serverId, { op: 'resize', terminalId: s.id, socketId, cols, rows })) as ResizeResult;
  }

  async replay(s: TerminalSessionRecord): Promise<Replay> {
    // Bytes in a JSON message: base64 (see serve()).
    const r = (await this.call(s.serverId, { op: 'replay', terminalId: s.id })) as Omit<Replay, 'data'> & { data: string };
    return { ...r, data: Buffer.from(r.data, 'base64') };
  }

  async status(s: TerminalSessionRecord): Promise<TerminalStatus> {
    return (await this.call(s.serverId, { op: 'status', terminalId: s.id })) as TerminalStatus;
  }

  async close(s: TerminalSessionRecord, reason: 'closed' | 'idle'): Promise<void> {
    await this.call(s.serverId, { op: 'close', terminalId: s.id, reason });
  }

  private async call(owner: string, body: Op, afterReceiptMs?: number): Promise<unknown> {
    const id = randomUUID();
    const message: Message = { kind: 'req', id, from: this.o.serverId, deadline: Date.now() + this.o.timeoutMs, body };
    const reply = new Promise<unknown>((resolve, reject) => {
      const expire = () => {
        this.pending.delete(id);
        this.o.onTimeout?.(body.op);
        reject(new ServiceError('unavailable', `instance ${owner} did not answer in time`));
      };
      this.pending.set(id, { resolve, reject, timer: setTimeout(expire, this.o.timeoutMs), afterReceiptMs, expire });
    });
    let receivers: number;
    try {
      receivers = await this.publish(this.channelOf(owner), message);
    } catch (err) {
      this.settle(id, { kind: 'res', id, ok: false, error: { code: 'unavailable', message: 'Redis is unavailable' } });
      this.o.logger.debug({ err }, 'rpc publish failed');
      return reply;
    }
    if (receivers === 0) {
      this.settle(id, {
        kind: 'res',
        id,
        ok: false,
        error: { code: 'unavailable', message: `instance ${owner}, which runs this terminal, is not reachable` },
      });
    }
    return reply;
  }

  // ---- both sides: incoming messages ----

  /** Signed for the channel it is sent on (see message-auth.ts). */
  private publish(channel: string, message: Message): Promise<number> {
    if (!this.bus) return Promise.reject(new RedisUnavailableError('cluster channel is not started'));
    return this.bus.publish(channel, this.auth.seal(channel, JSON.stringify(message)));
  }

  private onMessage(channel: string, raw: string): void {
    const json = this.auth.open(channel, raw);
    if (json === null) {
      // Logged without the message: it may carry someone's input.
      this.o.logger.warn({ channel, bytes: raw.length }, 'cluster message with a bad or missing signature dropped');
      return;
    }
    let msg: Message;
    try {
      msg = messageSchema.parse(JSON.parse(json));
    } catch {
      this.o.logger.warn('malformed cluster message ignored');
      return;
    }
    // A reply settles its pending request at most once: a replayed reply finds none.
    if (msg.kind === 'res') return this.settle(msg.id, msg);
    if (msg.kind === 'received') return this.received(msg.id);
    if (msg.kind === 'event' && msg.from === this.o.serverId) return;
    const admitted = this.replays.admit(msg.id, msg.deadline);
    if (admitted !== 'ok') {
      this.o.logger.warn({ kind: msg.kind, id: msg.id, from: msg.from, refused: admitted }, 'cluster message refused (replay window)');
      return;
    }
    if (msg.kind === 'req') void this.serve(msg);
    else this.o.onEvent(msg.event);
  }

  /** The owner has the request: its answer may now take the longer wait (once). */
  private received(id: string): void {
    const p = this.pending.get(id);
    if (!p?.afterReceiptMs) return;
    clearTimeout(p.timer);
    p.timer = setTimeout(p.expire, p.afterReceiptMs);
    p.afterReceiptMs = undefined;
  }

  private settle(id: string, msg: Response): void {
    const p = this.pending.get(id);
    if (!p) return; // timed out already
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result ?? null);
    else p.reject(new ServiceError((msg.error?.code ?? 'internal') as ErrorCode, msg.error?.message ?? 'failed'));
  }

  private async serve(req: Extract<Message, { kind: 'req' }>): Promise<void> {
    let res: Response;
    // The caller has given up on a request this late (it answered its device with an
    // error), so applying it now would act on a request reported as failed. This relies
    // on instances' clocks agreeing to well within the timeout (NTP).
    if (Date.now() > req.deadline && req.body.op !== 'replay' && req.body.op !== 'status') {
      this.o.logger.warn({ op: req.body.op, from: req.from, lateMs: Date.now() - req.deadline }, 'expired rpc request dropped');
      return;
    }
    if (req.body.op === 'input') {
      // Input is answered once the pty takes it, which may be long: say it arrived.
      this.publish(this.channelOf(req.from), { kind: 'received', id: req.id }).catch((err: unknown) =>
        this.o.logger.warn({ err, to: req.from }, 'rpc receipt could not be sent'),
      );
    }
    try {
      let result = (await this.o.handle(req.body, req.from)) ?? null;
      if (req.body.op === 'replay') {
        const r = result as Replay;
        result = { ...r, data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength).toString('base64') };
      }
      res = { kind: 'res', id: req.id, ok: true, result };
    } catch (err) {
      const code: ErrorCode = err instanceof ServiceError ? err.code : 'internal';
      if (code === 'internal') this.o.logger.error({ err, op: req.body.op }, 'rpc request failed');
      res = { kind: 'res', id: req.id, ok: false, error: { code, message: err instanceof Error ? err.message : 'failed' } };
    }
    try {
      await this.publish(this.channelOf(req.from), res);
    } catch (err) {
      this.o.logger.warn({ err, to: req.from }, 'rpc reply could not be sent');
    }
  }
}
