// `npm run bench`: performance of a real two-instance cluster (two server processes, one
// redis-server, one SQLite database), against targets. Prints a table, writes
// bench/results.json, and exits non-zero when a target is missed. See bench/README.md.
//
//   npm run bench                  # everything (about 3 minutes)
//   npm run bench -- echo replay   # only benchmarks whose id contains one of the words
//   npm run bench -- load          # the scaling runs instead (bench/load.ts, a few minutes)
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { spawn as spawnPty } from 'node-pty';
import { io as ioClient } from 'socket.io-client';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { startServer, TSX_LOADER, type TestServer } from '../test/helpers/server.js';
import { HARDENING_BENCHES } from './hardening.js';
import { outputFrameParser } from '../common/output-frame-parser.js';
import { FLOW_BENCHES, type FlowBenchEnv } from './flow.js';
import { type BenchResult, type Check, Device, firstDifference, fmt, login, MarkedStream, passed, sleep, summarize, table } from './lib.js';
import { runLoad } from './load.js';
import { MEMORY_BENCHES, MEMORY_TARGETS } from './memory.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'results.json');
const USER = 'bench';
const PASSWORD = 'bench-password-123';

// ---- targets ----
// Calibrated on a 2-core VM (AMD EPYC, Node 20) shared with other work, with headroom
// against what it achieves; see README.md for the measurements behind each.
const TARGETS = {
  /**
   * Throughput as a share (%) of a bare node-pty reader of the same file measured in the
   * same run (best run of each), issue 10's targets. The bare socket.io pair is reported
   * next to it: what the transport alone carries.
   */
  localSharePct: 80,
  crossSharePct: 65,
  /** Echo, for keys 5 ms apart and for keys back to back alike. */
  localEchoP50Ms: 0.7,
  localEchoP99Ms: 3,
  crossEchoP50Ms: 1.5,
  crossEchoP99Ms: 6,
  /** Resizes run on the owner behind its in-process FIFO lock: p99 ~85 ms, 270/s on one instance here. */
  resizeP99Ms: 200,
  resizePerSec: 50,
  localReplayP95Ms: 50,
  crossReplayP95Ms: 60,
};

/** Size of the pre-generated file each throughput run prints with `cat` (random base64, 100-char lines). */
const THROUGHPUT_FILE_BYTES = 16_000_000;
const THROUGHPUT_RUNS = 3;
/** Characters per event sent by the bare socket.io ceiling (about what one pty read gives). */
const BARE_CHUNK_CHARS = 16 * 1024;
/** The servers' replay buffer (REPLAY_BUFFER_CHARS default) and the replay benchmark's line length. */
const REPLAY_CHARS = 256 * 1024;
const REPLAY_LINE_CHARS = 101;
const ECHO_SAMPLES = 500;
const ECHO_WARMUP = 30;
/** Start-to-start spacing of keystrokes: 200/s, the default per-socket event rate. */
const ECHO_SPACING_MS = 5;
/** Back-to-back keys: runs of this many, then a pause for the event budget to refill. */
const ECHO_RUN = 40;
const ECHO_RUN_PAUSE_MS = 400;
const RESIZE_DEVICES = 10;
const RESIZES_PER_DEVICE = 30;
const REPLAY_SAMPLES = 100;

interface Cluster {
  redis: RedisServer;
  a: TestServer;
  b: TestServer;
  tokenA: string;
  tokenB: string;
  devices: Device[];
  payload: Payload;
  /** Bare socket.io servers (no ptyhub): one alone, two sharing the Redis adapter. */
  bare: { alone: BareServer; a: BareServer; b: BareServer } | null;
}

/** The file the throughput runs print, and what a device must receive for it (CRLF). */
interface Payload {
  file: string;
  expected: string;
}

function makePayload(dir: string): Payload {
  const raw = randomBytes(Math.ceil((THROUGHPUT_FILE_BYTES * 3) / 4)).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < raw.length; i += 99) lines.push(raw.slice(i, i + 99));
  const content = `${lines.join('\n')}\n`;
  const file = path.join(dir, 'throughput.txt');
  fs.writeFileSync(file, content);
  return { file, expected: content.replace(/\n/g, '\r\n') };
}

/** Every byte between the markers must be the file's: a dropped or garbled event is an error. */
function checkBody(who: string, stream: MarkedStream, payload: Payload): void {
  const body = stream.body();
  if (body !== payload.expected) throw new Error(`${who}: the output received is not the file: ${firstDifference(body, payload.expected)}`);
}

