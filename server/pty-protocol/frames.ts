// The framed binary protocol between the web server and its pty host (a Unix socket).
// Shared by both processes. Terminal output and input travel as raw bytes (no JSON
// escaping, no base64); control messages are JSON inside a CONTROL frame.
//
// Frame: a 16-byte header, the terminal id (ASCII), then the payload.
//   u8  type      FrameType
//   u8  idLength  bytes of the terminal id (0 when none)
//   u32 seq       request number a reply answers (0 when none)
//   u48 offset    output offset of the payload's first byte (OUTPUT, REPLAY)
//   u32 length    payload bytes
// Offsets count bytes of the output stream, as everywhere else (see
// common/output-sequencer.ts), so the web server passes them and the bytes on unchanged.

export const FrameType = {
  /** host -> server: output of a terminal at an offset. */
  Output: 1,
  /** server -> host: keystrokes for a terminal. */
  Input: 2,
  /** both ways: a JSON control message (see messages.ts). */
  Control: 3,
  /** host -> server: a terminal's replay, answering request `seq`; offset = its start. */
  Replay: 4,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export interface Frame {
  type: FrameType;
  terminalId: string;
  seq: number;
  offset: number;
  payload: Buffer;
}

const HEADER_BYTES = 16;
/** Largest payload accepted; a replay is at most 16 MiB (see REPLAY_BUFFER_CHARS). */
export const MAX_PAYLOAD_BYTES = 80 * 1024 * 1024;

export function encodeFrame(type: FrameType, terminalId: string, seq: number, offset: number, payload: Uint8Array | string): Buffer {
  const idLength = Buffer.byteLength(terminalId, 'latin1');
  // Text is encoded straight into the frame: one copy of the output, not two.
  const bodyLength = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
  const frame = Buffer.allocUnsafe(HEADER_BYTES + idLength + bodyLength);
  frame.writeUInt8(type, 0);
  frame.writeUInt8(idLength, 1);
  frame.writeUInt32BE(seq, 2);
  frame.writeUIntBE(offset, 6, 6);
  frame.writeUInt32BE(bodyLength, 12);
  frame.write(terminalId, HEADER_BYTES, 'latin1');
  if (typeof payload === 'string') frame.write(payload, HEADER_BYTES + idLength, 'utf8');
  else frame.set(payload, HEADER_BYTES + idLength);
  return frame;
}

export class FrameError extends Error {}

/** Splits a byte stream into frames. Throws FrameError on a malformed stream. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer, onFrame: (f: Frame) => void): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= HEADER_BYTES) {
      const head = this.peek(HEADER_BYTES);
      const type = head.readUInt8(0);
      if (type < FrameType.Output || type > FrameType.Replay) throw new FrameError(`unknown frame type ${type}`);
      const idLength = head.readUInt8(1);
      const length = head.readUInt32BE(12);
      if (length > MAX_PAYLOAD_BYTES) throw new FrameError(`frame of ${length} bytes exceeds the limit`);
      const total = HEADER_BYTES + idLength + length;
      if (this.buffered < total) return;
      const bytes = this.take(total);
      onFrame({
        type: type as FrameType,
        terminalId: bytes.toString('latin1', HEADER_BYTES, HEADER_BYTES + idLength),
        seq: bytes.readUInt32BE(2),
        offset: bytes.readUIntBE(6, 6),
        payload: bytes.subarray(HEADER_BYTES + idLength),
      });
    }
  }

  /** The first n buffered bytes, joining chunks only when the header straddles them. */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}
