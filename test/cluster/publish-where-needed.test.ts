// Output is published through Redis only while a device on another instance reads it,
// and attaching, detaching and re-attaching there while output streams gives that
// device every byte once, in order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { OutputSequencer } from '../../common/output-sequencer.js';
import type { OutputEvent, Replay } from '../../common/protocol.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PREFIX = 'ptyhub-publish:';
let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let watcher: Redis;
let publisher: Redis;
/** Output events the adapter published, per terminal id. */
const published = new Map<string, number>();
const barriers = new Map<string, () => void>();
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  // Generous owner-RPC timeout (2x this): a loaded machine must not fail an attach mid-stream.
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, HEARTBEAT_TTL_MS: '2000', REDIS_COMMAND_TIMEOUT_MS: '8000' };
  a = await startServer({ serverId: 'pub-a', env });
  b = await startServer({ serverId: 'pub-b', dir: a.dir, env });
  await a.addUser('alice', 'alice-password');
  // What crosses Redis: every socket.io adapter broadcast (msgpack, terminal id in clear).
  watcher = new Redis(redis.url);
  watcher.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => {
    barriers.get(channel.toString())?.();
    if (!message.includes('terminal:output')) return;
    for (const id of clients.flatMap((c) => [...ownTerminals.get(c) ?? []])) {
      if (message.includes(id)) published.set(id, (published.get(id) ?? 0) + 1);
    }
  });
  await watcher.psubscribe(`${PREFIX}socket.io#*`);
  publisher = new Redis(redis.url);
});

/**
 * Everything published before now has reached the watcher: the adapter publishes before
 * it delivers locally, and one connection receives messages in the order Redis took them.
 */
async function barrier(): Promise<void> {
  const channel = `${PREFIX}socket.io#barrier-${Math.random()}`;
  const seen = new Promise<void>((resolve) => barriers.set(channel, resolve));
  await publisher.publish(channel, 'barrier');
  await seen;
  barriers.delete(channel);
}

let probes = 0;
/** Prints a line on A, seen by A's device: was it published through Redis? */
async function probePublished(onA: TestClient, id: string): Promise<boolean> {
  await barrier();
  const before = published.get(id) ?? 0;
  const n = ++probes + 1000;
  await onA.call('terminal:input', { terminalId: id, data: `echo probe-$((${n}+0))\r` });
  await onA.waitForOutput(id, `probe-${n}\r\n`);
  await barrier();
  return (published.get(id) ?? 0) > before;
}

afterAll(async () => {
  for (const c of clients) c.close();
  watcher?.disconnect();
  publisher?.disconnect();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

const ownTerminals = new Map<TestClient, Set<string>>();

async function device(server: TestServer, name: string): Promise<TestClient> {
  const token = await login(server.url, 'alice', 'alice-password');
  const c = await connect(server.url, { token, deviceName: name });
  clients.push(c);
  ownTerminals.set(c, new Set());
  return c;
}

async function terminalOnA(owner: TestClient): Promise<string> {
  const r = await owner.call('terminal:create', { cols: 120, rows: 30 });
  if (!r.ok) throw new Error(r.error.message);
  expect(r.terminal.serverId).toBe('pub-a');
  ownTerminals.get(owner)!.add(r.terminal.id);
  return r.terminal.id;
}

/**
 * One attachment of a device, sequenced like the browser does it: raw events are fed
 * from before the attach request, and a gap (missed output) fails the test.
 */
async function attachStrict(c: TestClient, terminalId: string) {
  let text = '';
  let start = 0;
  const gaps: Array<{ expected: number; got: number }> = [];
  const decoder = new TextDecoder();
  const seq = new OutputSequencer((data) => (text += decoder.decode(data, { stream: true })), (gap) => gaps.push(gap));
  const feed = (e: OutputEvent) => {
    if (e.terminalId === terminalId) seq.push(e);
  };
  c.socket.on('terminal:output', feed);
  const reply = await c.call('terminal:attach', { terminalId });
  if (!reply.ok) throw new Error(reply.error.message);
  const replay: Replay = reply.replay;
  start = replay.start;
  seq.reset(replay);
  return {
    gaps,
    /** Everything delivered so far, and the offset it starts at. */
    get text() {
      return text;
    },
    start,
    async detach() {
      c.socket.off('terminal:output', feed);
      const r = await c.call('terminal:detach', { terminalId });
      expect(r).toEqual({ ok: true });
    },
  };
}

describe('publish only where needed', () => {
  it('publishes output only while a device on another instance is attached', async () => {
    const onA = await device(a, 'on-a');
    const id = await terminalOnA(onA);
    expect((await onA.attach(id)).ok).toBe(true);
    // Right after start-up the owner publishes everything until its first sweep is done.
    await eventually(async () => !(await probePublished(onA, id)), 15_000, 'output only local with no device elsewhere', 100);
    expect(await probePublished(onA, id)).toBe(false);

    const onB = await device(b, 'on-b');
    expect((await onB.attach(id)).ok).toBe(true);
    expect(await probePublished(onA, id)).toBe(true);
    await onB.waitForOutput(id, `probe-${probes + 1000}\r\n`);

    // Once B has no device of it, the owner's sweep stops publishing.
    expect((await onB.call('terminal:detach', { terminalId: id })).ok).toBe(true);
    await eventually(async () => !(await probePublished(onA, id)), 15_000, 'the owner to stop publishing after the remote device detached', 100);
  });

  it('attach, detach and re-attach on B while output streams on A: every byte once, in order', async () => {
    const onA = await device(a, 'owner-side');
    const onB = await device(b, 'remote-side');
    const id = await terminalOnA(onA);
    expect((await onA.attach(id)).ok).toBe(true);
    // About 1 MB of numbered lines, then a marker printf builds (the echo never matches).
    await onA.call('terminal:input', {
      terminalId: id,
      data: "stty -echo; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo \"line-$i\"; done; printf 'STREAM-%s\\n' DONE\r",
    });
    await onA.waitForOutput(id, 'line-1000\r\n', 30_000);
    const rounds = [];
    for (let round = 0; round < 5; round++) {
      const att = await attachStrict(onB, id);
      // Let some live output arrive through Redis, then leave mid-stream.
      const seen = att.text.length;
      await eventually(() => att.text.length > seen + 20_000 || onA.output(id).includes('STREAM-DONE'), 30_000, 'live output on B');
      await att.detach();
      rounds.push(att);
    }
    const last = await attachStrict(onB, id);
    await onA.waitForOutput(id, 'STREAM-DONE\r\n', 120_000);
    await eventually(() => last.text.includes('STREAM-DONE\r\n'), 30_000, 'the end of the stream on B');
    const all = onA.output(id); // the owner's device saw the whole stream from offset 0
    for (const att of [...rounds, last]) {
      expect(att.gaps).toEqual([]);
      expect(att.text.length).toBeGreaterThan(0);
      // Byte for byte what the pty printed at those offsets: nothing missing, nothing twice.
      expect(att.text === all.slice(att.start, att.start + att.text.length)).toBe(true);
    }
    expect(last.text.endsWith(all.slice(all.length - 1000))).toBe(true);
  });
});