const tag = () => randomUUID().replace(/-/g, '').slice(0, 8).toUpperCase();

async function device(c: Cluster, on: 'a' | 'b', name: string): Promise<Device> {
  const d = await Device.open(c[on].url, on === 'a' ? c.tokenA : c.tokenB, name);
  c.devices.push(d);
  return d;
}

/** A new terminal on instance A (its owner), not attached by anyone. */
async function terminalOnA(c: Cluster, creator: Device): Promise<string> {
  const r = await creator.must('terminal:create', { cols: 200, rows: 50, title: 'bench' });
  if (r.terminal.serverId !== c.a.serverId) throw new Error(`terminal created on ${r.terminal.serverId}, expected ${c.a.serverId}`);
  return r.terminal.id;
}

/** Run a shell command line and wait until it printed its marker (the echo never matches). */
async function run(d: Device, terminalId: string, command: string): Promise<void> {
  const t = tag();
  const done = d.waitForText(terminalId, `OK${t}.`);
  await d.must('terminal:input', { terminalId, data: `${command}; printf 'OK%s.\\n' ${t}\r` });
  await done;
}

async function closeTerminal(d: Device, terminalId: string): Promise<void> {
  await d.call('terminal:close', { terminalId }).catch(() => undefined);
}

// ---- CPU accounting (Linux /proc), to tell where the time goes ----

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime + stime, in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function cpuMeter(c: Cluster) {
  const read = () => ({
    a: cpuSeconds(c.a.process.pid),
    b: cpuSeconds(c.b.process.pid),
    redis: cpuSeconds(c.redis.pid),
    bench: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage()),
  });
  const start = read();
  return () => {
    const end = read();
    const r = (k: keyof typeof start) => Math.round((end[k] - start[k]) * 100) / 100;
    return { 'cpu A s': r('a'), 'cpu B s': r('b'), 'cpu redis s': r('redis'), 'cpu bench s': r('bench') };
  };
}

// ---- (a), (b) output throughput ----

/** Output of a terminal, fed to a MarkedStream until its END marker (or a timeout). */
function collect(stream: MarkedStream, subscribe: (feed: (data: string) => void) => () => void, who: string, timeoutMs = 120_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${who}: the output did not end within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const off = subscribe((data) => {
      if (!stream.push(data)) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** Ceiling 1: this process alone reading `cat file` from a pty (node-pty, no server, no sockets). */
async function barePtyMBps(payload: Payload): Promise<number> {
  const t = tag();
  const stream = new MarkedStream(t);
  const p = spawnPty('/bin/sh', ['-c', `stty -echo; printf 'TP%s:%s\\n' ${t} BEGIN; cat '${payload.file}'; printf 'TP%s:%s\\n' ${t} END; sleep 1`], {
    cols: 200,
    rows: 50,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
  });
  try {
    await collect(stream, (feed) => {
      const sub = p.onData(feed);
      return () => sub.dispose();
    }, 'bare pty reader');
  } finally {
    p.kill();
  }
  checkBody('bare pty reader', stream, payload);
  return stream.mbps();
}

interface BareServer {
  url: string;
  stop(): void;
}

function startBare(redisUrl?: string, ...flags: string[]): Promise<BareServer> {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, path.join(HERE, 'bare-socketio-server.ts'), ...(redisUrl ? [redisUrl] : []), ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      const m = /\{"port":(\d+)\}/.exec(out);
      if (m) resolve({ url: `http://127.0.0.1:${m[1]}`, stop: () => child.kill('SIGTERM') });
    });
    child.once('exit', (code) => reject(new Error(`bare socket.io server exited (${code})`)));
  });
}

/** Until both bare servers of the pair listen on Redis (the adapter subscribes its pattern first). */
async function barePairSubscribed(redisUrl: string): Promise<void> {
  const r = new Redis(redisUrl);
  try {
    for (let i = 0; i < 200; i++) {
      const [, n] = (await r.pubsub('NUMSUB', 'bare-bench-request#/#')) as [string, number];
      if (Number(n) >= 2) return;
      await sleep(25);
    }
    throw new Error('bare socket.io servers did not subscribe to Redis');
  } finally {
    r.disconnect();
  }
}

