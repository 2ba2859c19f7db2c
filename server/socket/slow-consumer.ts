// Protects the server from devices that cannot keep up with a terminal's output (a
// phone on a bad link while `yes` runs): output waiting for such a socket would grow
// without bound. When too much is queued for one socket, it is disconnected; the client
// reconnects and re-attaches, and the replay restores its screen. Other devices of the
// terminal are not slowed down.
import type { Logger } from '../log/logger.js';
import { markDisconnectReason } from './disconnect-reasons.js';
import type { PtySocket } from './socket-events.js';

interface EnginePacket {
  data?: string | Buffer | ArrayBuffer;
}

const sizeOf = (p: EnginePacket): number =>
  typeof p.data === 'string' ? p.data.length : p.data ? (p.data as ArrayBuffer).byteLength : 0;

export function guardSlowConsumer(socket: PtySocket, maxBufferedBytes: number, logger: Logger): void {
  // Output waits in two places: engine.io's write buffer (while the transport is busy
  // with an earlier send) and the WebSocket's own buffer (sent, not yet taken by the kernel).
  const conn = socket.conn as unknown as {
    transport: { socket?: { bufferedAmount?: number } };
    on(event: 'packetCreate', fn: (p: EnginePacket) => void): void;
    on(event: 'flush', fn: (sent: EnginePacket[]) => void): void;
  };
  let queued = 0;
  let tripped = false;
  conn.on('flush', (sent) => {
    for (const p of sent) queued -= sizeOf(p);
  });
  conn.on('packetCreate', (packet) => {
    queued += sizeOf(packet);
    if (tripped) return;
    const inSocket = conn.transport.socket?.bufferedAmount ?? 0;
    if (queued + inSocket <= maxBufferedBytes) return;
    tripped = true;
    logger.warn(
      { socketId: socket.id, queuedBytes: queued, socketBufferedBytes: inSocket },
      'device cannot keep up with output; disconnecting it (it will reconnect and replay)',
    );
    markDisconnectReason([socket], 'slow_consumer');
    socket.disconnect(true);
  });
}
