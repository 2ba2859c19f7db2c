// Flow-control and input-backpressure benchmarks (see README.md): Ctrl-C during `yes`
// with a device rendering at 2 MB/s, server memory while a device has stopped rendering
// during `yes`, and server memory during a 40 MB paste into a program that does not read.
// Every terminal runs on instance A; its device is on A too.
import fs from 'node:fs';
import { type BenchResult, Device, fmt, sleep } from './lib.js';

export interface FlowBenchEnv {
  url: string;
  token: string;
  /** The web server's pid and its pty host's (RSS is measured for both). */
  serverPid: number;
  hostPid(): number | null;
  /** Opens a device on A (closed after the benchmark). */
  device(name: string, opts?: { outputAcks?: boolean }): Promise<Device>;
}

const TARGETS = {
  /** From Ctrl-C to the device having rendered the prompt that follows it. */
  ctrlCStopMs: 300,
  stallRssGrowthMiB: 32,
  pasteRssGrowthMiB: 64,
};

/** The device "renders" this fast (bytes per second), acknowledging as the product's client does. */
const RENDER_BYTES_PER_SECOND = 2_000_000;
const RENDER_TICK_MS = 10;
const ACK_EVERY = 64 * 1024;
const CTRL_C_RUNS = 3;
/** `yes` runs this long before Ctrl-C (output at full speed, the device rendering behind). */
const YES_BEFORE_CTRL_C_MS = 2000;
const STALL_SECONDS = Number(process.env.BENCH_STALL_SECONDS ?? 60);
const PASTE_BYTES = 40 * 1024 * 1024;
const PASTE_CHUNK_CHARS = 64 * 1024;
/** Below the server's default per-socket event rate (200/s), so the paster is never cut off for flooding. */
const PASTE_EVENTS_PER_SECOND = 150;

const MiB = 1024 * 1024;

/** Resident memory of a process (KiB from /proc), in MiB; 0 when it is gone. */
function rssMiB(pid: number | null): number {
  if (!pid) return 0;
  try {
    const kib = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) / 1024 : 0;
  } catch {
    return 0;
  }
}

const serverRss = (env: FlowBenchEnv) => rssMiB(env.serverPid) + rssMiB(env.hostPid());

/** Samples server RSS every 250 ms until stopped; returns the largest. */
function rssPeak(env: FlowBenchEnv): () => number {
  let peak = serverRss(env);
  const timer = setInterval(() => (peak = Math.max(peak, serverRss(env))), 250);
  return () => {
    clearInterval(timer);
    return Math.max(peak, serverRss(env));
  };
}

async function terminal(d: Device): Promise<string> {
  const r = await d.must('terminal:create', { cols: 120, rows: 40, title: 'bench-flow' });
  await d.must('terminal:attach', { terminalId: r.terminal.id });
  return r.terminal.id;
}

/**
 * A device that renders output at a fixed rate (queued as it arrives) and acknowledges
 * what it rendered like the product's client: every 64 KiB, or when it has caught up.
 * `onRendered` sees each rendered piece with the time it was rendered.
 */
function renderAt(d: Device, terminalId: string, bytesPerSecond: number, onRendered: (text: string, at: number) => void) {
  const queue: Array<{ data: string; end: number }> = [];
  let acked = 0;
  let rendered = 0;
  const off = d.onOutput((e) => {
    if (e.terminalId === terminalId && e.data.length > 0) queue.push({ data: e.data, end: e.offset + e.bytes });
  });
  const ack = () => {
    if (rendered <= acked) return;
    acked = rendered;
    void d.call('terminal:ack', { terminalId, offset: rendered }).catch(() => undefined);
  };
  const perTick = (bytesPerSecond * RENDER_TICK_MS) / 1000;
  const timer = setInterval(() => {
    let budget = perTick;
    while (budget > 0 && queue.length > 0) {
      const head = queue[0]!;
      const take = Math.min(budget, head.data.length);
      const piece = head.data.slice(0, take);
      budget -= take;
      if (take === head.data.length) queue.shift();
      else head.data = head.data.slice(take);
      rendered = head.end - (queue[0] === head ? head.data.length : 0);
      onRendered(piece, performance.now());
      if (rendered - acked >= ACK_EVERY) ack();
    }
    if (queue.length === 0) ack();
  }, RENDER_TICK_MS);
  return {
    backlog: () => queue.reduce((n, q) => n + q.data.length, 0),
    stop: () => {
      clearInterval(timer);
      off();
    },
  };
}

async function ctrlCOnce(env: FlowBenchEnv, run: number): Promise<{ ms: number; bytesAfter: number }> {
  const d = await env.device(`ctrl-c-${run}`, { outputAcks: true });
  const id = await terminal(d);
  const prompt = `P${run}${Date.now() % 100000}>`;
  const ready = d.waitForText(id, `${prompt} `); // before the input: its echo may come before the reply
  await d.must('terminal:input', { terminalId: id, data: `PS1='${prompt} '\r` });
  await ready;
  let ctrlCAt = 0;
  let bytesAfter = 0;
  let carry = '';
  const stopped = new Promise<number>((resolve) => {
    const r = renderAt(d, id, RENDER_BYTES_PER_SECOND, (text, at) => {
      if (!ctrlCAt) return;
      bytesAfter += text.length;
      const seen = carry + text;
      if (seen.includes(`${prompt} `)) {
        r.stop();
        resolve(at);
      }
      carry = seen.slice(-prompt.length);
    });
  });
  await d.must('terminal:input', { terminalId: id, data: 'yes\r' });
  await sleep(YES_BEFORE_CTRL_C_MS);
  ctrlCAt = performance.now();
  await d.must('terminal:input', { terminalId: id, data: '\x03' });
  let timer: NodeJS.Timeout | undefined;
  const doneAt = await Promise.race([stopped, new Promise<number>((_, reject) => (timer = setTimeout(() => reject(new Error('no prompt within 120 s of Ctrl-C')), 120_000)))]);
  clearTimeout(timer);
  await d.call('terminal:close', { terminalId: id }).catch(() => undefined);
  return { ms: doneAt - ctrlCAt, bytesAfter };
}

