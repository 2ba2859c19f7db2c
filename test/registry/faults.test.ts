// The switching registry against a redis-server that is absent, killed, frozen, restarted.
import { afterEach, describe, expect, it } from 'vitest';
import { heartbeatKey, serversKey, startHeartbeat } from '../../server/redis/instance-heartbeat.js';
import { RedisUnavailableError, type RedisConnectionManager } from '../../server/redis/types.js';
import type { DeviceInfo } from '../../server/registry/types.js';
import { SwitchingRegistry } from '../../server/registry/switching-registry.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { device, nextEvent, testLogger, testManager, timed, uniquePrefix } from '../redis/support.js';
import { attachments, invariantErrors, snapshot } from './redis-snapshot.js';

const COMMAND_TIMEOUT = 300;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function setup(url: string, prefix: string, serverId = 'srv-a', commandTimeoutMs = COMMAND_TIMEOUT, withHeartbeat = false) {
  const manager = testManager(url, prefix, { commandTimeoutMs });
  const logger = testLogger(`registry ${serverId}`);
  const heartbeat = withHeartbeat ? startHeartbeat(manager, serverId, 2000, { logger }) : undefined;
  const registry = new SwitchingRegistry({ manager, serverId, logger, retryBaseMs: 20, retryMaxMs: 200, ...(heartbeat ? { heartbeat } : {}) });
  cleanups.push(async () => {
    await registry.close();
    await heartbeat?.stop();
    await manager.quit();
  });
  return { manager, registry };
}

async function server(port?: number): Promise<RedisServer> {
  const s = await startRedis(port === undefined ? {} : { port });
  cleanups.push(() => s.stop());
  return s;
}

/** A separate connection that looks at Redis the way another instance would. */
async function observer(url: string, prefix: string): Promise<RedisConnectionManager> {
  const m = testManager(url, prefix);
  cleanups.push(() => m.quit());
  await m.waitReady(5000);
  return m;
}

/**
 * What Redis must hold after a run of calls from one instance, written from the rules in
 * docs/redis-keys.md and kept deliberately small: it shares no code with the registry
 * (whose local copy is the class under test). One user, so no call is refused.
 */
class ExpectedRegistry {
  private readonly sockets = new Map<string, Set<string>>(); // terminal -> sockets
  private readonly primary = new Map<string, string>();
  private readonly pings = new Map<string, number>(); // socket -> lastPingAt

  add(tid: string, d: DeviceInfo): void {
    let set = this.sockets.get(tid);
    if (!set) this.sockets.set(tid, (set = new Set()));
    set.add(d.socketId);
    this.pings.set(d.socketId, d.lastPingAt); // a re-add replaces the device hash
  }

  remove(tid: string, sid: string): void {
    if (!this.sockets.get(tid)?.delete(sid)) return;
    if (this.primary.get(tid) === sid) this.primary.delete(tid);
    if (this.sockets.get(tid)!.size === 0) this.sockets.delete(tid);
    if (![...this.sockets.values()].some((set) => set.has(sid))) this.pings.delete(sid); // attached nowhere: gone
  }

  isAttached(tid: string, sid: string): boolean {
    return this.sockets.get(tid)?.has(sid) ?? false;
  }

  setPrimary(tid: string, sid: string): void {
    this.primary.set(tid, sid);
  }

  updatePing(sid: string, at: number): void {
    if (this.pings.has(sid)) this.pings.set(sid, at); // never creates a socket
  }

  attachments(): Record<string, string[]> {
    return Object.fromEntries([...this.sockets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([t, set]) => [t, [...set].sort()]));
  }

  primaryOf(tid: string): string | null {
    return this.primary.get(tid) ?? null;
  }

