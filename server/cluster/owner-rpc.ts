// Forwards pty operations to the instance that owns the pty, over Redis pub/sub, and
// serves the operations other instances forward to this one.
//
// Every instance subscribes to one channel, `<prefix>rpc:<serverId>`, which carries both
// requests for it and replies to its own requests. A device's requests are already
// serialized by its socket's queue (one at a time, awaiting each reply), and one
// channel is delivered in order, so the owner applies them in the order the device sent
// them.
import { randomUUID } from 'node:crypto';
import type { ErrorCode, Replay } from '../../common/protocol.js';
import type { Logger } from '../log/logger.js';
import { createPubSub, type PubSub } from '../redis/pubsub.js';
import { RedisUnavailableError, type RedisConnectionManager } from '../redis/types.js';
import type { TerminalSessionRecord } from '../sessions/types.js';
import { ServiceError } from '../terminals/errors.js';
import type { PtyOps, ResizeResult } from '../terminals/ports.js';

type Op =
  | { op: 'input'; terminalId: string; data: string }
  | { op: 'resize'; terminalId: string; socketId: string; cols: number; rows: number }
  | { op: 'replay'; terminalId: string }
  | { op: 'close'; terminalId: string; reason: 'closed' | 'idle' };

type Message =
  | { kind: 'req'; id: string; from: string; deadline: number; body: Op }
  | { kind: 'res'; id: string; ok: true; result: unknown }
  | { kind: 'res'; id: string; ok: false; error: { code: ErrorCode; message: string } };

/** What the owner side does with a request: the local ptys (through the router). */
export type LocalHandler = (op: Op) => Promise<unknown>;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class OwnerRpc implements PtyOps {
  private readonly pending = new Map<string, Pending>();
  private bus: PubSub | null = null;

  constructor(
    private readonly o: {
      redis: RedisConnectionManager;
      serverId: string;
      handle: LocalHandler;
      logger: Logger;
      timeoutMs: number;
    },
  ) {}

  private channelOf(serverId: string): string {
    return `${this.o.redis.prefix}rpc:${serverId}`;
  }

  /**
   * Subscribe to this instance's channel (re-subscribed by ioredis after reconnects).
   * Waits for the subscription only while Redis is up, and at most `waitMs`.
   */
  async start(waitMs = 5000): Promise<void> {
    const bus = createPubSub(this.o.redis, 'owner-rpc', { logger: this.o.logger, pingTimeoutMs: this.o.timeoutMs });
    this.bus = bus;
    bus.onMessage((_channel, raw) => this.onMessage(raw));
    const subscribed = bus.subscribe(this.channelOf(this.o.serverId)).catch((err: unknown) => {
      this.o.logger.warn({ err }, 'owner rpc: subscribing failed; retried on reconnect');
    });
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

  // ---- PtyOps: the caller side ----

  async input(s: TerminalSessionRecord, data: string): Promise<void> {
    await this.call(s.serverId, { op: 'input', terminalId: s.id, data });
  }

  async resize(s: TerminalSessionRecord, socketId: string, cols: number, rows: number): Promise<ResizeResult> {
    return (await this.call(s.serverId, { op: 'resize', terminalId: s.id, socketId, cols, rows })) as ResizeResult;
  }

  async replay(s: TerminalSessionRecord): Promise<Replay> {
    return (await this.call(s.serverId, { op: 'replay', terminalId: s.id })) as Replay;
  }

  async close(s: TerminalSessionRecord, reason: 'closed' | 'idle'): Promise<void> {
    await this.call(s.serverId, { op: 'close', terminalId: s.id, reason });
  }

  private async call(owner: string, body: Op): Promise<unknown> {
    const id = randomUUID();
    const message: Message = { kind: 'req', id, from: this.o.serverId, deadline: Date.now() + this.o.timeoutMs, body };
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ServiceError('unavailable', `instance ${owner} did not answer within ${this.o.timeoutMs} ms`));
      }, this.o.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
    });
    let receivers: number;
    try {
      receivers = await this.publish(this.channelOf(owner), JSON.stringify(message));
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

  private publish(channel: string, message: string): Promise<number> {
    if (!this.bus) return Promise.reject(new RedisUnavailableError('owner rpc is not started'));
    return this.bus.publish(channel, message);
  }

  // ---- both sides: incoming messages ----

  private onMessage(raw: string): void {
    let msg: Message;
    try {
      msg = JSON.parse(raw) as Message;
    } catch {
      this.o.logger.warn('malformed rpc message ignored');
      return;
    }
    if (msg.kind === 'res') return this.settle(msg.id, msg);
    if (msg.kind === 'req') void this.serve(msg);
  }

  private settle(id: string, msg: Extract<Message, { kind: 'res' }>): void {
    const p = this.pending.get(id);
    if (!p) return; // timed out already
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new ServiceError(msg.error.code, msg.error.message));
  }

  private async serve(req: Extract<Message, { kind: 'req' }>): Promise<void> {
    let res: Extract<Message, { kind: 'res' }>;
    // The caller has given up on a request this late (it answered its device with an
    // error), so applying it now would act on a request reported as failed. This relies
    // on instances' clocks agreeing to well within the timeout (NTP).
    if (Date.now() > req.deadline && req.body.op !== 'replay') {
      this.o.logger.warn({ op: req.body.op, from: req.from, lateMs: Date.now() - req.deadline }, 'expired rpc request dropped');
      return;
    }
    try {
      res = { kind: 'res', id: req.id, ok: true, result: (await this.o.handle(req.body)) ?? null };
    } catch (err) {
      const code: ErrorCode = err instanceof ServiceError ? err.code : 'internal';
      if (code === 'internal') this.o.logger.error({ err, op: req.body.op }, 'rpc request failed');
      res = { kind: 'res', id: req.id, ok: false, error: { code, message: err instanceof Error ? err.message : 'failed' } };
    }
    try {
      await this.publish(this.channelOf(req.from), JSON.stringify(res));
    } catch (err) {
      this.o.logger.warn({ err, to: req.from }, 'rpc reply could not be sent');
    }
  }
}
