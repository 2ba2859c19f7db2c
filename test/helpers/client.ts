// A real socket.io client for tests, speaking the public protocol.
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { outputFrameParser } from '../../common/output-frame-parser.js';
import { OutputSequencer } from '../../common/output-sequencer.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../../common/protocol.js';

export type TestSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export async function login(baseUrl: string, username: string, password: string): Promise<string> {
  const res = await fetch(`${baseUrl}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

export interface ConnectOptions {
  token: string;
  deviceId?: string;
  deviceName?: string;
  origin?: string;
  /** More handshake headers (e.g. X-Forwarded-For behind a trusted proxy). */
  headers?: Record<string, string>;
  /** Take part in flow control: the test then sends `terminal:ack` itself (see ackOutput). */
  outputAcks?: boolean;
}

/** Connects and resolves once connected; rejects with the connect_error message. */
export function connect(baseUrl: string, opts: ConnectOptions): Promise<TestClient> {
  const socket: TestSocket = io(baseUrl, {
    transports: ['websocket'],
    parser: outputFrameParser,
    reconnection: false,
    forceNew: true,
    auth: {
      token: opts.token,
      deviceId: opts.deviceId ?? `dev-${randomUUID().slice(0, 8)}`,
      deviceName: opts.deviceName ?? 'test',
      ...(opts.outputAcks ? { outputAcks: true } : {}),
    },
    extraHeaders: opts.origin || opts.headers ? { ...opts.headers, ...(opts.origin ? { origin: opts.origin } : {}) } : undefined,
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(new TestClient(socket)));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

type Ack<E extends keyof ClientToServerEvents> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];

/**
 * A terminal's output as this client saw it. Kept as chunks and joined only when read:
 * `text += data` of megabytes followed by a scan of the whole text on every event made
 * waiting for the end of a large output quadratic (seconds of CPU for 5 MB).
 */
interface Screen {
  chunks: string[];
  length: number;
  seq: OutputSequencer;
}

/** How far back a RegExp is re-tested on new output (matches may straddle chunks). */
const REGEX_LOOKBACK = 64 * 1024;
/** Characters before the search start that a RegExp can see (lookbehind, \b, ^ with m). */
const REGEX_CONTEXT = 256;
/** Chunks are joined when there are more than this many, to bound memory and tail walks. */
const MAX_CHUNKS = 512;

export class TestClient {
  private readonly screens = new Map<string, Screen>();
  private readonly textWaiters = new Set<() => void>();
  readonly events: Array<{ event: string; payload: any }> = [];

  constructor(readonly socket: TestSocket) {
    socket.on('terminal:output', (e) => this.screen(e.terminalId).seq.push(e));
    socket.onAny((event: string, payload: unknown) => {
      // New output wakes the waiters when the sequencer delivers it (once, after it is
      // appended); waking them here too would only re-test unchanged text.
      if (event === 'terminal:output') return;
      this.events.push({ event, payload });
      for (const w of this.textWaiters) w();
    });
  }

  get id(): string {
    return this.socket.id!;
  }

  call<E extends keyof ClientToServerEvents>(event: E, payload: Parameters<ClientToServerEvents[E]>[0], timeoutMs = 15_000): Promise<Ack<E>> {
    return (this.socket.timeout(timeoutMs) as any).emitWithAck(event, payload);
  }

  /** Attach and feed the replay into this client's screen for the terminal. */
  async attach(terminalId: string) {
    const reply = await this.call('terminal:attach', { terminalId });
    if (reply.ok) this.screen(terminalId).seq.reset(reply.replay);
    return reply;
  }

  /** Everything the terminal printed that this client has seen, in order, once. */
  output(terminalId: string): string {
    const s = this.screens.get(terminalId);
    return s ? this.flat(s) : '';
  }

  forget(terminalId: string): void {
    this.screens.delete(terminalId);
  }

  /**
   * Resolves with the whole output once it contains `match`. Each new piece of output
   * is tested together with just enough of what came before it: a string with its
   * length - 1 characters, a RegExp with the last 64 KiB (plus a little context). A
   * RegExp match longer than that is still found, by a test of the whole output each
   * time the output has doubled and once more at the deadline, so it is never missed.
   */
  waitForOutput(terminalId: string, match: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const full = () => {
      const text = this.output(terminalId);
      if (typeof match === 'string') return text.includes(match);
      match.lastIndex = 0;
      return match.test(text);
    };
    const incremental =
      typeof match === 'string' ? this.stringTester(terminalId, match) : match.sticky ? full : this.regexTester(terminalId, match);
    return this.until(
      incremental,
      () => `output of ${terminalId} to match ${String(match)}; got: ${JSON.stringify(this.output(terminalId).slice(-500))}`,
      timeoutMs,
      full,
    ).then(() => this.output(terminalId));
  }

  waitForEvent(event: string, match: (payload: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    const find = () => this.events.find((e) => e.event === event && match(e.payload));
    return this.until(() => Boolean(find()), () => `event ${event}`, timeoutMs).then(() => find()!.payload);
  }

  /**
   * Resolves once `test()` is true; it is run now and after every event and new output.
   * `finalTest`, when given, decides at the deadline instead of rejecting outright.
   */
  until(test: () => boolean, what: () => string, timeoutMs: number, finalTest?: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!test()) return;
        this.textWaiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.textWaiters.delete(check);
        if (finalTest?.()) resolve();
        else reject(new Error(`timed out waiting for ${what()}`));
      }, timeoutMs);
      this.textWaiters.add(check);
    });
  }

  /** Offset just past the output of a terminal this client has seen, or null. */
  offset(terminalId: string): number | null {
    return this.screens.get(terminalId)?.seq.offset ?? null;
  }

  /**
   * Acknowledge output as it arrives (flow control), like a device that renders at once;
   * returns a function that stops it. One ack in flight at a time, always the newest.
   */
  ackOutput(terminalId: string): () => void {
    let sending = false;
    let acked = -1;
    let stopped = false;
    const pump = async () => {
      if (sending) return;
      sending = true;
      try {
        for (let at = this.offset(terminalId); !stopped && at !== null && at > acked; at = this.offset(terminalId)) {
          acked = at;
          await this.call('terminal:ack', { terminalId, offset: at }).catch(() => undefined);
        }
      } finally {
        sending = false;
      }
    };
    const onOutput = (e: { terminalId: string }) => {
      if (e.terminalId === terminalId) void pump();
    };
    this.socket.on('terminal:output', onOutput);
    void pump();
    return () => {
      stopped = true;
      this.socket.off('terminal:output', onOutput);
    };
  }

  close(): void {
    this.socket.close();
  }

  private screen(terminalId: string): Screen {
    let s = this.screens.get(terminalId);
    if (!s) {
      const entry: Screen = { chunks: [], length: 0, seq: null as unknown as OutputSequencer };
      // Output is bytes; tests read text. One streaming decoder per terminal joins UTF-8
      // sequences split between pieces.
      const decoder = new TextDecoder();
      entry.seq = new OutputSequencer((bytes) => {
        const data = decoder.decode(bytes, { stream: true });
        if (data.length === 0) return;
        entry.chunks.push(data);
        entry.length += data.length;
        if (entry.chunks.length > MAX_CHUNKS) entry.chunks = [entry.chunks.join('')];
        for (const w of this.textWaiters) w();
      });
      this.screens.set(terminalId, (s = entry));
    }
    return s;
  }

  /** The output from offset `from` to the end, joining only the chunks it spans. */
  private tail(s: Screen, from: number): string {
    if (from <= 0) return this.flat(s);
    const parts: string[] = [];
    let start = s.length;
    for (let i = s.chunks.length - 1; i >= 0 && start > from; i--) {
      const c = s.chunks[i]!;
      start -= c.length;
      parts.push(start < from ? c.slice(from - start) : c);
    }
    return parts.reverse().join('');
  }

  private flat(s: Screen): string {
    if (s.chunks.length > 1) s.chunks = [s.chunks.join('')];
    return s.chunks[0] ?? '';
  }

  /** Tests only output not seen before, with an overlap of needle.length - 1. Exact. */
  private stringTester(terminalId: string, needle: string): () => boolean {
    let seen: Screen | undefined;
    let scanned = 0;
    return () => {
      const s = this.screens.get(terminalId);
      if (!s) return needle === '';
      if (s !== seen) [seen, scanned] = [s, -1]; // a new screen (after forget): start over
      if (s.length === scanned) return false;
      const from = Math.max(0, scanned - (needle.length - 1));
      scanned = s.length;
      return this.tail(s, from).includes(needle);
    };
  }

  /**
   * Tests new output plus the last REGEX_LOOKBACK characters before it, searching with a
   * global copy of the RegExp from that point so it still sees REGEX_CONTEXT characters
   * before it (a `^` cannot match at the cut). The whole output is tested again whenever
   * it has doubled since the last whole test, so long matches are found late, not never.
   */
  private regexTester(terminalId: string, re: RegExp): () => boolean {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
    let seen: Screen | undefined;
    let scanned = 0;
    let fullAt = 0;
    return () => {
      const s = this.screens.get(terminalId);
      if (!s) {
        g.lastIndex = 0;
        return g.test('');
      }
      if (s !== seen) [seen, scanned, fullAt] = [s, -1, 0];
      if (s.length === scanned) return false;
      const searchFrom = s.length >= 2 * fullAt ? 0 : Math.max(0, scanned - REGEX_LOOKBACK);
      if (searchFrom === 0) fullAt = Math.max(1, s.length);
      scanned = s.length;
      const ctxStart = Math.max(0, searchFrom - REGEX_CONTEXT);
      g.lastIndex = searchFrom - ctxStart;
      return g.test(this.tail(s, ctxStart));
    };
  }
}
