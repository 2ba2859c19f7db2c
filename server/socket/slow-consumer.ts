// Protects the server from devices that cannot keep up with a terminal's output (a
// phone on a bad link while `yes` runs): output waiting for such a socket would grow
// without bound. When too much is queued for one socket, it is disconnected; the client
// reconnects and re-attaches, and the replay restores its screen. Other devices of the
// terminal are not slowed down.
import type { Logger } from '../log/logger.js';
import type { PtySocket } from './socket-events.js';

/** Packets engine.io may queue while the transport is busy before we give up. */
const MAX_QUEUED_PACKETS = 4096;

export function guardSlowConsumer(socket: PtySocket, maxBufferedBytes: number, logger: Logger): void {
  const conn = socket.conn as unknown as {
    writeBuffer: unknown[];
    transport: { socket?: { bufferedAmount?: number } };
    on(event: 'packetCreate', fn: () => void): void;
  };
  let tripped = false;
  conn.on('packetCreate', () => {
    if (tripped) return;
    const buffered = conn.transport.socket?.bufferedAmount ?? 0;
    if (buffered <= maxBufferedBytes && conn.writeBuffer.length <= MAX_QUEUED_PACKETS) return;
    tripped = true;
    logger.warn(
      { socketId: socket.id, bufferedBytes: buffered, queuedPackets: conn.writeBuffer.length },
      'device cannot keep up with output; disconnecting it (it will reconnect and replay)',
    );
    socket.disconnect(true);
  });
}
