// Replay buffer and output sequencer: together they give every device each byte once.
import { describe, expect, it } from 'vitest';
import { OutputSequencer } from '../../common/output-sequencer.js';
import { ReplayBuffer } from '../../server/terminals/replay-buffer.js';

describe('ReplayBuffer', () => {
  it('keeps the newest output within capacity, preferring a line start', () => {
    const b = new ReplayBuffer(20);
    expect(b.append('line one\nline two\n')).toBe(0);
    expect(b.append('line three\n')).toBe(18);
    const s = b.snapshot();
    expect(s.end).toBe(29);
    expect(s.data.length).toBeLessThanOrEqual(20);
    expect(s.data).toBe('line two\nline three\n'.slice(-(s.end - s.start)));
    expect(s.data.startsWith('line')).toBe(true);
    expect(s.start + s.data.length).toBe(s.end);
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
