// `npm run bench`: performance of a real two-instance cluster (two server processes, one
// redis-server, one SQLite database), against targets. Prints a table, writes
// bench/results.json, and exits non-zero when a target is missed. See bench/README.md.
//
//   npm run bench                  # everything (about 40 s)
//   npm run bench -- echo replay   # only benchmarks whose id contains one of the words
//   npm run bench -- load          # the scaling runs instead (bench/load.ts, a few minutes)
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn as spawnPty } from 'node-pty';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { type BenchResult, type Check, Device, fmt, login, passed, sleep, summarize, table } from './lib.js';
import { runLoad } from './load.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'results.json');
const USER = 'bench';
const PASSWORD = 'bench-password-123';

// ---- targets ----
// Calibrated on a 2-core VM (AMD EPYC, Node 20) shared with other work, with headroom
// against what it achieves; see README.md for the measurements behind each.
const TARGETS = {
  /** Best of the runs. This VM's ptys deliver 14-20 MB/s to a bare reader (node-pty or C). */
  localMBps: 5,
  crossMBps: 5,
  localEchoP50Ms: 5,
  localEchoP99Ms: 15,
  crossEchoP50Ms: 10,
  crossEchoP99Ms: 25,
  /** One instance with its in-process FIFO lock does p99 ~85 ms, 270/s here. */
  resizeP99Ms: 200,
  resizePerSec: 50,
  localReplayP95Ms: 50,
  crossReplayP95Ms: 60,
};

/** Output produced per throughput run: base64 of this many bytes of /dev/zero. */
const THROUGHPUT_INPUT_BYTES = 10_000_000;
const THROUGHPUT_RUNS = 3;
const ECHO_SAMPLES = 500;
const ECHO_WARMUP = 30;
/** Start-to-start spacing of keystrokes: 200/s, the default per-socket event rate. */
const ECHO_SPACING_MS = 5;
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

/**
 * The ceiling: how fast this process alone reads the same output from a pty (node-pty,
 * no server, no sockets). The server cannot beat it; compare (a) and (b) with it.
 */
function rawPtyMBps(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = tag();
    const p = spawnPty('/bin/sh', ['-c', `stty -echo; printf 'TP%s:%s\\n' ${t} BEGIN; head -c ${THROUGHPUT_INPUT_BYTES} /dev/zero | base64; printf 'TP%s:%s\\n' ${t} END; sleep 1`], {
      cols: 200,
      rows: 50,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
    });
    let seen = '';
    let chars = 0;
    let t0 = 0;
    const timer = setTimeout(() => (p.kill(), reject(new Error('raw pty read timed out'))), 60_000);
    p.onData((d) => {
      const text = seen + d;
      if (!t0) {
        const i = text.indexOf(`TP${t}:BEGIN`);
        if (i >= 0) {
          t0 = performance.now();
          chars = text.length - i;
        }
      } else chars += d.length;
      seen = text.slice(-32);
      if (t0 && text.includes(`TP${t}:END`)) {
        clearTimeout(timer);
        const ms = performance.now() - t0;
        p.kill();
        resolve(chars / 1e6 / (ms / 1000));
      }
    });
  });
}

async function throughputOnce(receiver: Device, terminalId: string): Promise<{ mbps: number; chars: number; ms: number; events: number }> {
  const t = tag();
  // Markers are built by printf, so the command line's own echo never contains them.
  const begin = receiver.waitForText(terminalId, `TP${t}:BEGIN`, 60_000);
  const end = receiver.waitForText(terminalId, `TP${t}:END`, 60_000);
  let events = 0;
  const off = receiver.onOutput((e) => {
    if (e.terminalId === terminalId) events++;
  });
  await receiver.must('terminal:input', {
    terminalId,
    data: `printf 'TP%s:%s\\n' ${t} BEGIN; head -c ${THROUGHPUT_INPUT_BYTES} /dev/zero | base64; printf 'TP%s:%s\\n' ${t} END\r`,
  });
  const [b, e] = await Promise.all([begin, end]);
  off();
  const chars = e.offsetAfter - b.offsetAfter;
  const ms = e.at - b.at;
  return { mbps: chars / 1e6 / (ms / 1000), chars, ms, events };
}