  lastPings(): Record<string, number> {
    return Object.fromEntries([...this.pings].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}

/** A small seeded generator (mulberry32): the same calls on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('switching registry under Redis faults', () => {
  it('works without Redis at start, then moves to Redis and publishes its sockets', async () => {
    const port = await freePort();
    const prefix = uniquePrefix('absent');
    // The heartbeat cannot claim SERVER_ID yet: it does so when Redis appears, before publishing.
    const { manager, registry } = setup(`redis://127.0.0.1:${port}`, prefix, 'srv-a', COMMAND_TIMEOUT, true);
    await registry.addSocket('t1', device('s1'));
    await registry.addSocket('t1', device('s2'));
    await registry.addSocket('t2', device('s3', { userId: 'bob' }));
    await registry.setPrimarySocket('t1', 's2');
    await registry.updatePing('s1', 1_800_000_000_000);
    expect(registry.backend).toBe('memory');
    expect(manager.state).not.toBe('ready');
    expect(await registry.getSocketsForTerminal('t1')).toEqual(['s1', 's2']);

    const switched = registry.waitForBackend('redis', 5000);
    const redisServer = await server(port);
    await switched;

    const obs = await observer(redisServer.url, prefix);
    const snap = await snapshot(obs);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual({ t1: ['s1', 's2'], t2: ['s3'] });
    expect(snap.terminals.get('t1')?.primary).toBe('s2');
    expect(snap.sockets.get('s1')?.device.lastPingAt).toBe('1800000000000');
    expect(snap.servers.get('srv-a')).toEqual(['s1', 's2', 's3']);
    expect(await registry.getStats()).toEqual({ backend: 'redis', terminals: 2, sockets: 3, users: 2 });
    expect(await obs.readyClient().exists(heartbeatKey(prefix, 'srv-a'))).toBe(1);
    expect(await obs.readyClient().smembers(serversKey(prefix))).toEqual(['srv-a']);
  }, 15_000);

  it('keeps serving through kill -9 mid-traffic and re-publishes after a restart on the same port', async () => {
    const redisServer = await server();
    const prefix = uniquePrefix('kill9');
    const { registry } = setup(redisServer.url, prefix);
    await registry.waitForBackend('redis', 5000);

    // Three writers on disjoint sockets and shared terminals; `model` gets every call too.
    const model = new ExpectedRegistry();
    const terminals = Array.from({ length: 8 }, (_, i) => `t${i}`);
    let stop = false;
    let calls = 0;
    const failures: unknown[] = [];
    // Each writer draws its calls from its own seeded generator (reproducible), over 12
    // sockets and the shared terminals, so removes, primaries and pings hit attached sockets.
    const applied = { add: 0, remove: 0, primary: 0, ping: 0 };
    const writer = async (w: number): Promise<void> => {
      const random = seeded(w + 1);
      let n = 0;
      while (!stop) {
        const sid = `w${w}-s${Math.floor(random() * 12)}`;
        const tid = terminals[Math.floor(random() * terminals.length)]!;
        const op = Math.floor(random() * 5);
        n++;
        calls++;
        try {
          if (op <= 1) {
            const d = device(sid, { connectedAt: n });
            model.add(tid, d);
            applied.add++;
            await registry.addSocket(tid, d);
          } else if (op === 2) {
            if (model.isAttached(tid, sid)) applied.remove++;
            model.remove(tid, sid);
            await registry.removeSocket(tid, sid);
          } else if (op === 3) {
            if (!model.isAttached(tid, sid)) continue;
            model.setPrimary(tid, sid);
            applied.primary++;
            await registry.setPrimarySocket(tid, sid);
          } else {
            model.updatePing(sid, 1_000_000 + n);
            applied.ping++;
            await registry.updatePing(sid, 1_000_000 + n);
          }
        } catch (err) {
          failures.push(err);
        }
        await new Promise((r) => setImmediate(r));
      }
    };
    const writers = [0, 1, 2].map(writer);
    const waitCalls = async (k: number): Promise<void> => {
      const target = calls + k;
      while (calls < target) await new Promise((r) => setTimeout(r, 5));
    };

    await waitCalls(300);
    const down = registry.waitForBackend('memory', 3000);
    redisServer.kill9();
    await down;
    await waitCalls(300); // traffic in memory mode
    // Re-publishing claims every owner key again, then syncs each socket, while three
    // writers keep changing them: on a loaded machine that can take several rounds.
    const up = registry.waitForBackend('redis', 15_000);
    await redisServer.restart(); // empty: everything must be re-published
    await up;
    await waitCalls(300); // and traffic in redis mode again
    stop = true;
    await Promise.all(writers);

    expect(failures).toEqual([]);
    for (const count of Object.values(applied)) expect(count).toBeGreaterThan(50); // the workload did exercise every kind
    expect(registry.backend).toBe('redis');
    const obs = await observer(redisServer.url, prefix);
    const snap = await snapshot(obs);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual(model.attachments());
    for (const t of terminals) expect(snap.terminals.get(t)?.primary ?? null).toBe(model.primaryOf(t));
    const pings = Object.fromEntries([...snap.sockets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([sid, sk]) => [sid, Number(sk.device.lastPingAt)]));
    expect(pings).toEqual(model.lastPings());
  }, 40_000);

  it('survives SIGSTOP beyond the command timeout: own writes fall back, foreign ones fail fast, state is right after SIGCONT', async () => {
    const redisServer = await server();
    const prefix = uniquePrefix('sigstop');
    const { registry } = setup(redisServer.url, prefix);
    const other = setup(redisServer.url, prefix, 'srv-b');
    await registry.waitForBackend('redis', 5000);
    await other.registry.waitForBackend('redis', 5000);
    await registry.addSocket('t1', device('s1'));
    await registry.addSocket('t1', device('s2'));
    await other.registry.addSocket('t1', device('b1', { serverId: 'srv-b' }));

    redisServer.pause();
    // Both calls start in redis mode, so both reach the frozen server.
    const [foreign, own] = await Promise.all([
      timed(() => registry.setPrimarySocket('t1', 'b1')), // b1 lives on srv-b: only Redis can record it
      timed(() => registry.addSocket('t2', device('s9'))), // will run late on the server after SIGCONT
    ]);
    expect(foreign.error).toBeInstanceOf(RedisUnavailableError);
    expect(foreign.ms).toBeLessThan(COMMAND_TIMEOUT + 700);
    expect(own.error).toBeUndefined();
    expect(own.ms).toBeLessThan(COMMAND_TIMEOUT + 700);
    expect(registry.backend).toBe('memory');

    // Now in memory mode: no call touches Redis, so they are immediate.
    const quick = await timed(async () => {
      await registry.removeSocket('t2', 's9'); // undoes the add that is still queued on the server
      expect(await registry.removeSocket('t1', 's1')).toBe(true);
      await registry.addSocket('t1', device('s3'));
      await registry.setPrimarySocket('t1', 's3');
      return registry.getSocketsForTerminal('t1');
    });
    expect(quick.error).toBeUndefined();
    expect(quick.value).toEqual(['s2', 's3']); // local view only (b1 is not ours)
    expect(quick.ms).toBeLessThan(COMMAND_TIMEOUT / 2);

    await new Promise((r) => setTimeout(r, 1200)); // stay frozen: forced reconnects happen meanwhile
    const up = registry.waitForBackend('redis', 8000);
    redisServer.resume();
    await up;

    const obs = await observer(redisServer.url, prefix);
    const snap = await snapshot(obs);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual({ t1: ['b1', 's2', 's3'] });
    expect(snap.terminals.get('t1')?.primary).toBe('s3');
    expect(snap.sockets.has('s9')).toBe(false);
    expect(snap.sockets.has('s1')).toBe(false);
    expect(await registry.getSocketsForTerminal('t1')).toEqual(['b1', 's2', 's3']);
  }, 20_000);

  it('close({ purge: true }) removes only this instance\'s entries at once', async () => {
    const redisServer = await server();
    const prefix = uniquePrefix('purge');
    const a = setup(redisServer.url, prefix, 'srv-a');
    const b = setup(redisServer.url, prefix, 'srv-b');
    await a.registry.waitForBackend('redis', 5000);
    await b.registry.waitForBackend('redis', 5000);
    await a.registry.addSocket('t1', device('a1'));
    await a.registry.setPrimarySocket('t1', 'a1');
    await b.registry.addSocket('t1', device('b1', { serverId: 'srv-b' }));
    await a.registry.close({ purge: true });
    const snap = await snapshot(b.manager);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual({ t1: ['b1'] });
    expect(snap.terminals.get('t1')?.primary).toBeNull();
  });

  it('two instances add and remove 1,000 sockets each, concurrently, and the sets come out exact', async () => {
    const redisServer = await server();
    const prefix = uniquePrefix('race');
    // Production-like command timeout: 2,000 concurrent calls on a busy 2-core machine.
    const a = setup(redisServer.url, prefix, 'srv-a', 2000);
    const b = setup(redisServer.url, prefix, 'srv-b', 2000);
    await a.registry.waitForBackend('redis', 5000);
    await b.registry.waitForBackend('redis', 5000);
    const N = 1000;
    const terms = (i: number) => `t${i % 20}`;
    const hot = (i: number) => `hot${i % 10}`;
    const sidA = (i: number) => `a${i}`;
    const sidB = (i: number) => `b${i}`;
    const dA = (i: number) => device(sidA(i), { serverId: 'srv-a' });
    const dB = (i: number) => device(sidB(i), { serverId: 'srv-b' });
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);

    // A: joins t*, then leaves every third socket; churns the hot terminals (join + leave).
    const runA = async () => {
      await Promise.all(range(N).map((i) => a.registry.addSocket(terms(i), dA(i))));
      await Promise.all([
        ...range(N).filter((i) => i % 3 === 0).map((i) => a.registry.removeSocketFromAllTerminals(sidA(i))),
        ...range(200).map(async (i) => {
          await a.registry.addSocket(hot(i), dA(N + i));
          await a.registry.removeSocket(hot(i), sidA(N + i));
        }),
      ]);
    };
    // B: joins t* (shifted), leaves even sockets, and stays on the hot terminals.
    const runB = async () => {
      await Promise.all(range(N).map((i) => b.registry.addSocket(terms(i + 7), dB(i))));
      await Promise.all([
        ...range(N).filter((i) => i % 2 === 0).map((i) => b.registry.removeSocket(terms(i + 7), sidB(i))),
        ...range(100).map((i) => b.registry.addSocket(hot(i), dB(N + i))),
      ]);
    };
    await Promise.all([runA(), runB()]);

    const expected: Record<string, string[]> = {};
    const put = (t: string, s: string) => (expected[t] ??= []).push(s);
    for (const i of range(N)) if (i % 3 !== 0) put(terms(i), sidA(i));
    for (const i of range(N)) if (i % 2 !== 0) put(terms(i + 7), sidB(i));
    for (const i of range(100)) put(hot(i), sidB(N + i));
    for (const t of Object.keys(expected)) expected[t]!.sort();

    // Had a call timed out, that registry fell back and re-publishes; the result must be the same.
    await a.registry.waitForBackend('redis', 10_000);
    await b.registry.waitForBackend('redis', 10_000);

    const obs = await observer(redisServer.url, prefix);
    const snap = await snapshot(obs);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual(Object.fromEntries(Object.entries(expected).sort(([x], [y]) => (x < y ? -1 : 1))));
    expect(snap.servers.get('srv-a')).toHaveLength(N - Math.ceil(N / 3));
    expect(snap.servers.get('srv-b')).toHaveLength(N / 2 + 100);
    expect(snap.users.get('user-1')).toHaveLength(30);
    expect(await a.registry.getStats()).toEqual({ backend: 'redis', terminals: 30, sockets: N - Math.ceil(N / 3) + N / 2 + 100, users: 1 });
  }, 30_000);
});
