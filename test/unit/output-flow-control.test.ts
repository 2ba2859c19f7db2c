import { describe, expect, it } from 'vitest';
import { FlowControl, type FlowState } from '../../server/terminals/flow-control.js';
import { FlowGate } from '../../server/terminals/flow-gate.js';

function flow(windowBytes = 100, maxLagBytes = 400) {
  const states: Array<[string, FlowState | null]> = [];
  const streams: Array<[string, boolean, number]> = [];
  const fc = new FlowControl({
    windowBytes,
    maxLagBytes,
    onState: (t, _owner, s) => states.push([t, s]),
    onStream: (socket, _t, streaming, end) => streams.push([socket, streaming, end]),
    onCredit: () => undefined,
  });
  return { fc, states, streams };
}

describe('FlowControl', () => {
  it('reports blocked once the only device has a window of un-acked output, flowing once it acks', () => {
    const { fc, states } = flow();
    fc.attach('t', 'owner', 's1', true, 1000);
    expect(states).toEqual([['t', 'flowing']]);
    fc.output('t', 1099);
    expect(fc.state('t')).toBe('flowing');
    fc.output('t', 1100);
    expect(states.at(-1)).toEqual(['t', 'blocked']);
    fc.output('t', 1150); // no report: unchanged
    expect(states).toHaveLength(2);
    fc.ack('t', 's1', 1051);
    expect(states.at(-1)).toEqual(['t', 'flowing']);
    fc.detach('t', 's1');
    expect(states.at(-1)).toEqual(['t', null]);
  });

  it('is flowing while any device has credit; a device that never acks always has credit', () => {
    const { fc, states } = flow();
    fc.attach('t', 'o', 'slow', true, 0);
    fc.attach('t', 'o', 'fast', true, 0);
    fc.output('t', 150);
    fc.ack('t', 'fast', 150);
    expect(fc.state('t')).toBe('flowing');
    fc.detach('t', 'fast');
    expect(fc.state('t')).toBe('blocked');
    fc.attach('t', 'o', 'old-client', false, 150);
    expect(fc.state('t')).toBe('flowing');
    fc.output('t', 10_000);
    expect(fc.state('t')).toBe('flowing');
    // blocked for a moment: output went out before the fast device acked it
    expect(states.map((s) => s[1])).toEqual(['flowing', 'blocked', 'flowing', 'blocked', 'flowing']);
  });

  it('never credits output a device was not sent', () => {
    const { fc } = flow();
    fc.attach('t', 'o', 's', true, 0);
    fc.output('t', 50);
    fc.ack('t', 's', 10_000);
    fc.output('t', 150);
    expect(fc.lag('t', 's')).toBe(100);
    expect(fc.state('t')).toBe('blocked');
  });

  it('takes a device too far behind out of the stream and puts it back, re-syncing, once it has caught up', () => {
    const { fc, streams } = flow(100, 400);
    fc.attach('t', 'o', 'slow', true, 0);
    fc.attach('t', 'o', 'fast', true, 0);
    for (let end = 100; end <= 1000; end += 100) {
      fc.output('t', end);
      fc.ack('t', 'fast', end);
    }
    // Output up to 400 was sent to it; what made it too far behind (to 500) was not.
    expect(streams).toEqual([['slow', false, 400]]);
    expect(fc.lag('t', 'slow')).toBe(400); // frozen where it left: nothing more goes to it
    fc.ack('t', 'slow', 300);
    expect(streams).toHaveLength(1);
    fc.ack('t', 'slow', 900); // never beyond what it was sent
    expect(fc.lag('t', 'slow')).toBe(0);
    expect(streams.at(-1)).toEqual(['slow', true, 1000]);
    expect(fc.lag('t', 'slow')).toBe(0);
  });

  it("gives the furthest any device here may receive as the pty's limit", () => {
    const { fc } = flow(100, 400);
    expect(fc.limit('t')).toBeNull();
    fc.attach('t', 'o', 'a', true, 1000);
    fc.attach('t', 'o', 'b', true, 1000);
    fc.output('t', 1080);
    fc.ack('t', 'a', 1050);
    expect(fc.limit('t')).toBe(1150);
    fc.attach('t', 'o', 'old', false, 1080);
    expect(fc.limit('t')).toBe(Infinity);
    fc.detach('t', 'old');
    fc.detach('t', 'a');
    expect(fc.limit('t')).toBe(1100);
    fc.detach('t', 'b');
    expect(fc.limit('t')).toBeNull();
  });

  it('keeps a device that has acknowledged everything in the stream when the output jumps (it missed some and re-syncs)', () => {
    const { fc, streams } = flow(100, 400);
    fc.attach('t', 'o', 's', true, 0);
    fc.output('t', 50);
    fc.ack('t', 's', 50);
    fc.output('t', 5000); // e.g. a re-sync marker after missed broadcasts
    expect(streams).toEqual([]);
    expect(fc.state('t')).toBe('blocked');
    fc.ack('t', 's', 5000);
    expect(fc.state('t')).toBe('flowing');
  });

  it('keeps terminals apart and lists what to repeat', () => {
    const { fc } = flow();
    fc.attach('a', 'o1', 's', true, 0);
    fc.attach('b', 'o2', 's', true, 0);
    fc.output('b', 500);
    expect([...fc.states()]).toEqual([
      { terminalId: 'a', ownerId: 'o1', state: 'flowing' },
      { terminalId: 'b', ownerId: 'o2', state: 'blocked' },
    ]);
    expect(fc.ack('c', 's', 1)).toBe(false);
    fc.forget('a');
    expect(fc.state('a')).toBeNull();
  });
});

describe('FlowGate', () => {
  function gate() {
    let now = 0;
    const local = new Map<string, number | null>();
    const calls: Array<[string, number | null]> = [];
    const g = new FlowGate({
      serverId: 'me',
      staleMs: 1000,
      localLimit: (t) => local.get(t) ?? null,
      setLimit: (t, l) => calls.push([t, l]),
      now: () => now,
    });
    const setLocal = (t: string, l: number | null) => (local.set(t, l), g.localChanged(t));
    return { g, calls, setLocal, advance: (ms: number) => (now += ms) };
  }

  it("limits the pty to what this instance's devices may receive, unless another instance has a device with credit", () => {
    const { g, calls, setLocal } = gate();
    setLocal('t', 300);
    setLocal('t', 300); // unchanged: not sent again
    expect(calls).toEqual([['t', 300]]);
    g.report('t', 'other', 'flowing');
    expect(g.limitOf('t')).toBeNull();
    g.report('t', 'other', 'blocked');
    expect(g.limitOf('t')).toBe(300);
    setLocal('t', Infinity); // a device here that does not ack
    expect(g.limitOf('t')).toBeNull();
    setLocal('t', null); // none here, the other instance's all blocked: stop now
    expect(g.limitOf('t')).toBe(0);
    g.report('t', 'other', null); // nobody watching: it runs
    expect(calls).toEqual([['t', 300], ['t', null], ['t', 300], ['t', null], ['t', 0], ['t', null]]);
  });

  it('drops reports of other instances that are not repeated in time', () => {
    const { g, advance } = gate();
    g.report('t', 'other', 'blocked');
    expect(g.limitOf('t')).toBe(0);
    advance(600);
    g.report('t', 'other', 'blocked'); // repeated
    advance(600);
    g.sweep();
    expect(g.limitOf('t')).toBe(0);
    advance(600);
    g.sweep();
    expect(g.limitOf('t')).toBeNull();
    g.report('u', 'other', 'blocked');
    g.forget('u');
    expect(g.limitOf('u')).toBeNull();
  });
});