/** Ceiling 2: a bare socket.io pair carrying the same bytes (sent by `sender`, received from `receiver`). */
async function bareSocketIoMBps(sender: BareServer, receiver: BareServer, payload: Payload): Promise<number> {
  const open = (url: string) => {
    const socket = ioClient(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    return new Promise<typeof socket>((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  };
  const rx = await open(receiver.url);
  const tx = sender === receiver ? rx : await open(sender.url);
  try {
    const t = tag();
    const stream = new MarkedStream(t);
    const done = collect(stream, (feed) => {
      const on = (e: { data: string }) => feed(e.data);
      rx.on('terminal:output', on);
      return () => rx.off('terminal:output', on);
    }, 'bare socket.io');
    await tx.timeout(10_000).emitWithAck('send', { file: payload.file, tag: t, chunkChars: BARE_CHUNK_CHARS });
    await done;
    checkBody('bare socket.io', stream, payload);
    return stream.mbps();
  } finally {
    rx.close();
    tx.close();
  }
}

async function throughputOnce(receiver: Device, terminalId: string, payload: Payload): Promise<{ mbps: number; chars: number; events: number }> {
  const t = tag();
  const stream = new MarkedStream(t);
  let events = 0;
  // Markers are built by printf, so the command line's own echo never contains them.
  const done = collect(stream, (feed) =>
    receiver.onOutput((e) => {
      if (e.terminalId !== terminalId) return;
      events++;
      feed(e.data);
    }), receiver.name);
  await receiver.must('terminal:input', {
    terminalId,
    data: `printf 'TP%s:%s\\n' ${t} BEGIN; cat '${payload.file}'; printf 'TP%s:%s\\n' ${t} END\r`,
  });
  await done;
  checkBody(receiver.name, stream, payload);
  return { mbps: stream.mbps(), chars: stream.body().length, events };
}

async function benchThroughput(c: Cluster, where: 'local' | 'cross'): Promise<BenchResult> {
  if (!c.bare) throw new Error('bare socket.io servers not started');
  const creator = await device(c, 'a', 'creator');
  const id = await terminalOnA(c, creator);
  // The only device attached: on A (same instance as the pty) or on B (through Redis).
  const receiver = await device(c, where === 'local' ? 'a' : 'b', `receiver-${where}`);
  await receiver.must('terminal:attach', { terminalId: id });
  await run(receiver, id, 'stty -echo');
  await throughputOnce(receiver, id, c.payload); // warm-up (JIT, buffers)
  const [sender, bareReceiver] = where === 'local' ? [c.bare.alone, c.bare.alone] : [c.bare.a, c.bare.b];
  await bareSocketIoMBps(sender, bareReceiver, c.payload); // warm-up
  const cpu = cpuMeter(c);
  const runs = [];
  const ptyCeiling: number[] = [];
  const sioCeiling: number[] = [];
  // Ceilings and ptyhub interleaved: each sees the same load on the machine.
  for (let i = 0; i < THROUGHPUT_RUNS; i++) {
    runs.push(await throughputOnce(receiver, id, c.payload));
    ptyCeiling.push(await barePtyMBps(c.payload));
    sioCeiling.push(await bareSocketIoMBps(sender, bareReceiver, c.payload));
  }
  const used = cpu();
  await closeTerminal(receiver, id);
  // Best of the runs: other work on the machine can only slow a run down.
  const mbps = Math.max(...runs.map((r) => r.mbps));
  const pty = Math.max(...ptyCeiling);
  const sio = Math.max(...sioCeiling);
  const totalChars = runs.reduce((s, r) => s + r.chars, 0);
  const totalEvents = runs.reduce((s, r) => s + r.events, 0);
  return {
    id: `throughput-${where}`,
    title: where === 'local' ? '(a) output throughput, device on the owner instance' : '(b) output throughput, device on the other instance (Redis)',
    checks: [{ metric: `best of ${THROUGHPUT_RUNS} / bare pty reader`, value: (mbps / pty) * 100, unit: '%', op: '>=', target: where === 'local' ? TARGETS.localSharePct : TARGETS.crossSharePct }],
    info: {
      'best MB/s': mbps.toFixed(1),
      'runs MB/s': runs.map((r) => r.mbps.toFixed(1)).join(' / '),
      'share of bare socket.io %': ((mbps / sio) * 100).toFixed(0),
      'bare pty reader MB/s': ptyCeiling.map((x) => x.toFixed(1)).join(' / '),
      [where === 'local' ? 'bare socket.io MB/s' : 'bare socket.io via Redis adapter MB/s']: sioCeiling.map((x) => x.toFixed(1)).join(' / '),
      'MB per run (every byte checked)': (runs[0]!.chars / 1e6).toFixed(1),
      'avg event KiB': (totalChars / totalEvents / 1024).toFixed(1),
      ...used,
    },
  };
}

// ---- (c) keystroke echo latency ----

/**
 * `spaced`: one key every ECHO_SPACING_MS (typing); `back-to-back`: the next key as soon
 * as the previous echo arrived (a key held down, a paste of single characters).
 */
async function benchEcho(c: Cluster, where: 'local' | 'cross', pace: 'spaced' | 'back-to-back'): Promise<BenchResult> {
  const creator = await device(c, 'a', 'creator');
  const id = await terminalOnA(c, creator);
  const typist = await device(c, where === 'local' ? 'a' : 'b', `typist-${where}`);
  await typist.must('terminal:attach', { terminalId: id });
  // cat in raw mode: every keystroke goes to a program and straight back, like an editor.
  const t = tag();
  const ready = typist.waitForText(id, `CAT${t}.`);
  await typist.must('terminal:input', { terminalId: id, data: `stty raw -echo; printf 'CAT%s.' ${t}; exec cat\r` });
  await ready;
  const samples: number[] = [];
  const cpu = cpuMeter(c);
  for (let i = 0; i < ECHO_WARMUP + ECHO_SAMPLES; i++) {
    const t0 = performance.now();
    const echoed = typist.waitForText(id, 'x', 10_000);
    const ack = typist.must('terminal:input', { terminalId: id, data: 'x' });
    const { at } = await echoed;
    await ack;
    if (i >= ECHO_WARMUP) samples.push(at - t0);
    const wait = t0 + ECHO_SPACING_MS - performance.now();
    if (pace === 'spaced' && wait > 0) await sleep(wait);
    // Back to back is faster than the default per-user event rate (200/s): keys go in runs
    // the budget's burst admits, with a pause (not measured) for it to fill again.
    if (pace === 'back-to-back' && i % ECHO_RUN === ECHO_RUN - 1) await sleep(ECHO_RUN_PAUSE_MS);
  }
  const used = cpu();
  await closeTerminal(typist, id);
  const s = summarize(samples);
  return {
    id: `echo-${where}${pace === 'spaced' ? '' : '-b2b'}`,
    title: `(c) keystroke echo, ${pace === 'spaced' ? `keys ${ECHO_SPACING_MS} ms apart` : 'keys back to back'}, device on ${where === 'local' ? 'the owner instance' : 'the other instance (Redis)'}`,
    checks: [
      { metric: 'p50', value: s.p50, unit: 'ms', op: '<', target: where === 'local' ? TARGETS.localEchoP50Ms : TARGETS.crossEchoP50Ms },
      { metric: 'p99', value: s.p99, unit: 'ms', op: '<', target: where === 'local' ? TARGETS.localEchoP99Ms : TARGETS.crossEchoP99Ms },
    ],
    info: { samples: s.n, p90: fmt(s.p90, 'ms'), max: fmt(s.max, 'ms'), ...used },
  };
}

// ---- (d) resize under contention ----

async function benchResize(c: Cluster): Promise<BenchResult> {
  const creator = await device(c, 'a', 'creator');
  const id = await terminalOnA(c, creator);
  const devs: Device[] = [];
  for (let i = 0; i < RESIZE_DEVICES; i++) devs.push(await device(c, i % 2 === 0 ? 'a' : 'b', `resizer-${i}`));
  for (const d of devs) await d.must('terminal:attach', { terminalId: id });
  const latencies: number[] = [];
  const byInstance: Record<'a' | 'b', number[]> = { a: [], b: [] };
  let failures = 0;
  const errors = new Map<string, number>();
  const versions: number[] = [];
  const cpu = cpuMeter(c);
  const t0 = performance.now();
  // Every device resizes one request after another (as a window being dragged does);
  // the ten devices run at once. Every resize runs on the owner (A), behind the
  // terminal's FIFO lock there; devices on B reach it by owner RPC.
  await Promise.all(
    devs.map(async (d, di) => {
      for (let i = 0; i < RESIZES_PER_DEVICE; i++) {
        const start = performance.now();
        const r = await d.call('terminal:resize', { terminalId: id, cols: 80 + di, rows: 20 + i }, 60_000);
        const ms = performance.now() - start;
        latencies.push(ms);
        byInstance[di % 2 === 0 ? 'a' : 'b'].push(ms);
        if (r.ok) versions.push(r.version);
        else {
          failures++;
          errors.set(r.error.code, (errors.get(r.error.code) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const used = cpu();
  await closeTerminal(creator, id);
  const s = summarize(latencies);
  const perSec = (latencies.length - failures) / (elapsed / 1000);
  const checks: Check[] = [
    { metric: 'p99', value: s.p99, unit: 'ms', op: '<', target: TARGETS.resizeP99Ms },
    { metric: 'throughput', value: perSec, unit: 'resizes/s', op: '>=', target: TARGETS.resizePerSec },
    { metric: 'failed', value: failures, unit: 'requests', op: '<', target: 1 },
  ];
  return {
    id: 'resize-contention',
    title: `(d) resize, ${RESIZE_DEVICES} devices on both instances contending (run on the owner, FIFO lock)`,
    checks,
    info: {
      requests: latencies.length,
      p50: fmt(s.p50, 'ms'),
      p90: fmt(s.p90, 'ms'),
      max: fmt(s.max, 'ms'),
      'p99 devices on A (owner)': fmt(summarize(byInstance.a).p99, 'ms'),
      'p99 devices on B': fmt(summarize(byInstance.b).p99, 'ms'),
      'distinct versions': new Set(versions).size,
      errors: [...errors].map(([k, v]) => `${k}:${v}`).join(' ') || 'none',
      ...used,
    },
  };
}

// ---- (e) attach with replay ----

async function benchReplay(c: Cluster, where: 'local' | 'cross'): Promise<BenchResult> {
  const creator = await device(c, 'a', 'creator');
  const id = await terminalOnA(c, creator);
  // Fill the replay buffer (REPLAY_BUFFER_CHARS, 256 Ki by default) with varied text.
  await creator.must('terminal:attach', { terminalId: id });
  await run(creator, id, `head -c 300000 /dev/urandom | base64 -w ${REPLAY_LINE_CHARS - 1}`);
  await creator.must('terminal:detach', { terminalId: id });
  const d = await device(c, where === 'local' ? 'a' : 'b', `attacher-${where}`);
  const samples: number[] = [];
  let smallestReplay = Infinity;
  const cpu = cpuMeter(c);
  for (let i = 0; i < 3 + REPLAY_SAMPLES; i++) {
    const t0 = performance.now();
    const r = await d.must('terminal:attach', { terminalId: id });
    const ms = performance.now() - t0;
    if (r.replay.end - r.replay.start !== r.replay.data.length) throw new Error(`replay offsets [${r.replay.start}, ${r.replay.end}) do not match its ${r.replay.data.length} bytes`);
    smallestReplay = Math.min(smallestReplay, r.replay.data.length);
    if (i >= 3) samples.push(ms);
    await d.must('terminal:detach', { terminalId: id });
  }
  const used = cpu();
  await closeTerminal(d, id);
  const s = summarize(samples);
  return {
    id: `replay-${where}`,
    title: where === 'local' ? '(e) attach with a full replay, device on the owner instance' : '(e) attach with a full replay, device on the other instance',
    checks: [
      { metric: 'p95', value: s.p95, unit: 'ms', op: '<', target: where === 'local' ? TARGETS.localReplayP95Ms : TARGETS.crossReplayP95Ms },
      // A truncated replay would be faster: every replay must be the full buffer, less at
      // most the partial line cut off at its start.
      { metric: 'smallest replay', value: smallestReplay, unit: 'chars', op: '>=', target: REPLAY_CHARS - REPLAY_LINE_CHARS },
    ],
    info: { samples: s.n, p50: fmt(s.p50, 'ms'), p99: fmt(s.p99, 'ms'), max: fmt(s.max, 'ms'), ...used },
  };
}
// ---- (c') what one output message costs, by encoding ----

const SMALL_MESSAGES = 20_000;
const LARGE_MESSAGES = 2_000;
const LARGE_MESSAGE_BYTES = 16 * 1024;

/**
 * A bare socket.io server sends output events to one client, in three encodings: data as
 * a JSON string (today), as bytes in socket.io's binary attachment (a JSON header frame
 * plus a binary frame), and as bytes in one binary frame with a small header
 * (common/output-frame-parser.ts). Small (1 byte, an echo) and large (16 KiB) messages.
 */
async function benchMessageCost(): Promise<BenchResult> {
  const plain = await startBare();
  const framed = await startBare(undefined, '--frame-parser');
  const info: Record<string, string> = {};
  let lost = 0;
  try {
    const styles = [
      { name: 'JSON string', server: plain, style: 'string' as const },
      { name: 'binary attachment', server: plain, style: 'bytes' as const },
      { name: 'one binary frame', server: framed, style: 'bytes' as const },
    ];
    for (const [count, bytes] of [[SMALL_MESSAGES, 1], [LARGE_MESSAGES, LARGE_MESSAGE_BYTES]] as const) {
      for (const s of styles) {
        const socket = ioClient(s.server.url, {
          transports: ['websocket'],
          forceNew: true,
          reconnection: false,
          ...(s.server === framed ? { parser: outputFrameParser } : {}),
        });
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('connect_error', reject);
        });
        try {
          const once = async () => {
            let received = 0;
            let receivedBytes = 0;
            const cpu0 = process.cpuUsage();
            const t0 = performance.now();
            const done = new Promise<void>((resolve) => {
              socket.on('terminal:output', (e: { data: string | Uint8Array }) => {
                received++;
                receivedBytes += e.data.length;
                if (received === count) resolve();
              });
            });
            socket.emit('burst', { style: s.style, count, bytes });
            await Promise.race([done, sleep(60_000)]);
            const wallMs = performance.now() - t0;
            const client = process.cpuUsage(cpu0);
            socket.off('terminal:output');
            const serverMicros = (await socket.timeout(10_000).emitWithAck('burst-cpu')) as number;
            if (received !== count || receivedBytes !== count * bytes) {
              lost += Math.max(1, count - received);
            }
            return { wallMs, serverMicros, clientMicros: client.user + client.system };
          };
          await once(); // warm-up
          const r = await once();
          const per = (x: number) => (x / count).toFixed(1);
          info[`${bytes} B, ${s.name}: server/client CPU µs per msg, wall µs per msg`] =
            `${per(r.serverMicros)} / ${per(r.clientMicros)}, ${per(r.wallMs * 1000)}`;
        } finally {
          socket.close();
        }
      }
    }
  } finally {
    plain.stop();
    framed.stop();
  }
  return {
    id: 'message-cost',
    title: "(c') cost of one output message by encoding (bare socket.io, one client): 1 B echoes and 16 KiB chunks",
    checks: [{ metric: 'messages lost', value: lost, unit: '', op: '<', target: 1 }],
    info,
  };
}

// ---- main ----

/** `standalone`: the benchmark starts what it measures itself and needs no cluster. */
const BENCHES: Array<{ id: string; fn: (c: Cluster) => Promise<BenchResult>; standalone?: boolean }> = [
  { id: 'throughput-local', fn: (c) => benchThroughput(c, 'local') },
  { id: 'throughput-cross', fn: (c) => benchThroughput(c, 'cross') },
  { id: 'echo-local', fn: (c) => benchEcho(c, 'local', 'spaced') },
  { id: 'echo-local-b2b', fn: (c) => benchEcho(c, 'local', 'back-to-back') },
  { id: 'echo-cross', fn: (c) => benchEcho(c, 'cross', 'spaced') },
  { id: 'echo-cross-b2b', fn: (c) => benchEcho(c, 'cross', 'back-to-back') },
  { id: 'message-cost', fn: () => benchMessageCost(), standalone: true },
  { id: 'resize-contention', fn: benchResize },
  { id: 'replay-local', fn: (c) => benchReplay(c, 'local') },
  { id: 'replay-cross', fn: (c) => benchReplay(c, 'cross') },
  ...HARDENING_BENCHES,
  // Memory: each starts its own instance from the build (bench/memory.ts).
  ...MEMORY_BENCHES.map((b) => ({ id: b.id, fn: () => b.run(), standalone: true })),
  ...FLOW_BENCHES.map((b) => ({ id: b.id, fn: (c: Cluster) => b.fn(flowEnv(c)) })),
];

/** What the flow benchmarks (flow.ts) need: instance A, its processes, devices on it. */
function flowEnv(c: Cluster): FlowBenchEnv {
  return {
    url: c.a.url,
    token: c.tokenA,
    serverPid: c.a.process.pid!,
    hostPid: () => c.a.hostPid(),
    device: async (name, opts) => {
      const d = await Device.open(c.a.url, c.tokenA, name, opts?.outputAcks ? { outputAcks: true } : {});
      c.devices.push(d);
      return d;
    },
  };
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  if (filters.includes('load')) return runLoad();
  const selected = BENCHES.filter((b) => filters.length === 0 || filters.some((f) => b.id.includes(f)));
  if (selected.length === 0) {
    console.error(`no benchmark matches ${filters.join(' ')}; ids: ${BENCHES.map((b) => b.id).join(', ')}`);
    return 2;
  }
  const startedAt = new Date();
  const t0 = performance.now();
  console.log(`ptyhub bench: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}; starting redis-server and two instances…`);

  const redis = await startRedis();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-bench-'));
  const c: Cluster = { redis, devices: [], payload: makePayload(workDir), bare: null } as unknown as Cluster;
  const results: BenchResult[] = [];
  const bareServers: BareServer[] = [];
  try {
    if (selected.some((b) => b.id.startsWith('throughput'))) {
      const started = await Promise.all([startBare(), startBare(redis.url), startBare(redis.url)]);
      bareServers.push(...started);
      c.bare = { alone: started[0]!, a: started[1]!, b: started[2]! };
      await barePairSubscribed(redis.url);
    }
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `ptyhub-bench-${tag().toLowerCase()}:`,
      LOG_LEVEL: 'info', // startServer waits for the 'listening' line (info)
      MAX_TERMINALS_PER_USER: '20',
    };
    if (selected.some((b) => !b.standalone)) {
      c.a = await startServer({ serverId: 'bench-a', env });
      c.b = await startServer({ serverId: 'bench-b', dir: c.a.dir, env });
      await c.a.addUser(USER, PASSWORD);
      c.tokenA = await login(c.a.url, USER, PASSWORD);
      c.tokenB = await login(c.b.url, USER, PASSWORD);
    }

    for (const b of selected) {
      process.stdout.write(`  ${b.id} … `);
      const started = performance.now();
      try {
        const r = await b.fn(c);
        results.push(r);
        console.log(`${r.checks.map((x) => `${x.metric} ${fmt(x.value, x.unit)}`).join(', ')} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        results.push({ id: b.id, title: b.id, checks: [], info: {}, error: message });
        console.log(`ERROR: ${message}`);
      } finally {
        for (const d of c.devices.splice(0)) d.close();
      }
    }
  } finally {
    for (const d of c.devices) d.close();
    await Promise.all([c.a?.stop(), c.b?.stop()]);
    for (const b of bareServers) b.stop();
    await redis.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  const rows: string[][] = [];
  const details: string[] = [];
  for (const r of results) {
    if (r.error) {
      rows.push([r.id, 'error', '', '', 'FAIL']);
      details.push(`${r.id}: ${r.error}`);
      continue;
    }
    r.checks.forEach((x, i) => {
      rows.push([i === 0 ? r.id : '', x.metric, fmt(x.value, x.unit), `${x.op} ${fmt(x.target, x.unit)}`, passed(x) ? 'PASS' : 'FAIL']);
    });
    details.push(`${r.id}: ${r.title}\n    ${Object.entries(r.info).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  }
  const failed = results.filter((r) => r.error || r.checks.some((x) => !passed(x)));
  console.log(`\n${table(['benchmark', 'metric', 'result', 'target', 'status'], rows)}\n\n${details.join('\n')}\n`);
  const seconds = (performance.now() - t0) / 1000;
  fs.writeFileSync(
    RESULTS,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        seconds: Math.round(seconds * 10) / 10,
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
        targets: { ...TARGETS, ...MEMORY_TARGETS },
        results: results.map((r) => ({ ...r, checks: r.checks.map((x) => ({ ...x, pass: passed(x) })), pass: !r.error && r.checks.every(passed) })),
        pass: failed.length === 0,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`${failed.length === 0 ? 'all targets met' : `${failed.length} benchmark(s) missed a target: ${failed.map((r) => r.id).join(', ')}`} (${seconds.toFixed(0)} s); wrote ${path.relative(process.cwd(), RESULTS)}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
