// Small pieces the benchmarks share: a lean protocol client (it keeps output only where a
// benchmark checks it), the marked-output collector, statistics and the results table.
import { randomUUID } from 'node:crypto';
import { TextDecoder } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { outputFrameParser } from '../common/output-frame-parser.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../common/protocol.js';

type Events = ClientToServerEvents;
type AckOf<E extends keyof Events> = Parameters<Parameters<Events[E]>[1]>[0];

export async function login(baseUrl: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login at ${baseUrl} failed: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

/**
 * An output event as a benchmark reads it: the bytes decoded (as a browser would), with
 * `offset` and `bytes` in bytes. The benchmarks' output is ASCII, so text positions
 * and byte offsets agree.
 */
export interface TextOutputEvent {
  terminalId: string;
  data: string;
  offset: number;
  bytes: number;
}

/** One device: a socket.io connection that hands output events to whoever listens. */
export class Device {
  private readonly outputListeners = new Set<(e: TextOutputEvent) => void>();
  private readonly decoders = new Map<string, TextDecoder>();

  private constructor(
    readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>,
    readonly name: string,
  ) {
    socket.on('terminal:output', (e) => {
      let decoder = this.decoders.get(e.terminalId);
      if (!decoder) this.decoders.set(e.terminalId, (decoder = new TextDecoder()));
      const text = { terminalId: e.terminalId, data: decoder.decode(e.data, { stream: true }), offset: e.offset, bytes: e.data.length };
      for (const l of this.outputListeners) l(text);
    });
  }

  /** `auth`: more handshake fields (e.g. `outputAcks: true` for flow control). */
  static open(baseUrl: string, token: string, name: string, auth: Record<string, unknown> = {}): Promise<Device> {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(baseUrl, {
      transports: ['websocket'],
      parser: outputFrameParser,
      reconnection: false,
      forceNew: true,
      auth: { ...auth, token, deviceId: `bench-${randomUUID().slice(0, 8)}`, deviceName: name },
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new Device(socket, name)));
      socket.once('connect_error', (err) => {
        socket.close();
        reject(new Error(`${name}: ${err.message}`));
      });
    });
  }

  /** A request; rejects on timeout, resolves with the reply (ok or not). */
  call<E extends keyof Events>(event: E, payload: Parameters<Events[E]>[0], timeoutMs = 30_000): Promise<AckOf<E>> {
    return (this.socket.timeout(timeoutMs) as unknown as { emitWithAck(e: string, p: unknown): Promise<AckOf<E>> }).emitWithAck(event, payload);
  }

  /** A request that must succeed. */
  async must<E extends keyof Events>(event: E, payload: Parameters<Events[E]>[0], timeoutMs = 30_000): Promise<Extract<AckOf<E>, { ok: true }>> {
    const r = await this.call(event, payload, timeoutMs);
    if (!r.ok) throw new Error(`${this.name}: ${event} failed: ${r.error.code} ${r.error.message}`);
    return r as Extract<AckOf<E>, { ok: true }>;
  }

  onOutput(fn: (e: TextOutputEvent) => void): () => void {
    this.outputListeners.add(fn);
    return () => this.outputListeners.delete(fn);
  }

  /**
   * Resolves with the output event in which `needle` completes (searching each event
   * with the tail of the previous one), and the offset just past the needle.
   */
  waitForText(terminalId: string, needle: string, timeoutMs = 30_000): Promise<{ at: number; offsetAfter: number }> {
    return new Promise((resolve, reject) => {
      let carry = '';
      let carryStart = 0;
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${this.name}: timed out waiting for ${JSON.stringify(needle)}`));
      }, timeoutMs);
      const off = this.onOutput((e) => {
        if (e.terminalId !== terminalId) return;
        const text = carry + e.data;
        const base = carry ? carryStart : e.offset;
        const i = text.indexOf(needle);
        if (i >= 0) {
          clearTimeout(timer);
          off();
          resolve({ at: performance.now(), offsetAfter: base + i + needle.length });
          return;
        }
        const keep = Math.min(text.length, needle.length - 1);
        carry = text.slice(text.length - keep);
        carryStart = base + text.length - keep;
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * The output between a `TP<tag>:BEGIN` line and a `TP<tag>:END` marker, kept whole so
 * the benchmark can check every byte that arrived, and when the markers arrived.
 */
export class MarkedStream {
  private readonly begin: string;
  private readonly end: string;
  private readonly parts: string[] = [];
  /** Text not yet known to be free of the marker being looked for. */
  private recent = '';
  private state: 'before' | 'body' | 'done' = 'before';
  beganAt = 0;
  endedAt = 0;

  constructor(tag: string) {
    this.begin = `TP${tag}:BEGIN\r\n`;
    this.end = `TP${tag}:END`;
  }

  /** Feed output in arrival order; true once the END marker has arrived. */
  push(chunk: string): boolean {
    if (this.state === 'done') return true;
    if (this.state === 'before') {
      const text = this.recent + chunk;
      const i = text.indexOf(this.begin);
      if (i < 0) {
        this.recent = text.slice(-(this.begin.length - 1));
        return false;
      }
      this.state = 'body';
      this.beganAt = performance.now();
      this.recent = '';
      chunk = text.slice(i + this.begin.length);
    }
    this.parts.push(chunk);
    const window = this.recent + chunk;
    if (window.includes(this.end)) {
      this.state = 'done';
      this.endedAt = performance.now();
      return true;
    }
    this.recent = window.slice(-(this.end.length - 1));
    return false;
  }

  /** Everything that arrived between the markers. */
  body(): string {
    const all = this.parts.join('');
    return all.slice(0, all.indexOf(this.end));
  }

  /** MB/s of the body, from the BEGIN marker's arrival to the END marker's. */
  mbps(): number {
    return this.body().length / 1e6 / ((this.endedAt - this.beganAt) / 1000);
  }
}

/** Where `got` first differs from `want` (for error messages). */
export function firstDifference(got: string, want: string): string {
  let i = 0;
  while (i < got.length && i < want.length && got.charCodeAt(i) === want.charCodeAt(i)) i++;
  return `${got.length} chars received, ${want.length} expected; first difference at ${i}: got ${JSON.stringify(got.slice(i, i + 24))}, expected ${JSON.stringify(want.slice(i, i + 24))}`;
}

// ---- statistics ----

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(samples: readonly number[]) {
  const s = [...samples].sort((x, y) => x - y);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
  };
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((x, y) => x - y), 50);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- results ----

export interface Check {
  /** What is measured, e.g. "p99". */
  metric: string;
  value: number;
  unit: string;
  /** The target, as `>= x` or `< x`. */
  op: '>=' | '<';
  target: number;
}

export interface BenchResult {
  id: string;
  title: string;
  checks: Check[];
  /** Other numbers worth reading (not judged). */
  info: Record<string, number | string>;
  error?: string;
}

export const passed = (c: Check) => (c.op === '>=' ? c.value >= c.target : c.value < c.target);

export function fmt(n: number, unit: string): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return `${n} ${unit}`;
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return `${n.toFixed(digits)} ${unit}`;
}

/** A plain-text table; columns padded to their widest cell. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
