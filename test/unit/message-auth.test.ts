import { describe, expect, it } from 'vitest';
import { MessageAuth, ReplayGuard } from '../../server/cluster/message-auth.js';

describe('cluster message authentication', () => {
  const auth = new MessageAuth('s'.repeat(32));

  it('opens what it sealed for the same channel only, and nothing altered or signed with another key', () => {
    const sealed = auth.seal('p:rpc:a', '{"x":1}');
    expect(auth.open('p:rpc:a', sealed)).toBe('{"x":1}');
    expect(auth.open('p:rpc:b', sealed)).toBeNull();
    expect(auth.open('p:rpc:a', sealed.replace('"x":1', '"x":2'))).toBeNull();
    expect(auth.open('p:rpc:a', new MessageAuth('t'.repeat(32)).seal('p:rpc:a', '{"x":1}'))).toBeNull();
    expect(auth.open('p:rpc:a', '{"x":1}')).toBeNull();
    expect(auth.open('p:rpc:a', `${'zz'.repeat(32)}.{"x":1}`)).toBeNull();
  });

  it('admits an id once, within the deadline window, and a bounded number of ids', () => {
    let now = 1_000_000;
    const guard = new ReplayGuard({ skewMs: 1000, maxAheadMs: 5000, maxIds: 3, now: () => now });
    expect(guard.admit('a', now + 5000)).toBe('ok');
    expect(guard.admit('a', now + 5000)).toBe('replayed');
    expect(guard.admit('b', now - 1001)).toBe('expired');
    expect(guard.admit('c', now + 6001)).toBe('too-far-ahead');
    expect(guard.admit('d', now)).toBe('ok');
    expect(guard.admit('e', now)).toBe('ok');
    expect(guard.admit('f', now)).toBe('too-many');
    // Once their deadlines (plus the skew) have passed, ids are forgotten, and so are refused as expired.
    now += 7000;
    expect(guard.admit('f', now)).toBe('ok');
    expect(guard.size).toBe(1);
    expect(guard.admit('a', now - 2000)).toBe('expired');
  });
});
