import { describe, expect, it } from 'vitest';
import { OutputAcks } from '../../client/src/output-acks.js';

describe('OutputAcks (client)', () => {
  it('acks every 64 KiB of rendered output at once, one in flight, always the newest', async () => {
    const sent: number[] = [];
    let release!: () => void;
    const acks = new OutputAcks((offset) => {
      sent.push(offset);
      return new Promise<void>((r) => (release = r));
    });
    acks.renderedUpTo(70_000);
    expect(sent).toEqual([70_000]);
    acks.renderedUpTo(140_000);
    acks.renderedUpTo(210_000);
    expect(sent).toEqual([70_000]); // the first is still in flight
    release();
    await new Promise<void>((r) => setImmediate(r));
    expect(sent).toEqual([70_000, 210_000]);
    release();
    acks.dispose();
  });

  it('acks a little output once rendering goes quiet', async () => {
    const sent = new Promise<number>((resolve) => {
      const acks = new OutputAcks(async (offset) => resolve(offset));
      acks.renderedUpTo(10);
      acks.renderedUpTo(25);
    });
    expect(await sent).toBe(25);
  });
});
