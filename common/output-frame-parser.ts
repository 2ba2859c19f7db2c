// The socket.io parser of both ends (server and browser): `terminal:output` events travel
// as ONE binary websocket frame with a small header, instead of a JSON string (output is
// bytes, not text) or socket.io's binary attachment (a JSON header frame plus a binary
// frame: measured about 1.5x the cost of JSON for a 1-byte echo, where one frame costs
// the same as JSON and several times less for 16 KiB; see bench `message-cost`).
// Every other packet uses socket.io's default parser unchanged.
//
// Frame: 0xFE, u48 offset (big-endian), u8 terminal id length, terminal id (latin1),
// then the output bytes. A default-parser binary frame only ever follows its JSON header
// (the decoder is then reconstructing), so a leading 0xFE outside one is unambiguous.
import * as parser from 'socket.io-parser';

const MARK = 0xfe;
const HEADER_BYTES = 8;

interface BytesOutput {
  terminalId: string;
  data: Uint8Array;
  offset: number;
}

function bytesOutput(packet: parser.Packet): BytesOutput | null {
  if (packet.type !== parser.PacketType.EVENT || packet.nsp !== '/' || packet.id !== undefined) return null;
  const [name, e] = packet.data as [unknown, Partial<BytesOutput> | undefined];
  if (name !== 'terminal:output' || !e || !(e.data instanceof Uint8Array)) return null;
  if (typeof e.terminalId !== 'string' || !/^[\x20-\x7e]{0,255}$/.test(e.terminalId)) return null;
  if (typeof e.offset !== 'number' || !Number.isSafeInteger(e.offset) || e.offset < 0 || e.offset >= 2 ** 48) return null;
  return e as BytesOutput;
}

export class Encoder extends parser.Encoder {
  override encode(packet: parser.Packet): Array<string | Uint8Array> {
    const e = bytesOutput(packet);
    if (!e) return super.encode(packet);
    const id = e.terminalId;
    const out = new Uint8Array(HEADER_BYTES + id.length + e.data.length);
    const view = new DataView(out.buffer);
    out[0] = MARK;
    view.setUint16(1, Math.floor(e.offset / 2 ** 32));
    view.setUint32(3, e.offset % 2 ** 32);
    out[7] = id.length;
    for (let i = 0; i < id.length; i++) out[HEADER_BYTES + i] = id.charCodeAt(i);
    out.set(e.data, HEADER_BYTES + id.length);
    return [out];
  }
}

export class Decoder extends parser.Decoder {
  override add(chunk: unknown): void {
    // Binary as Uint8Array everywhere (a browser receives ArrayBuffers): output events
    // and the attachments of other packets (an attach reply's replay) alike.
    if (chunk instanceof ArrayBuffer) chunk = new Uint8Array(chunk);
    const reconstructing = (this as unknown as { reconstructor: unknown }).reconstructor;
    if (!reconstructing && chunk instanceof Uint8Array) {
      const bytes = chunk;
      if (bytes[0] === MARK) {
        if (bytes.length < HEADER_BYTES || bytes.length < HEADER_BYTES + bytes[7]!) throw new Error('malformed output frame');
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        const offset = view.getUint16(1) * 2 ** 32 + view.getUint32(3);
        const idEnd = HEADER_BYTES + bytes[7]!;
        const terminalId = String.fromCharCode(...bytes.subarray(HEADER_BYTES, idEnd));
        const data = bytes.subarray(idEnd);
        this.emitReserved('decoded', { type: parser.PacketType.EVENT, nsp: '/', data: ['terminal:output', { terminalId, offset, data }] });
        return;
      }
    }
    super.add(chunk);
  }
}

/** Pass as `parser` to socket.io's Server and to socket.io-client's io(). */
export const outputFrameParser = { Encoder, Decoder };
