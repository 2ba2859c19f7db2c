// A socket.io parser for the small-message benchmark: `terminal:output` events whose data
// is bytes travel as ONE binary websocket frame with a small header, instead of
// socket.io's two (a JSON header with a placeholder, then the attachment). Everything
// else uses the default parser. Used by both ends (server and client options `parser`).
//
// Frame: 0xFE, u48 offset, u8 id length, terminal id (latin1), output bytes.
import * as parser from 'socket.io-parser';

const MARK = 0xfe;

interface BytesOutput {
  terminalId: string;
  data: Uint8Array;
  offset: number;
}

function isBytesOutput(packet: parser.Packet): boolean {
  if (packet.type !== parser.PacketType.EVENT || packet.nsp !== '/' || packet.id !== undefined) return false;
  const [name, e] = packet.data as [string, Partial<BytesOutput> | undefined];
  return name === 'terminal:output' && e?.data instanceof Uint8Array && typeof e.terminalId === 'string' && e.terminalId.length < 256;
}

class Encoder extends parser.Encoder {
  override encode(packet: parser.Packet): Array<string | Buffer> {
    if (!isBytesOutput(packet)) return super.encode(packet);
    const e = packet.data[1] as BytesOutput;
    const id = Buffer.from(e.terminalId, 'latin1');
    const out = Buffer.allocUnsafe(8 + id.length + e.data.length);
    out[0] = MARK;
    out.writeUIntBE(e.offset, 1, 6);
    out[7] = id.length;
    id.copy(out, 8);
    out.set(e.data, 8 + id.length);
    return [out];
  }
}

class Decoder extends parser.Decoder {
  override add(chunk: unknown): void {
    const reconstructing = (this as unknown as { reconstructor: unknown }).reconstructor;
    if (!reconstructing && typeof chunk !== 'string') {
      const bytes = chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk as ArrayBuffer);
      if (bytes[0] === MARK) {
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const offset = view.getUint16(1) * 2 ** 32 + view.getUint32(3);
        const idLength = bytes[7]!;
        const terminalId = String.fromCharCode(...bytes.subarray(8, 8 + idLength));
        const data = bytes.subarray(8 + idLength);
        this.emitReserved('decoded', { type: parser.PacketType.EVENT, nsp: '/', data: ['terminal:output', { terminalId, offset, data }] });
        return;
      }
    }
    super.add(chunk);
  }
}

export const outputFrameParser = { Encoder, Decoder };
