// Replay buffer and output sequencer: together they give every device each byte once.
import { describe, expect, it } from 'vitest';
import { OutputSequencer } from '../../common/output-sequencer.js';
import { ReplayBuffer } from '../../server/terminals/replay-buffer.js';

describe('ReplayBuffer', () => {
  it('keeps the newest output within capacity, preferring a line start', () => {
    const b = new ReplayBuffer(20);
    expect(b.append('line one\nline two\n')).toBe(0);
    expect(b.append('line three\n')).toBe(18);
    // The cut falls exactly on the start of "line two", which fits: it is kept.
    expect(b.snapshot()).toEqual({ data: 'line two\nline three\n', start: 9, end: 29 });
  });

  it('moves a cut inside a line to the next line start', () => {
    const b = new ReplayBuffer(15);
    b.append('line one\nline two\n');
    b.append('line three\n');
    expect(b.snapshot()).toEqual({ data: 'line three\n', start: 18, end: 29 });
  });

  it('drops whole chunks that fall out before cutting inside one', () => {
    const b = new ReplayBuffer(12);
    b.append('aaaa\n');
    b.append('bbbb\n');
    b.append('cccc\ndddd\n');
    expect(b.snapshot()).toEqual({ data: 'cccc\ndddd\n', start: 10, end: 20 });
  });

  it('never splits a surrogate pair', () => {
    const b = new ReplayBuffer(5);
    b.append('ab😀😀😀');
    const s = b.snapshot();
    expect(s.data.charCodeAt(0) >= 0xdc00 && s.data.charCodeAt(0) <= 0xdfff).toBe(false);
  });
});

describe('OutputSequencer', () => {
  it('holds output until the replay, then drops what the replay already had', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(d));
    seq.push({ terminalId: 't', data: 'cd', offset: 2 }); // arrived before the attach reply
    seq.push({ terminalId: 't', data: 'ef', offset: 4 });
    seq.reset({ data: 'abc', start: 0, end: 3 });
    seq.push({ terminalId: 't', data: 'ef', offset: 4 }); // duplicate
    seq.push({ terminalId: 't', data: 'gh', offset: 6 });
    expect(got.join('')).toBe('abcdefgh');
    expect(seq.offset).toBe(8);
  });

  it('tells when the replay is delivered, before output that was held for it', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(d));
    seq.push({ terminalId: 't', data: 'live', offset: 3 });
    seq.reset({ data: 'old', start: 0, end: 3 }, () => got.push('|'));
    expect(got).toEqual(['old', '|', 'live']);
  });

  it('delivers across a gap (output that fell out of the buffer) without repeating', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(d));
    seq.reset({ data: 'xy', start: 10, end: 12 });
    seq.push({ terminalId: 't', data: 'zz', offset: 20 });
    seq.push({ terminalId: 't', data: 'zz', offset: 20 });
    expect(got).toEqual(['xy', 'zz']);
  });
});

describe('OutputSequencer with a re-sync on gaps', () => {
  it('stops at a gap, asks for a re-sync, and continues from the replay with nothing lost or repeated', () => {
    const got: string[] = [];
    const gaps: Array<{ expected: number; got: number }> = [];
    const seq = new OutputSequencer((d) => got.push(d), (g) => gaps.push(g));
    seq.reset({ data: 'abc', start: 0, end: 3 });
    seq.push({ terminalId: 't', data: 'gh', offset: 6 }); // "def" was missed
    seq.push({ terminalId: 't', data: 'ij', offset: 8 });
    expect(gaps).toEqual([{ expected: 3, got: 6 }]);
    expect(got.join('')).toBe('abc');
    expect(seq.resync({ data: 'cdefgh', start: 2, end: 8 })).toBe(0);
    seq.push({ terminalId: 't', data: 'k', offset: 10 });
    expect(got.join('')).toBe('abcdefghijk');
    expect(gaps).toHaveLength(1);
  });

  it('reports how much output a re-sync could not bring back', () => {
    const got: string[] = [];
    const seq = new OutputSequencer((d) => got.push(d), () => undefined);
    seq.reset({ data: 'ab', start: 0, end: 2 });
    seq.push({ terminalId: 't', data: 'yz', offset: 11 });
    expect(seq.resync({ data: 'wxyz', start: 9, end: 13 })).toBe(7);
    expect(got.join('')).toBe('abwxyz');
    expect(seq.offset).toBe(13);
  });
});