async function benchThroughput(c: Cluster, where: 'local' | 'cross'): Promise<BenchResult> {
  const creator = await device(c, 'a', 'creator');
  const id = await terminalOnA(c, creator);
  // The only device attached: on A (same instance as the pty) or on B (through Redis).
  const receiver = await device(c, where === 'local' ? 'a' : 'b', `receiver-${where}`);
  await receiver.must('terminal:attach', { terminalId: id });
  await run(receiver, id, 'stty -echo');
  await throughputOnce(receiver, id); // warm-up (JIT, buffers)
  const raw = where === 'local' ? Math.max(await rawPtyMBps(), await rawPtyMBps()) : NaN;
  const cpu = cpuMeter(c);
  const runs = [];
  for (let i = 0; i < THROUGHPUT_RUNS; i++) runs.push(await throughputOnce(receiver, id));
  const used = cpu();
  await closeTerminal(receiver, id);
  // Best of the runs: other work on the machine can only slow a run down.
  const mbps = Math.max(...runs.map((r) => r.mbps));
  const totalChars = runs.reduce((s, r) => s + r.chars, 0);
  const totalEvents = runs.reduce((s, r) => s + r.events, 0);
  return {
    id: `throughput-${where}`,
    title: where === 'local' ? '(a) output throughput, device on the owner instance' : '(b) output throughput, device on the other instance (Redis)',
    checks: [{ metric: `best of ${THROUGHPUT_RUNS}`, value: mbps, unit: 'MB/s', op: '>=', target: where === 'local' ? TARGETS.localMBps : TARGETS.crossMBps }],
    info: {
      'runs MB/s': runs.map((r) => r.mbps.toFixed(1)).join(' / '),
      'MB per run': (runs[0]!.chars / 1e6).toFixed(1),
      'avg event KiB': (totalChars / totalEvents / 1024).toFixed(1),
      ...(where === 'local' ? { 'bare pty reader MB/s (no server)': raw.toFixed(1) } : {}),
      ...used,
    },
  };
}

// ---- (c) keystroke echo latency ----

async function benchEcho(c: Cluster, where: 'local' | 'cross'): Promise<BenchResult> {
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
    if (wait > 0) await sleep(wait);
  }
  const used = cpu();
  await closeTerminal(typist, id);
  const s = summarize(samples);
  return {
    id: `echo-${where}`,
    title: where === 'local' ? '(c) keystroke echo, device on the owner instance' : '(c) keystroke echo, device on the other instance (Redis)',
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
  // the ten devices run at once, so every resize contends for the terminal's lock.
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
    title: `(d) resize, ${RESIZE_DEVICES} devices on both instances contending (Redis lock)`,
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
  await run(creator, id, 'head -c 300000 /dev/urandom | base64 -w 100');
  await creator.must('terminal:detach', { terminalId: id });
  const d = await device(c, where === 'local' ? 'a' : 'b', `attacher-${where}`);
  const samples: number[] = [];
  let replayChars = 0;
  const cpu = cpuMeter(c);
  for (let i = 0; i < 3 + REPLAY_SAMPLES; i++) {
    const t0 = performance.now();
    const r = await d.must('terminal:attach', { terminalId: id });
    const ms = performance.now() - t0;
    replayChars = r.replay.data.length;
    if (i >= 3) samples.push(ms);
    await d.must('terminal:detach', { terminalId: id });
  }
  const used = cpu();
  await closeTerminal(d, id);
  const s = summarize(samples);
  return {
    id: `replay-${where}`,
    title: where === 'local' ? '(e) attach with a full replay, device on the owner instance' : '(e) attach with a full replay, device on the other instance',
    checks: [{ metric: 'p95', value: s.p95, unit: 'ms', op: '<', target: where === 'local' ? TARGETS.localReplayP95Ms : TARGETS.crossReplayP95Ms }],
    info: { samples: s.n, 'replay KiB': (replayChars / 1024).toFixed(0), p50: fmt(s.p50, 'ms'), p99: fmt(s.p99, 'ms'), max: fmt(s.max, 'ms'), ...used },
  };
}

// ---- main ----

const BENCHES: Array<{ id: string; fn: (c: Cluster) => Promise<BenchResult> }> = [
  { id: 'throughput-local', fn: (c) => benchThroughput(c, 'local') },
  { id: 'throughput-cross', fn: (c) => benchThroughput(c, 'cross') },
  { id: 'echo-local', fn: (c) => benchEcho(c, 'local') },
  { id: 'echo-cross', fn: (c) => benchEcho(c, 'cross') },
  { id: 'resize-contention', fn: benchResize },
  { id: 'replay-local', fn: (c) => benchReplay(c, 'local') },
  { id: 'replay-cross', fn: (c) => benchReplay(c, 'cross') },
];

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
  const c: Cluster = { redis, devices: [] } as unknown as Cluster;
  const results: BenchResult[] = [];
  try {
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `ptyhub-bench-${tag().toLowerCase()}:`,
      LOG_LEVEL: 'info', // startServer waits for the 'listening' line (info)
      MAX_TERMINALS_PER_USER: '20',
    };
    c.a = await startServer({ serverId: 'bench-a', env });
    c.b = await startServer({ serverId: 'bench-b', dir: c.a.dir, env });
    await c.a.addUser(USER, PASSWORD);
    c.tokenA = await login(c.a.url, USER, PASSWORD);
    c.tokenB = await login(c.b.url, USER, PASSWORD);

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
    await redis.stop();
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
        targets: TARGETS,
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
