// The socket.io parser that carries `terminal:output` as one binary frame.
import { describe, expect, it } from 'vitest';
import { PacketType, type Packet } from 'socket.io-parser';
import { Decoder, Encoder } from '../../common/output-frame-parser.js';

function roundTrip(packet: Packet): { frames: unknown[]; decoded: Packet[] } {
  const frames = new Encoder().encode(packet);
  const decoder = new Decoder();
  const decoded: Packet[] = [];
  decoder.on('decoded', (p: Packet) => decoded.push(p));
  for (const f of frames) decoder.add(f);
  return { frames, decoded };
}

describe('output frame parser', () => {
  it('carries output bytes and a large offset in one binary frame', () => {
    const data = Buffer.from('é漢😀\r\n', 'utf8');
    const offset = 2 ** 40 + 12345;
    const { frames, decoded } = roundTrip({ type: PacketType.EVENT, nsp: '/', data: ['terminal:output', { terminalId: 'term-1', data, offset }] });
    expect(frames).toHaveLength(1);
    expect(frames[0]).toBeInstanceOf(Uint8Array);
    expect((frames[0] as Uint8Array).length).toBe(8 + 'term-1'.length + data.length);
    expect(decoded).toHaveLength(1);
    const [name, e] = decoded[0]!.data as [string, { terminalId: string; offset: number; data: Uint8Array }];
    expect(name).toBe('terminal:output');
    expect(e.terminalId).toBe('term-1');
    expect(e.offset).toBe(offset);
    expect(Buffer.from(e.data).equals(data)).toBe(true);
  });

  it('leaves every other packet to socket.io (text, and binary attachments)', () => {
    const text = roundTrip({ type: PacketType.EVENT, nsp: '/', data: ['terminal:exit', { terminalId: 't', code: 0 }] });
    expect(text.frames.every((f) => typeof f === 'string')).toBe(true);
    expect(text.decoded[0]!.data).toEqual(['terminal:exit', { terminalId: 't', code: 0 }]);
    // An acknowledged reply carrying bytes (an attach reply's replay) stays an attachment.
    const bytes = Buffer.from([0xfe, 1, 2]);
    const reply = roundTrip({ type: PacketType.ACK, nsp: '/', id: 7, data: [{ ok: true, replay: { data: bytes, start: 0, end: 3 } }] });
    expect(reply.frames).toHaveLength(2);
    expect(reply.decoded).toHaveLength(1);
    const replay = (reply.decoded[0]!.data as Array<{ replay: { data: Uint8Array } }>)[0]!.replay;
    expect(Buffer.from(replay.data).equals(bytes)).toBe(true);

    // As a browser receives them: ArrayBuffers, handed on as Uint8Arrays.
    const decoder = new Decoder();
    const got: Packet[] = [];
    decoder.on('decoded', (p: Packet) => got.push(p));
    for (const f of reply.frames) decoder.add(typeof f === 'string' ? f : new Uint8Array(f as Uint8Array).buffer);
    const fromBrowser = (got[0]!.data as Array<{ replay: { data: unknown } }>)[0]!.replay.data;
    expect(fromBrowser).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(fromBrowser as Uint8Array).equals(bytes)).toBe(true);
  });
});
