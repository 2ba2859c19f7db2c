// The pty host's framed protocol: frames survive any split of the byte stream, output
// travels as raw UTF-8 with its offset, and a malformed stream is refused.
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, FrameError, FrameType, type Frame } from '../../server/pty-protocol/frames.js';

function decodeAll(bytes: Buffer, splits: number[]): Frame[] {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let at = 0;
  for (const end of [...splits, bytes.length]) {
    decoder.push(bytes.subarray(at, end), (f) => frames.push(f));
    at = end;
  }
  return frames;
}

describe('pty protocol frames', () => {
  const id = '01a22e74-34bb-77b6-980f-8cda7d9daee6';
  const text = 'héllo wörld \u{1F600}\r\n';
  const stream = Buffer.concat([
    encodeFrame(FrameType.Output, id, 0, 2 ** 40 + 7, text),
    encodeFrame(FrameType.Control, '', 4_000_000_000, 0, '{"t":"ok"}'),
    encodeFrame(FrameType.Replay, id, 9, 123, Buffer.alloc(0)),
  ]);

  it('decodes the same frames whatever the chunking (every single split point)', () => {
    const expected = [
      { type: FrameType.Output, terminalId: id, seq: 0, offset: 2 ** 40 + 7, payload: text },
      { type: FrameType.Control, terminalId: '', seq: 4_000_000_000, offset: 0, payload: '{"t":"ok"}' },
      { type: FrameType.Replay, terminalId: id, seq: 9, offset: 123, payload: '' },
    ];
    for (let split = 0; split <= stream.length; split++) {
      const frames = decodeAll(stream, [split]).map((f) => ({ ...f, payload: f.payload.toString('utf8') }));
      expect(frames).toEqual(expected);
    }
    const byteByByte = decodeAll(stream, Array.from({ length: stream.length }, (_, i) => i));
    expect(byteByByte.map((f) => f.payload.toString('utf8'))).toEqual([text, '{"t":"ok"}', '']);
  });

  it('carries output as raw UTF-8 bytes: 16-byte header, the id, then the text', () => {
    const frame = encodeFrame(FrameType.Output, id, 0, 5, text);
    expect(frame.length).toBe(16 + id.length + Buffer.byteLength(text));
    expect(frame.subarray(16 + id.length).equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('refuses an unknown frame type and an oversized payload', () => {
    const bad = encodeFrame(FrameType.Output, id, 0, 0, 'x');
    bad.writeUInt8(99, 0);
    expect(() => new FrameDecoder().push(bad, () => undefined)).toThrow(FrameError);
    const huge = encodeFrame(FrameType.Output, id, 0, 0, 'x');
    huge.writeUInt32BE(0xffffffff, 12);
    expect(() => new FrameDecoder().push(huge, () => undefined)).toThrow(FrameError);
  });
});
