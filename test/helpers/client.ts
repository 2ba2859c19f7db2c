// A real socket.io client for tests, speaking the public protocol.
import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
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
}

/** Connects and resolves once connected; rejects with the connect_error message. */
export function connect(baseUrl: string, opts: ConnectOptions): Promise<TestClient> {
  const socket: TestSocket = io(baseUrl, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: { token: opts.token, deviceId: opts.deviceId ?? `dev-${randomUUID().slice(0, 8)}`, deviceName: opts.deviceName ?? 'test' },
    extraHeaders: opts.origin ? { origin: opts.origin } : undefined,
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

export class TestClient {
  private readonly screens = new Map<string, { text: string; seq: OutputSequencer }>();
  private readonly textWaiters = new Set<() => void>();
  readonly events: Array<{ event: string; payload: any }> = [];

  constructor(readonly socket: TestSocket) {
    socket.on('terminal:output', (e) => this.screen(e.terminalId).seq.push(e));
    socket.onAny((event: string, payload: unknown) => {
      if (event !== 'terminal:output') this.events.push({ event, payload });
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
    return this.screens.get(terminalId)?.text ?? '';
  }

  forget(terminalId: string): void {
    this.screens.delete(terminalId);
  }

  waitForOutput(terminalId: string, match: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const test = () => {
      const text = this.output(terminalId);
      return typeof match === 'string' ? text.includes(match) : match.test(text);
    };
    return this.until(test, () => `output of ${terminalId} to match ${String(match)}; got: ${JSON.stringify(this.output(terminalId).slice(-500))}`, timeoutMs).then(() =>
      this.output(terminalId),
    );
  }

  waitForEvent(event: string, match: (payload: any) => boolean = () => true, timeoutMs = 10_000): Promise<any> {
    const find = () => this.events.find((e) => e.event === event && match(e.payload));
    return this.until(() => Boolean(find()), () => `event ${event}`, timeoutMs).then(() => find()!.payload);
  }

  until(test: () => boolean, what: () => string, timeoutMs: number): Promise<void> {
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
        reject(new Error(`timed out waiting for ${what()}`));
      }, timeoutMs);
      this.textWaiters.add(check);
    });
  }

  close(): void {
    this.socket.close();
  }

  private screen(terminalId: string) {
    let s = this.screens.get(terminalId);
    if (!s) {
      const entry = { text: '', seq: null as unknown as OutputSequencer };
      entry.seq = new OutputSequencer((data) => {
        entry.text += data;
        for (const w of this.textWaiters) w();
      });
      this.screens.set(terminalId, (s = entry));
    }
    return s;
  }
}
