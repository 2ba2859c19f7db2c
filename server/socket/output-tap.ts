// Tells flow control how far each terminal's output has gone out to this instance's
// devices. Every `terminal:output` broadcast to a room passes through the adapter once
// on each instance with members in it (this instance's own broadcasts, and those the
// Redis adapter brings from other instances), where it is encoded once before it is
// handed to the room's sockets: that is where it is seen, before any socket gets it.
import type { PtyServer } from './socket-server.js';

interface Packet {
  data?: unknown[];
}

type Encode = (packet: Packet, opts: unknown) => unknown;

const lengthOf = (data: unknown): number =>
  typeof data === 'string' ? data.length : data instanceof Uint8Array || data instanceof ArrayBuffer ? data.byteLength : 0;

export function tapOutput(io: PtyServer, onOutput: (terminalId: string, end: number) => void): void {
  const adapter = io.of('/').adapter as unknown as { _encode?: Encode };
  const encode = adapter._encode;
  // socket.io-adapter's internal seam (2.x): fail loudly at start-up if it ever moves.
  if (typeof encode !== 'function') throw new Error('cannot watch output for flow control: socket.io-adapter has no _encode');
  adapter._encode = function (this: unknown, packet: Packet, opts: unknown) {
    const args = packet.data;
    if (Array.isArray(args) && args[0] === 'terminal:output') {
      const e = args[1] as { terminalId?: unknown; offset?: unknown; data?: unknown } | undefined;
      if (e && typeof e.terminalId === 'string' && typeof e.offset === 'number') onOutput(e.terminalId, e.offset + lengthOf(e.data));
    }
    return encode.call(this, packet, opts);
  };
}
