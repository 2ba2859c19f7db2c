// Replay buffer and output sequencer: together they give every device each byte once.
import { describe, expect, it } from 'vitest';
import { OutputSequencer } from '../../common/output-sequencer.js';
import type { Replay } from '../../common/protocol.js';
import { ReplayBuffer } from '../../server/terminals/replay-buffer.js';

// Output is bytes; these tests write and read it as text.
const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const textOf = (r: Replay) => ({ ...r, data: text(r.data) });
const replay = (data: string, start: number, end: number): Replay => ({ data: bytes(data), start, end });
const out = (data: string, offset: number) => ({ terminalId: 't', data: bytes(data), offset });

describe('ReplayBuffer', () => {
  it('keeps the newest output within capacity, preferring a line start', () => {
    const b = new ReplayBuffer(20);
    expect(b.append(bytes('line one\nline two\n'))).toBe(0);
    expect(b.append(bytes('line three\n'))).toBe(18);
    // The cut falls exactly on the start of "line two", which fits: it is kept.
    expect(textOf(b.snapshot())).toEqual({ data: 'line two\nline three\n', start: 9, end: 29 });
  });

  it('moves a cut inside a line to the next line start', () => {
    const b = new ReplayBuffer(15);
    b.append(bytes('line one\nline two\n'));
    b.append(bytes('line three\n'));
    expect(textOf(b.snapshot())).toEqual({ data: 'line three\n', start: 18, end: 29 });
  });

  it('drops whole chunks that fall out before cutting inside one', () => {
    const b = new ReplayBuffer(12);
    b.append(bytes('aaaa\n'));
    b.append(bytes('bbbb\n'));
    b.append(bytes('cccc\ndddd\n'));
    expect(textOf(b.snapshot())).toEqual({ data: 'cccc\ndddd\n', start: 10, end: 20 });
  });

  it('counts bytes, and starts a cut (no newline near) on a whole UTF-8 character', () => {
    const b = new ReplayBuffer(5);
    // "ab" then three 4-byte characters (bytes 2-5, 6-9, 10-13): the cut at byte 9 falls
    // inside the second one and moves to the start of the third.
    expect(b.append(bytes('ab😀😀😀'))).toBe(0);
    expect(b.end).toBe(14);
    expect(textOf(b.snapshot())).toEqual({ data: '😀', start: 10, end: 14 });
  });
});

describe('OutputSequencer', () => {
  it('holds output until the replay, then drops what the replay already had', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(text(d)));
    seq.push(out('cd', 2)); // arrived before the attach reply
    seq.push(out('ef', 4));
    seq.reset(replay('abc', 0, 3));
    seq.push(out('ef', 4)); // duplicate
    seq.push(out('gh', 6));
    expect(got.join('')).toBe('abcdefgh');
    expect(seq.offset).toBe(8);
  });

  it('tells when the replay is delivered, before output that was held for it', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(text(d)));
    seq.push(out('live', 3));
    seq.reset(replay('old', 0, 3), () => got.push('|'));
    expect(got).toEqual(['old', '|', 'live']);
  });

  it('delivers across a gap (output that fell out of the buffer) without repeating', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(text(d)));
    seq.reset(replay('xy', 10, 12));
    seq.push(out('zz', 20));
    seq.push(out('zz', 20));
    expect(got).toEqual(['xy', 'zz']);
  });
});

describe('OutputSequencer with a re-sync on gaps', () => {
  it('stops at a gap, asks for a re-sync, and continues from the replay with nothing lost or repeated', () => {
    const got: string[] = [];
    const gaps: Array<{ expected: number; got: number }> = [];
    const seq = new OutputSequencer((d) => got.push(text(d)), (g) => gaps.push(g));
    seq.reset(replay('abc', 0, 3));
    seq.push(out('gh', 6)); // "def" was missed
    seq.push(out('ij', 8));
    expect(gaps).toEqual([{ expected: 3, got: 6 }]);
    expect(got.join('')).toBe('abc');
    expect(seq.resync(replay('cdefgh', 2, 8))).toBe(0);
    seq.push(out('k', 10));
    expect(got.join('')).toBe('abcdefghijk');
    expect(gaps).toHaveLength(1);
  });

  it('reports how much output a re-sync could not bring back', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(text(d)), () => undefined);
    seq.reset(replay('ab', 0, 2));
    seq.push(out('yz', 11));
    expect(seq.resync(replay('wxyz', 9, 13))).toBe(7);
    expect(got.join('')).toBe('abwxyz');
    expect(seq.offset).toBe(13);
  });
});

describe('OutputSequencer with bytes', () => {
  it('delivers a UTF-8 character split between events (and cut by an overlap) whole, once', () => {
    const all = bytes('é漢😀!');
    const decoder = new TextDecoder();
    let got = '';
    const seq = new OutputSequencer((d) => (got += decoder.decode(d, { stream: true })));
    seq.reset({ data: all.subarray(0, 1), start: 0, end: 1 }); // half of "é"
    seq.push({ terminalId: 't', data: all.subarray(0, 4), offset: 0 }); // overlaps the replay
    seq.push({ terminalId: 't', data: all.subarray(4, 7), offset: 4 });
    seq.push({ terminalId: 't', data: all.subarray(7), offset: 7 });
    expect(got + decoder.decode()).toBe('é漢😀!');
    expect(seq.offset).toBe(all.length);
  });
});
