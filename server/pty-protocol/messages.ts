// Control messages between the web server and its pty host (JSON in CONTROL frames),
// validated on receipt by both sides.
import { z } from 'zod';
import { OS_USER_NAME } from '../os-accounts/passwd.js';

/**
 * Bumped on any incompatible change. Both sides check it at connect: a web server never
 * talks to a host built from other code (stop the old host with `npm run host:stop`).
 * 5: output offsets count bytes (4 counted UTF-16 code units).
 */
export const PTY_PROTOCOL_VERSION = 5;

const id = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/);
const size = { cols: z.number().int().min(1).max(10_000), rows: z.number().int().min(1).max(10_000) };

/** What a client says first. A `server` is the web server; `control` is `npm run host:stop`. */
export const helloSchema = z.object({
  t: z.literal('hello'),
  version: z.number().int(),
  role: z.enum(['server', 'control']),
  serverId: z.string().min(1).max(64),
});

export const toHostSchema = z.discriminatedUnion('t', [
  helloSchema,
  z.object({
    t: z.literal('spawn'),
    id,
    shell: z.string().min(1).max(4096),
    cwd: z.string().min(1).max(4096),
    ...size,
    /** TERMINAL_USER_MODE=account: the OS account the shell runs as (its own shell and home). */
    osUser: z.string().regex(OS_USER_NAME).optional(),
  }),
  z.object({ t: z.literal('resize'), id, ...size }),
  z.object({ t: z.literal('replay'), id }),
  /** What runs in the pty now (answered with `status`). */
  z.object({ t: z.literal('status'), id }),
  z.object({ t: z.literal('kill'), id, signal: z.enum(['SIGHUP', 'SIGKILL']) }),
  /**
   * Flow control: stop reading the pty once its output reaches `limit` (the devices have
   * no credit beyond); null: no limit. Not answered; the host says `flow` when it pauses
   * or resumes.
   */
  z.object({ t: z.literal('flow'), id, limit: z.number().int().min(0).nullable() }),
  /** End every terminal, then exit (`npm run host:stop`). */
  z.object({ t: z.literal('stop') }),
]);
export type ToHost = z.infer<typeof toHostSchema>;

export const hostTerminalSchema = z.object({ id, pid: z.number().int(), end: z.number().int().min(0) });
export const hostExitSchema = z.object({ id, exitCode: z.number().int().nullable(), signal: z.number().int().nullable() });
export type HostTerminal = z.infer<typeof hostTerminalSchema>;
export type HostExit = z.infer<typeof hostExitSchema>;

export const fromHostSchema = z.discriminatedUnion('t', [
  /**
   * Accepted: the host's live terminals, and those that exited while no web server was
   * connected (the web server records them as ended).
   */
  z.object({
    t: z.literal('welcome'),
    version: z.number().int(),
    hostPid: z.number().int(),
    terminals: z.array(hostTerminalSchema),
    exited: z.array(hostExitSchema),
  }),
  /** Refused (version or SERVER_ID mismatch, another web server attached); says what to do. */
  z.object({ t: z.literal('refused'), message: z.string() }),
  z.object({ t: z.literal('ok') }),
  z.object({ t: z.literal('status'), foreground: z.string().nullable(), shellIdle: z.boolean() }),
  z.object({ t: z.literal('error'), message: z.string() }),
  /** Unasked: the host stopped (or resumed) reading a pty for flow control. */
  z.object({ t: z.literal('flow'), id, paused: z.boolean() }),
  /** Answer to an INPUT frame that does not fit in the terminal's input queue (none of it was taken). */
  z.object({ t: z.literal('busy'), message: z.string() }),
  /** A terminal's shell exited; `shutdown` when the host ended it because it is stopping. */
  z.object({ t: z.literal('exit'), ...hostExitSchema.shape, shutdown: z.boolean() }),
  /** Answer to `stop`: the terminals ended, and whether a web server was attached to record them. */
  z.object({ t: z.literal('stopped'), ended: z.array(hostExitSchema), serverAttached: z.boolean() }),
]);
export type FromHost = z.infer<typeof fromHostSchema>;
