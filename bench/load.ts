// `npm run bench -- load`: the scaling model's measurements (docs/scaling.md). N instances
// (1, 2, 3) against one redis-server and against a 3-master Redis Cluster, at two loads:
// many users, two terminals each, three devices per terminal spread over the instances;
// a quarter of the terminals stream output, a quarter have a typist (keystroke echo
// through `cat` in raw mode, 20 keys/s), the rest are idle. Reports per-instance CPU and
// memory, Redis commands/s and CPU, echo latency and delivered output, per configuration.
// Loopback only, short and bounded (LOAD_SECONDS per run, default 6). Writes
// bench/load-results.json. No targets: these are the figures docs/scaling.md is built on.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRedisManager } from '../server/redis/connection-manager.js';
import type { RedisConnectionManager } from '../server/redis/types.js';
import { startRedisCluster, type RedisCluster } from '../test/helpers/redis-cluster.js';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { startServer, type TestServer } from '../test/helpers/server.js';
import { Device, fmt, login, sleep, summarize, table } from './lib.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(HERE, 'load-results.json');
const SECONDS = Number(process.env.LOAD_SECONDS ?? 6);
const LOADS = [
  { name: 'light', users: 4 },
  { name: 'heavy', users: 12 },
] as const;
const TERMINALS_PER_USER = 2;
const DEVICES_PER_TERMINAL = 3;
const TYPIST_KEYS_PER_SECOND = 20;
/** An echo later than this, or a keystroke refused as unavailable, is counted apart (a starved machine), and the typist goes on. */
const ECHO_TIMEOUT_MS = 10_000;
/** Each streaming terminal prints a 3,000-byte line every 10 ms at most (<= ~300 KB/s). */
const STREAM = `stty -echo; b=$(head -c 3000 /dev/zero | tr '\\0' a); while :; do printf '%s\\n' "$b"; sleep 0.01; done`;

interface Backend {
  kind: 'redis' | 'cluster';
  env: Record<string, string>;
  pids(): number[];
  stop(): Promise<void>;
  manager: RedisConnectionManager;
}

interface Row {
  backend: string;
  instances: number;
  load: string;
  users: number;
  terminals: number;
  devices: number;
  echoP50Ms: number;
  echoP99Ms: number;
  echoSamples: number;
  /**
   * Keystrokes whose echo took longer than ECHO_TIMEOUT_MS, or that were refused
   * (`unavailable`: the owner did not answer within the RPC timeout); not in the percentiles.
   */
  echoTimeouts: number;
  deliveredMBps: number;
  perStreamDeviceKBps: number;
  instanceCpuPct: number[];
  instanceRssMB: number[];
  redisOpsPerSec: number;
  redisCpuPct: number;
}

function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function rssMB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

async function redisCommands(manager: RedisConnectionManager): Promise<number> {
  let total = 0;
  for (const node of manager.masters()) {
    const m = /total_commands_processed:(\d+)/.exec(await node.info('stats'));
    total += Number(m?.[1] ?? 0);
  }
  return total;
}

async function standalone(prefix: string): Promise<Backend> {
  const server: RedisServer = await startRedis();
  const manager = createRedisManager({ url: server.url, keyPrefix: prefix, commandTimeoutMs: 5000, connectTimeoutMs: 5000, logger: quiet });
  await manager.waitReady(10_000);
  return {
    kind: 'redis',
    env: { REDIS_URL: server.url },
    pids: () => [server.pid],
    manager,
    async stop() {
      await manager.quit();
      await server.stop();
    },
  };
}

async function cluster(prefix: string): Promise<Backend> {
  const c: RedisCluster = await startRedisCluster();
  const manager = createRedisManager({ clusterNodes: c.nodeList, keyPrefix: prefix, commandTimeoutMs: 5000, connectTimeoutMs: 5000, logger: quiet });
  await manager.waitReady(10_000);
  return {
    kind: 'cluster',
    env: { REDIS_CLUSTER_NODES: c.nodeList },
    pids: () => c.nodes.map((n) => n.pid),
    manager,
    async stop() {
      await manager.quit();
      await c.stop();
    },
  };
}

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

