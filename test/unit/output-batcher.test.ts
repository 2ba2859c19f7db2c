// Output batching: an echo goes out in the turn it arrived, however soon after the last
// one; only a stream (large output that keeps coming) is grouped.
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES, OutputBatcher, STREAM_FLUSH_BYTES } from '../../server/pty-host/output-batcher.js';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

function recorder() {
  const sent: string[] = [];
  const batcher = new OutputBatcher<string>((chunks) => chunks.join(''), (data) => sent.push(data));
  return { sent, batcher };
}

describe('OutputBatcher', () => {
  it('sends each small echo on its own, even back to back', async () => {
    const { sent, batcher } = recorder();
    for (let i = 0; i < 200; i++) {
      batcher.push(`k${i}`);
      await nextTurn(); // the flush queued by push runs before this turn ends
      expect(sent).toHaveLength(i + 1);
    }
    expect(sent.join('')).toBe(Array.from({ length: 200 }, (_, i) => `k${i}`).join(''));
  });

  it('groups a stream of large chunks into fewer, larger messages', async () => {
    const { sent, batcher } = recorder();
    const chunk = 'y'.repeat(STREAM_FLUSH_BYTES * 4);
    for (let i = 0; i < 50; i++) {
      batcher.push(chunk);
      await nextTurn();
    }
    batcher.flush();
    expect(sent.join('')).toBe(chunk.repeat(50));
    // The first chunk goes at once; what follows it is grouped.
    expect(sent[0]).toBe(chunk);
    expect(sent.length).toBeLessThan(25);
    expect(Math.max(...sent.map((s) => s.length))).toBeLessThanOrEqual(MAX_BATCH_BYTES + chunk.length);
  });

  it('a small echo after a stream has ended is not held back', async () => {
    const { sent, batcher } = recorder();
    batcher.push('z'.repeat(STREAM_FLUSH_BYTES * 2));
    await nextTurn();
    // Long after the stream: an echo is sent in its own turn.
    await new Promise((r) => setTimeout(r, 50));
    batcher.push('x');
    await nextTurn();
    expect(sent).toEqual(['z'.repeat(STREAM_FLUSH_BYTES * 2), 'x']);
  });

  it('flush() sends what is pending at once and counts it until then', () => {
    const { sent, batcher } = recorder();
    batcher.push('abc');
    expect(batcher.pendingLength).toBe(3);
    batcher.flush();
    expect(sent).toEqual(['abc']);
    expect(batcher.pendingLength).toBe(0);
  });
});
