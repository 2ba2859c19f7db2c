// Why a device left, as one bounded label: our own reasons win over socket.io's.
import { describe, expect, it } from 'vitest';
import { disconnectReasonOf, markDisconnectReason } from '../../server/socket/disconnect-reasons.js';

const socket = () => ({ data: {} as { disconnectReason?: 'slow_consumer' | 'token_expired' | 'shutdown' } });

describe('disconnect reasons', () => {
  it('names a server-side disconnect by the mark set before it, else as a revoked token', () => {
    const expired = socket();
    markDisconnectReason([expired], 'token_expired');
    expect(disconnectReasonOf(expired, 'server namespace disconnect')).toBe('token_expired');
    expect(disconnectReasonOf(socket(), 'server namespace disconnect')).toBe('token_revoked');
  });

  it('keeps the first mark (a slow device disconnected during shutdown stays slow_consumer)', () => {
    const s = socket();
    markDisconnectReason([s], 'slow_consumer');
    markDisconnectReason([s], 'shutdown');
    expect(disconnectReasonOf(s, 'server namespace disconnect')).toBe('slow_consumer');
  });

  it("maps socket.io's reasons to short labels, and anything unknown to other", () => {
    expect(disconnectReasonOf(socket(), 'client namespace disconnect')).toBe('client');
    expect(disconnectReasonOf(socket(), 'transport close')).toBe('transport_close');
    expect(disconnectReasonOf(socket(), 'ping timeout')).toBe('ping_timeout');
    expect(disconnectReasonOf(socket(), 'server shutting down')).toBe('shutdown');
    expect(disconnectReasonOf(socket(), 'something new in socket.io 5')).toBe('other');
  });
});