async function run(backend: Backend, servers: TestServer[], tokens: string[], load: (typeof LOADS)[number]): Promise<Row> {
  const n = servers.length;
  const devices: Device[] = [];
  const terminals: Array<{ id: string; creator: Device; role: 'stream' | 'type' | 'idle'; attached: Device[] }> = [];
  try {
    let k = 0;
    for (let u = 0; u < load.users; u++) {
      for (let t = 0; t < TERMINALS_PER_USER; t++, k++) {
        const attached: Device[] = [];
        for (let d = 0; d < DEVICES_PER_TERMINAL; d++) {
          const dev = await Device.open(servers[(k + d) % n]!.url, tokens[u]!, `u${u}-t${t}-d${d}`);
          devices.push(dev);
          attached.push(dev);
        }
        const creator = attached[0]!;
        const r = await creator.must('terminal:create', { cols: 120, rows: 40, title: `load ${k}` });
        for (const dev of attached) await dev.must('terminal:attach', { terminalId: r.terminal.id });
        terminals.push({ id: r.terminal.id, creator, role: k % 4 === 0 ? 'stream' : k % 4 === 1 ? 'type' : 'idle', attached });
      }
    }
    // Start the streams and the typists' `cat`, and wait until each is running.
    await Promise.all(
      terminals.map(async (t) => {
        if (t.role === 'idle') return;
        const marker = `GO${t.id.slice(-6)}`;
        const go = t.creator.waitForText(t.id, t.role === 'stream' ? 'aaaa' : `${marker}.`);
        const cmd = t.role === 'stream' ? STREAM : `stty raw -echo; printf '${marker}.'; exec cat`;
        await t.creator.must('terminal:input', { terminalId: t.id, data: `${cmd}\r` });
        await go;
      }),
    );
    let bytes = 0;
    let streamDeviceBytes = 0;
    const streaming = new Set(terminals.filter((t) => t.role === 'stream').map((t) => t.id));
    for (const d of devices) {
      d.onOutput((e) => {
        bytes += e.bytes;
        if (streaming.has(e.terminalId)) streamDeviceBytes += e.bytes;
      });
    }
    await sleep(500); // settle
    const pids = servers.map((s) => s.process.pid);
    const cpu0 = pids.map(cpuSeconds);
    const redisCpu0 = backend.pids().reduce((a, p) => a + cpuSeconds(p), 0);
    const ops0 = await redisCommands(backend.manager);
    bytes = 0;
    streamDeviceBytes = 0;
    const t0 = performance.now();
    const samples: number[] = [];
    let echoTimeouts = 0;
    const deadline = t0 + SECONDS * 1000;
    // Typists: the second device of each typing terminal (another instance than the owner when N > 1).
    await Promise.all(
      terminals
        .filter((t) => t.role === 'type')
        .map(async (t) => {
          const typist = t.attached[1] ?? t.creator;
          while (performance.now() < deadline) {
            const s = performance.now();
            const echoed = typist.waitForText(t.id, 'x', ECHO_TIMEOUT_MS).then(
              (e) => e.at,
              () => null,
            );
            const sent = await typist.call('terminal:input', { terminalId: t.id, data: 'x' });
            if (!sent.ok && sent.error.code !== 'unavailable') throw new Error(`${typist.name}: terminal:input failed: ${sent.error.code}`);
            // A refused keystroke is not typed (the owner drops late requests): no echo to wait for.
            const at = sent.ok ? await echoed : null;
            if (at === null) echoTimeouts++;
            else samples.push(at - s);
            const wait = s + 1000 / TYPIST_KEYS_PER_SECOND - performance.now();
            if (wait > 0) await sleep(wait);
          }
        }),
    );
    const remaining = deadline - performance.now();
    if (remaining > 0) await sleep(remaining);
    const wall = (performance.now() - t0) / 1000;
    const ops1 = await redisCommands(backend.manager);
    const cpu1 = pids.map(cpuSeconds);
    const redisCpu1 = backend.pids().reduce((a, p) => a + cpuSeconds(p), 0);
    const s = summarize(samples);
    const streamDevices = streaming.size * DEVICES_PER_TERMINAL;
    return {
      backend: backend.kind,
      instances: n,
      load: load.name,
      users: load.users,
      terminals: terminals.length,
      devices: devices.length,
      echoP50Ms: round(s.p50),
      echoP99Ms: round(s.p99),
      echoSamples: s.n,
      echoTimeouts,
      deliveredMBps: round(bytes / wall / 1e6),
      perStreamDeviceKBps: round(streamDeviceBytes / wall / 1e3 / Math.max(1, streamDevices)),
      instanceCpuPct: pids.map((_, i) => Math.round(((cpu1[i]! - cpu0[i]!) / wall) * 100)),
      instanceRssMB: pids.map(rssMB),
      redisOpsPerSec: Math.round((ops1 - ops0) / wall),
      redisCpuPct: Math.round(((redisCpu1 - redisCpu0) / wall) * 100),
    };
  } finally {
    for (const t of terminals) await t.creator.call('terminal:close', { terminalId: t.id }, 10_000).catch(() => undefined);
    for (const d of devices) d.close();
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;

export async function runLoad(): Promise<number> {
  const started = new Date();
  console.log(
    `ptyhub load: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}; ${SECONDS} s per run`,
  );
  const rows: Row[] = [];
  const users = Math.max(...LOADS.map((l) => l.users));
  for (const make of [standalone, cluster]) {
    const prefix = `ptyhub-load-${Date.now().toString(36)}:`;
    const backend = await make(prefix);
    const servers: TestServer[] = [];
    try {
      const env = { ...backend.env, REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'info', MAX_TERMINALS_PER_USER: '20' };
      let tokens: string[] = [];
      for (let n = 1; n <= 3; n++) {
        servers.push(await startServer({ serverId: `load-${n}`, env, ...(servers[0] ? { dir: servers[0].dir } : {}) }));
        if (n === 1) {
          for (let u = 0; u < users; u++) await servers[0]!.addUser(`load${u}`, 'load-password-123');
          tokens = await Promise.all(Array.from({ length: users }, (_, u) => login(servers[0]!.url, `load${u}`, 'load-password-123')));
        }
        for (const load of LOADS) {
          process.stdout.write(`  ${backend.kind} N=${n} ${load.name} … `);
          const r = await run(backend, servers, tokens, load);
          rows.push(r);
          const late = r.echoTimeouts ? ` (${r.echoTimeouts} keystrokes refused or echoed after ${ECHO_TIMEOUT_MS / 1000} s)` : '';
          console.log(`echo p50 ${fmt(r.echoP50Ms, 'ms')} p99 ${fmt(r.echoP99Ms, 'ms')}${late}, ${r.deliveredMBps} MB/s, redis ${r.redisOpsPerSec} ops/s`);
        }
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      await backend.stop();
    }
  }
  console.log(
    `\n${table(
      ['backend', 'N', 'load', 'terms/devs', 'echo p50/p99 ms', `keys refused or > ${ECHO_TIMEOUT_MS / 1000} s`, 'out MB/s', 'KB/s per stream dev', 'CPU % per instance', 'RSS MB per instance', 'redis ops/s', 'redis CPU %'],
      rows.map((r) => [
        r.backend,
        String(r.instances),
        `${r.load} (${r.users} users)`,
        `${r.terminals}/${r.devices}`,
        `${r.echoP50Ms} / ${r.echoP99Ms}`,
        String(r.echoTimeouts),
        String(r.deliveredMBps),
        String(r.perStreamDeviceKBps),
        r.instanceCpuPct.join(' '),
        r.instanceRssMB.join(' '),
        String(r.redisOpsPerSec),
        String(r.redisCpuPct),
      ]),
    )}\n`,
  );
  fs.writeFileSync(
    RESULTS,
    `${JSON.stringify({ startedAt: started.toISOString(), secondsPerRun: SECONDS, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? null, loadavg: os.loadavg() }, rows }, null, 2)}\n`,
  );
  console.log(`wrote ${path.relative(process.cwd(), RESULTS)}`);
  return 0;
}