async function benchCtrlC(env: FlowBenchEnv): Promise<BenchResult> {
  const runs: Array<{ ms: number; bytesAfter: number }> = [];
  for (let i = 0; i < CTRL_C_RUNS; i++) runs.push(await ctrlCOnce(env, i));
  const worst = Math.max(...runs.map((r) => r.ms));
  return {
    id: 'flow-ctrl-c',
    title: `Ctrl-C during yes, device rendering at ${RENDER_BYTES_PER_SECOND / 1e6} MB/s and acking: Ctrl-C to the prompt rendered (worst of ${CTRL_C_RUNS})`,
    checks: [{ metric: 'output stops', value: worst, unit: 'ms', op: '<', target: TARGETS.ctrlCStopMs }],
    info: {
      runs: runs.map((r) => fmt(r.ms, 'ms')).join(' / '),
      'rendered after Ctrl-C': runs.map((r) => `${Math.round(r.bytesAfter / 1024)} KiB`).join(' / '),
    },
  };
}

async function benchStall(env: FlowBenchEnv): Promise<BenchResult> {
  const d = await env.device('stalled', { outputAcks: true });
  const id = await terminal(d);
  const before = serverRss(env);
  const peak = rssPeak(env);
  // It renders nothing and acknowledges nothing (a tab that stopped rendering); its
  // connection stays up (it answers pings), so it stays attached. (A device that stops
  // reading its socket altogether is disconnected by the ping timeout, 20 s, and the
  // terminal then runs on with nobody watching, as it should.)
  // `yes` is started through another device (the stalled one does not read replies).
  const starter = await env.device('starter');
  await starter.must('terminal:attach', { terminalId: id });
  await starter.must('terminal:input', { terminalId: id, data: 'yes\r' });
  await starter.must('terminal:detach', { terminalId: id });
  await sleep(STALL_SECONDS * 1000);
  const top = peak();
  await starter.must('terminal:attach', { terminalId: id });
  await starter.call('terminal:close', { terminalId: id }).catch(() => undefined);
  return {
    id: 'flow-stalled-device',
    title: `a device that stops rendering and acking while yes runs for ${STALL_SECONDS} s: growth of server RSS (web server + pty host)`,
    checks: [{ metric: 'RSS growth', value: top - before, unit: 'MiB', op: '<', target: TARGETS.stallRssGrowthMiB }],
    info: { 'RSS before': fmt(before, 'MiB'), 'RSS peak': fmt(top, 'MiB'), seconds: STALL_SECONDS },
  };
}

async function benchPaste(env: FlowBenchEnv): Promise<BenchResult> {
  const d = await env.device('paster');
  const id = await terminal(d);
  const started = d.waitForText(id, 'sleep 600');
  await d.must('terminal:input', { terminalId: id, data: 'sleep 600\r' });
  await started;
  const line = `${'x'.repeat(99)}\r`;
  const chunk = line.repeat(Math.floor(PASTE_CHUNK_CHARS / line.length));
  const before = serverRss(env);
  const peak = rssPeak(env);
  const t0 = performance.now();
  let offered = 0;
  let accepted = 0;
  const refused: Record<string, number> = {};
  const pending: Array<Promise<unknown>> = [];
  // Offered as fast as the event rate allows, without waiting for replies (more than the
  // product's client does: it sends each chunk after the previous one was taken).
  for (let i = 0; offered < PASTE_BYTES; i++) {
    offered += chunk.length;
    pending.push(
      d.call('terminal:input', { terminalId: id, data: chunk }, 600_000).then(
        (r) => (r.ok ? (accepted += chunk.length) : (refused[r.error.code] = (refused[r.error.code] ?? 0) + 1)),
        () => (refused.timeout = (refused.timeout ?? 0) + 1),
      ),
    );
    const due = t0 + ((i + 1) * 1000) / PASTE_EVENTS_PER_SECOND;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await sleep(2000); // let whatever the server took settle in memory
  const top = peak();
  await d.call('terminal:close', { terminalId: id }).catch(() => undefined);
  await Promise.race([Promise.allSettled(pending), sleep(10_000)]);
  return {
    id: 'flow-paste',
    title: `pasting ${PASTE_BYTES / MiB} MiB into a program that does not read (sleep 600): growth of server RSS (web server + pty host)`,
    checks: [{ metric: 'RSS growth', value: top - before, unit: 'MiB', op: '<', target: TARGETS.pasteRssGrowthMiB }],
    info: {
      'RSS before': fmt(before, 'MiB'),
      'RSS peak': fmt(top, 'MiB'),
      'offered MiB': fmt(offered / MiB, ''),
      'answered ok MiB': fmt(accepted / MiB, ''),
      refused: Object.entries(refused).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
    },
  };
}

export const FLOW_BENCHES: Array<{ id: string; fn: (env: FlowBenchEnv) => Promise<BenchResult> }> = [
  { id: 'flow-ctrl-c', fn: benchCtrlC },
  { id: 'flow-stalled-device', fn: benchStall },
  { id: 'flow-paste', fn: benchPaste },
];
