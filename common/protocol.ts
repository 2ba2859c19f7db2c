// The public socket.io protocol between browsers (or any client) and ptyhub.
// Shared by server and client; documented in docs/protocol.md. Types only, plus constants.

/** Limits every client and server agree on. */
export const LIMITS = {
  minCols: 2,
  maxCols: 1000,
  minRows: 1,
  maxRows: 500,
  /** Largest `terminal:input` payload, in UTF-16 code units. */
  maxInputLength: 64 * 1024,
  maxTitleLength: 100,
  maxDeviceNameLength: 100,
  maxIdLength: 128,
} as const;

export type ErrorCode =
  | 'bad_request' // payload failed validation
  | 'unauthorized' // no or bad token
  | 'not_found' // unknown terminal, or a terminal of another user (never revealed)
  | 'limit_reached' // per-user terminal cap
  | 'rate_limited' // too many events from this socket
  | 'terminal_ended' // the terminal exists but has ended
  | 'conflict' // a concurrent change won (version mismatch)
  | 'busy' // a lock could not be won before the deadline, or too much input already waits for the terminal to read it
  | 'unavailable' // owner instance or a backing service is unreachable
  | 'forbidden' // the account may not do this (account mode: it has no OS account)
  | 'internal';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export type Reply<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export interface TerminalInfo {
  id: string;
  title: string;
  cols: number;
  rows: number;
  /** The instance whose pty runs this terminal. */
  serverId: string;
  status: 'running' | 'ended';
  /** Integer, incremented by the database on every change. */
  version: number;
  createdAt: string;
  lastActivityAt: string;
  primarySocketId: string | null;
  /** Number of devices attached right now (in `terminal:list`). */
  deviceCount?: number;
}

export interface DeviceSummary {
  socketId: string;
  deviceId: string;
  deviceName: string;
  serverId: string;
  connectedAt: string;
  lastPingAt: string;
  primary: boolean;
}

/**
 * Recent output of a terminal, as the bytes the pty produced. `end` is the output offset
 * (in bytes of the whole output stream since the terminal started) just past `data`.
 * `data` may begin or end inside a UTF-8 sequence: decode it as a stream.
 */
export interface Replay {
  data: Uint8Array;
  start: number;
  end: number;
}

// ---- client -> server (every event takes an ack callback) ----

export interface CreatePayload { cols: number; rows: number; title?: string }
export interface TerminalRef { terminalId: string }
export interface InputPayload { terminalId: string; data: string }
/** The device has rendered the terminal's output up to `offset` (see OutputEvent). */
export interface AckPayload { terminalId: string; offset: number }
export interface ResizePayload { terminalId: string; cols: number; rows: number }
export interface RenamePayload { terminalId: string; title: string }
export interface DeviceRenamePayload { deviceName: string }

export type CreateReply = Reply<{ terminal: TerminalInfo }>;
export type ListReply = Reply<{ terminals: TerminalInfo[] }>;
export type AttachReply = Reply<{ terminal: TerminalInfo; replay: Replay; devices: DeviceSummary[] }>;
export type EmptyReply = Reply<object>;
export type ResizeReply = Reply<{ cols: number; rows: number; version: number }>;
export type ClaimReply = Reply<{ socketId: string; version: number }>;
export type RenameReply = Reply<{ title: string; version: number }>;
export type DeviceRenameReply = Reply<{ deviceName: string }>;
/** What runs in a terminal right now (read on the instance that owns its pty). */
export interface TerminalStatus {
  /** Name of the foreground process of the pty (e.g. "vim"), or null if unknown. */
  foreground: string | null;
  /** Whether that is the terminal's shell itself (nothing else is running). */
  shellIdle: boolean;
}
export type StatusReply = Reply<{ status: TerminalStatus }>;

export interface ClientToServerEvents {
  'terminal:create': (p: CreatePayload, ack: (r: CreateReply) => void) => void;
  'terminal:list': (p: object, ack: (r: ListReply) => void) => void;
  'terminal:attach': (p: TerminalRef, ack: (r: AttachReply) => void) => void;
  'terminal:detach': (p: TerminalRef, ack: (r: EmptyReply) => void) => void;
  'terminal:input': (p: InputPayload, ack: (r: EmptyReply) => void) => void;
  'terminal:ack': (p: AckPayload, ack: (r: EmptyReply) => void) => void;
  'terminal:resize': (p: ResizePayload, ack: (r: ResizeReply) => void) => void;
  'terminal:claim': (p: TerminalRef, ack: (r: ClaimReply) => void) => void;
  'terminal:close': (p: TerminalRef, ack: (r: EmptyReply) => void) => void;
  'terminal:rename': (p: RenamePayload, ack: (r: RenameReply) => void) => void;
  'terminal:status': (p: TerminalRef, ack: (r: StatusReply) => void) => void;
  'device:rename': (p: DeviceRenamePayload, ack: (r: DeviceRenameReply) => void) => void;
}

// ---- server -> client ----

export interface OutputEvent {
  terminalId: string;
  /** Bytes as the pty produced them (one binary frame, see common/output-frame-parser.ts). */
  data: Uint8Array;
  /** Output offset of the first byte of `data` (see Replay). */
  offset: number;
}
/** host_lost: this instance's pty host died (crash, kill -9), taking the shell with it. */
export type ExitReason = 'exited' | 'closed' | 'idle' | 'owner_lost' | 'shutdown' | 'host_lost';
export interface ExitEvent {
  terminalId: string;
  exitCode: number | null;
  signal: number | null;
  reason: ExitReason;
}
export interface ResizedEvent { terminalId: string; cols: number; rows: number; version: number }
export interface RenamedEvent { terminalId: string; title: string; version: number }
export interface PrimaryEvent { terminalId: string; socketId: string | null; deviceId: string | null; version: number }
export interface DevicesEvent { terminalId: string; devices: DeviceSummary[] }
export interface ServerShutdownEvent { serverId: string; reason: string }
/** Another device of the same user created a terminal. */
export interface CreatedEvent { terminal: TerminalInfo }

export interface ServerToClientEvents {
  'terminal:output': (e: OutputEvent) => void;
  'terminal:exit': (e: ExitEvent) => void;
  'terminal:resized': (e: ResizedEvent) => void;
  'terminal:renamed': (e: RenamedEvent) => void;
  'terminal:primary': (e: PrimaryEvent) => void;
  'terminal:devices': (e: DevicesEvent) => void;
  'terminal:created': (e: CreatedEvent) => void;
  'server:shutdown': (e: ServerShutdownEvent) => void;
}

/** What the socket.io handshake carries in `auth` (never in the URL). */
export interface HandshakeAuth {
  token: string;
  deviceId: string;
  deviceName?: string;
  /**
   * The device sends `terminal:ack` for the output it has rendered, and takes part in
   * flow control: the server sends it at most a window of un-acknowledged output.
   */
  outputAcks?: boolean;
}
