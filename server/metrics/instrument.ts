// Instrumentation at the seams, as decorators and hooks, so the instrumented modules stay
// unaware of metrics: the event sink (terminal output), the lock manager (waits and
// timeouts), forwarded pty operations (owner RPC latency) and Redis clients (commands).
import { performance } from 'node:perf_hooks';
import type { Command } from 'ioredis';
import { LockTimeoutError, type LockManager } from '../locks/types.js';
import type { EventSink, OwnerOps } from '../terminals/ports.js';
import type { Metrics } from './metrics.js';

const seconds = (since: number) => (performance.now() - since) / 1000;
const outcomeOf = (err: unknown): string =>
  typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'error';

/** Counts the output of this instance's terminals as it leaves for their devices. */
export function meteredSink(sink: EventSink, metrics: Metrics): EventSink {
  const count = (event: string, args: unknown[]) => {
    if (event !== 'terminal:output') return;
    const data = (args[0] as { data?: unknown } | undefined)?.data;
    if (data instanceof Uint8Array) metrics.outputBytes.inc(data.byteLength);
  };
  return {
    ...sink,
    toTerminal: (terminalId, event, ...args) => {
      count(event, args);
      sink.toTerminal(terminalId, event, ...args);
    },
    toTerminalHere: (terminalId, event, ...args) => {
      count(event, args);
      sink.toTerminalHere(terminalId, event, ...args);
    },
  };
}

/** Times how long each lock request waited, and counts those that gave up. */
export function meteredLocks(locks: LockManager, metrics: Metrics): LockManager {
  const done = (kind: string, started: number, err?: unknown) => {
    const outcome = err === undefined ? 'acquired' : err instanceof LockTimeoutError ? 'timeout' : 'error';
    metrics.lockWait.observe({ kind, outcome }, seconds(started));
    if (outcome === 'timeout') metrics.lockTimeouts.inc({ kind });
  };
  return {
    async acquire(kind, resource, opts) {
      const started = performance.now();
      try {
        const handle = await locks.acquire(kind, resource, opts);
        done(kind, started);
        return handle;
      } catch (err) {
        done(kind, started, err);
        throw err;
      }
    },
    async withLock(kind, resource, fn, opts) {
      const started = performance.now();
      let acquired = false;
      try {
        return await locks.withLock(
          kind,
          resource,
          (lock) => {
            acquired = true;
            done(kind, started);
            return fn(lock);
          },
          opts,
        );
      } catch (err) {
        if (!acquired) done(kind, started, err);
        throw err;
      }
    },
  };
}

/** Times operations forwarded to the owner instance, by op and outcome (ok or error code). */
export function meteredOwnerOps(ops: OwnerOps, metrics: Metrics): OwnerOps {
  const time = async <T>(op: string, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      const result = await call();
      metrics.ownerRpcDuration.observe({ op, outcome: 'ok' }, seconds(started));
      return result;
    } catch (err) {
      metrics.ownerRpcDuration.observe({ op, outcome: outcomeOf(err) }, seconds(started));
      throw err;
    }
  };
  return {
    input: (s, data) => time('input', () => ops.input(s, data)),
    resize: (s, socketId, cols, rows) => time('resize', () => ops.resize(s, socketId, cols, rows)),
    replay: (s) => time('replay', () => ops.replay(s)),
    status: (s) => time('status', () => ops.status(s)),
    close: (s, reason) => time('close', () => ops.close(s, reason)),
  };
}

interface CommandSender {
  sendCommand(command: Command, ...rest: unknown[]): unknown;
}

/**
 * Marks a command already timed: ioredis sends a command again after a reconnect
 * (subscriber connections). A mark on the object, not a WeakSet: a WeakSet of every
 * command costs the garbage collector more than the timing itself.
 */
const TIMED = Symbol('ptyhub.timed');

/** Times every command a Redis client sends, from send to reply, by command name. */
export function timeRedisCommands(client: CommandSender, metrics: Metrics): void {
  const send = client.sendCommand.bind(client);
  // One labelled child per command name: no label hashing on every command.
  const byName = new Map<string, { duration: { observe(v: number): void }; errors: { inc(): void } }>();
  const series = (name: string) => {
    let s = byName.get(name);
    if (!s) {
      const command = name.toLowerCase();
      s = { duration: metrics.redisCommandDuration.labels({ command }), errors: metrics.redisCommandErrors.labels({ command }) };
      byName.set(name, s);
    }
    return s;
  };
  client.sendCommand = (command: Command & { [TIMED]?: true }, ...rest: unknown[]) => {
    if (!command[TIMED]) {
      command[TIMED] = true;
      const started = performance.now();
      const s = series(command.name);
      command.promise.then(
        () => s.duration.observe(seconds(started)),
        () => {
          s.duration.observe(seconds(started));
          s.errors.inc();
        },
      );
    }
    return send(command, ...rest);
  };
}
