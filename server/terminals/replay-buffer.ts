// The recent output of one terminal, kept so a device that attaches (or re-attaches
// after a drop) can restore the screen. Offsets count bytes of the whole output stream
// since the terminal started; see common/output-sequencer.ts.
import type { Replay } from '../../common/protocol.js';

export class ReplayBuffer {
  private chunks: Buffer[] = [];
  private length = 0;
  private startOffset = 0;

  constructor(private readonly capacity: number) {}

  /** Append output; returns the offset of its first byte. */
  append(data: Buffer): number {
    const offset = this.end;
    this.chunks.push(data);
    this.length += data.length;
    if (this.length > this.capacity) this.trim();
    return offset;
  }

  /** Offset just past the newest byte. */
  get end(): number {
    return this.startOffset + this.length;
  }

  snapshot(): Replay {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return { data: this.chunks[0] ?? Buffer.alloc(0), start: this.startOffset, end: this.end };
  }

  private trim(): void {
    let excess = this.length - this.capacity;
    while (excess > 0 && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      if (first.length <= excess) {
        this.chunks.shift();
        this.drop(first.length);
        excess -= first.length;
        continue;
      }
      // Cut inside the chunk, preferably just after a newline so the replay starts at a
      // line boundary rather than in the middle of an escape sequence. The search starts
      // one before the cut: when the cut already sits on a line start, that line is kept.
      // Otherwise skip UTF-8 continuation bytes, so the replay starts on a character.
      let cut = excess;
      const newline = first.indexOf(0x0a, cut - 1);
      if (newline !== -1 && newline - cut < 4096) cut = newline + 1;
      else while (cut < first.length && cut - excess < 3 && isContinuationByte(first[cut]!)) cut += 1;
      this.chunks[0] = first.subarray(cut);
      this.drop(cut);
      excess = 0;
    }
  }

  private drop(n: number): void {
    this.length -= n;
    this.startOffset += n;
  }
}

function isContinuationByte(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}
