// The socket.io connection: handshake auth, status, reconnection with backoff, and a
// request helper that turns every ack (or its absence) into a protocol Reply.

import { io, type Socket } from 'socket.io-client';
import { outputFrameParser } from '../../common/output-frame-parser.js';
import type { ClientToServerEvents, ErrorCode, HandshakeAuth, ServerToClientEvents } from '../../common/protocol.js';

export type ConnState = 'connecting' | 'connected' | 'reconnecting' | 'offline';

type Events = ClientToServerEvents;
export type RequestName = keyof Events;
export type PayloadOf<E extends RequestName> = Parameters<Events[E]>[0];
export type ReplyOf<E extends RequestName> = Parameters<Parameters<Events[E]>[1]>[0];

export interface ConnectionHandlers {
  /** Every successful (re)connection. `first` is true only for the very first. */
  onConnect(first: boolean): void;
  onDisconnect(): void;
  onState(state: ConnState, detail: string): void;
  /** The server refused the token: the session is over. */
  onUnauthorized(): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export class Connection {
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  state: ConnState = 'connecting';
  detail = '';
  private everConnected = false;
  private closed = false;
  private manualRetry: ReturnType<typeof setTimeout> | undefined;
  private manualAttempts = 0;

  constructor(
    private auth: HandshakeAuth,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.socket = io({
      path: '/socket.io',
      transports: ['websocket'],
      // `terminal:output` arrives as one binary frame (the server uses the same parser).
      parser: outputFrameParser,
      auth: { ...auth },
      autoConnect: false,
      reconnection: true,
      reconnectionAttempts: Infinity,
      reconnectionDelay: 500,
      reconnectionDelayMax: 8_000,
      randomizationFactor: 0.5,
      timeout: 10_000,
    });

    this.socket.on('connect', () => {
      this.manualAttempts = 0;
      clearTimeout(this.manualRetry);
      const first = !this.everConnected;
      this.everConnected = true;
      this.setState('connected', '');
      this.handlers.onConnect(first);
    });

    this.socket.on('disconnect', (reason) => {
      if (this.closed) return;
      this.handlers.onDisconnect();
      this.setState(this.retryState(), 'Connection lost');
      // The server (or a proxy in its name) closed us on purpose; socket.io does not
      // retry that by itself. Try again: a revoked token comes back as 'unauthorized'.
      if (reason === 'io server disconnect') this.scheduleManualRetry();
    });

    this.socket.on('connect_error', (err) => {
      if (this.closed) return;
      if (err.message === 'unauthorized') {
        this.close();
        this.handlers.onUnauthorized();
        return;
      }
      this.setState(this.everConnected ? this.retryState() : navigator.onLine ? 'connecting' : 'offline', err.message);
      // A refusal by a server middleware stops socket.io's own reconnection loop.
      if (!this.socket.active) this.scheduleManualRetry();
    });

    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  get socketId(): string | null {
    return this.socket.connected ? (this.socket.id ?? null) : null;
  }

  get deviceId(): string {
    return this.auth.deviceId;
  }

  get deviceName(): string {
    return this.auth.deviceName ?? '';
  }

  connect(): void {
    this.setState('connecting', '');
    this.socket.connect();
  }

  /**
   * New device name: told to the server on this connection (no reconnect, so control of
   * terminal sizes is kept), and sent in the handshake of later connections.
   */
  async setDeviceName(name: string): Promise<ReplyOf<'device:rename'>> {
    this.auth = { ...this.auth, deviceName: name };
    this.socket.auth = { ...this.auth };
    return this.request('device:rename', { deviceName: name });
  }

  /**
   * Emit with an ack and a deadline. Never throws: a timeout, a lost connection or a
   * malformed ack becomes { ok: false, error }.
   */
  async request<E extends RequestName>(event: E, payload: PayloadOf<E>, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ReplyOf<E>> {
    if (!this.socket.connected) return failure<E>('unavailable', 'Not connected to the server.');
    try {
      // The timeout() typing decorates acks with an error argument, which defeats
      // emitWithAck's inference; the reply type is restored below.
      const emitter = this.socket.timeout(timeoutMs) as unknown as {
        emitWithAck(ev: string, p: unknown): Promise<unknown>;
      };
      const reply = (await emitter.emitWithAck(event, payload)) as { ok?: unknown } | null;
      if (!reply || typeof reply !== 'object' || typeof reply.ok !== 'boolean') {
        return failure<E>('internal', 'The server sent a malformed reply.');
      }
      return reply as ReplyOf<E>;
    } catch {
      return failure<E>(
        'unavailable',
        this.socket.connected ? 'The server did not answer in time.' : 'The connection was lost.',
      );
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.manualRetry);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.socket.disconnect();
    this.socket.removeAllListeners();
  }

  private retryState(): ConnState {
    return navigator.onLine ? 'reconnecting' : 'offline';
  }

  private setState(state: ConnState, detail: string): void {
    if (this.state === state && this.detail === detail) return;
    this.state = state;
    this.detail = detail;
    this.handlers.onState(state, detail);
  }

  private scheduleManualRetry(): void {
    if (this.closed) return;
    clearTimeout(this.manualRetry);
    const base = Math.min(8_000, 500 * 2 ** this.manualAttempts++);
    const delay = base / 2 + Math.random() * base;
    this.manualRetry = setTimeout(() => {
      if (!this.closed && !this.socket.connected && !this.socket.active) this.socket.connect();
    }, delay);
  }

  private onOnline = () => {
    if (this.closed || this.socket.connected) return;
    this.setState(this.everConnected ? 'reconnecting' : 'connecting', 'Back online');
    // Skip the rest of the backoff delay: the network just came back.
    this.socket.disconnect();
    this.socket.connect();
  };

  private onOffline = () => {
    if (this.closed || this.socket.connected) return;
    this.setState('offline', 'This device is offline');
  };
}

function failure<E extends RequestName>(code: ErrorCode, message: string): ReplyOf<E> {
  return { ok: false, error: { code, message } } as ReplyOf<E>;
}
