// Why a device was disconnected, as a small fixed set (a metric label and an audit reason).
// socket.io reports every server-side disconnect as "server namespace disconnect", so the
// code that disconnects a socket for a reason of ours marks it first. An unmarked
// server-side disconnect comes from a token room (logout or password reset, possibly
// from another instance): the token was revoked.

export type ServerDisconnectReason = 'slow_consumer' | 'token_expired' | 'shutdown';

interface Markable {
  data: { disconnectReason?: ServerDisconnectReason };
}

export function markDisconnectReason(sockets: Iterable<Markable>, reason: ServerDisconnectReason): void {
  for (const socket of sockets) socket.data.disconnectReason ??= reason;
}

const FROM_SOCKET_IO: Record<string, string> = {
  'server namespace disconnect': 'token_revoked',
  'client namespace disconnect': 'client',
  'transport close': 'transport_close',
  'transport error': 'transport_error',
  'ping timeout': 'ping_timeout',
  'parse error': 'parse_error',
  'forced close': 'forced_close',
  'forced server close': 'forced_server_close',
  'server shutting down': 'shutdown',
};

export function disconnectReasonOf(socket: Markable, socketIoReason: string): string {
  return socket.data.disconnectReason ?? FROM_SOCKET_IO[socketIoReason] ?? 'other';
}
