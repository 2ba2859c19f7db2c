// Crash cleanup: an instance that dies without cleaning up loses its registry entries
// shortly after its heartbeat key expires; live instances keep theirs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { claimServerId, heartbeatKey, serversKey, type InstanceHeartbeat } from '../../server/redis/instance-heartbeat.js';
import type { RedisConnectionManager } from '../../server/redis/types.js';
import { startReaper, type Reaper } from '../../server/registry/reaper.js';
import { SwitchingRegistry } from '../../server/registry/switching-registry.js';
import type { RemovedAttachment } from '../../server/registry/types.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { device, eventually, testLogger, testManager, uniquePrefix } from '../redis/support.js';
import { attachments, invariantErrors, snapshot } from './redis-snapshot.js';

const TTL = 500;
let server: RedisServer;
const cleanups: Array<() => Promise<void>> = [];
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Instance {
  manager: RedisConnectionManager;
  heartbeat: InstanceHeartbeat;
  registry: SwitchingRegistry;
}

async function instance(prefix: string, serverId: string): Promise<Instance> {
  const logger = testLogger(serverId);
  const manager = testManager(server.url, prefix, { commandTimeoutMs: 1000, logger });
  await manager.waitReady(5000);
  const heartbeat = await claimServerId(manager, serverId, TTL, { logger });
  const registry = new SwitchingRegistry({ manager, serverId, logger, heartbeat });
  await registry.waitForBackend('redis', 5000);
  cleanups.push(async () => {
    await registry.close();
    await heartbeat.stop();
    await manager.quit();
  });
  return { manager, heartbeat, registry };
}

function reaperFor(inst: Instance, selfId: string): Reaper {
  const reaper = startReaper({ manager: inst.manager, logger: testLogger('reaper'), selfId, intervalMs: 100 });
  cleanups.push(() => reaper.stop());
  return reaper;
}

function nextReap(reaper: Reaper, serverId: string, timeoutMs: number): Promise<RemovedAttachment[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reap of ${serverId} within ${timeoutMs} ms`)), timeoutMs);
    reaper.on('reaped', (removed, id) => {
      if (id !== serverId) return;
      clearTimeout(timer);
      resolve(removed);
    });
  });
}

describe('reaper', () => {
  it("removes a stopped instance's entries after its heartbeat expires, and only those", async () => {
    const prefix = uniquePrefix('reap');
    const a = await instance(prefix, 'srv-a');
    const b = await instance(prefix, 'srv-b');
    await a.registry.addSocket('t1', device('a1'));
    await b.registry.addSocket('t1', device('b1', { serverId: 'srv-b' }));
    await b.registry.addSocket('t2', device('b1', { serverId: 'srv-b' }));
    await b.registry.addSocket('t3', device('b2', { serverId: 'srv-b', userId: 'bob' }));
    await b.registry.setPrimarySocket('t1', 'b1');
    const reaper = reaperFor(a, 'srv-a');

    // "Crash" b: heartbeat stops without release, registry and connection just go away.
    const reaped = nextReap(reaper, 'srv-b', TTL + 3000);
    const crashedAt = Date.now();
    await b.heartbeat.stop({ release: false });
    await b.registry.close();
    await b.manager.quit();
    const removed = await reaped;
    expect(Date.now() - crashedAt).toBeLessThan(TTL + 1500);

    const key = (r: RemovedAttachment) => `${r.serverId}/${r.terminalId}/${r.socketId}`;
    expect(removed.map(key).sort()).toEqual(['srv-b/t1/b1', 'srv-b/t2/b1', 'srv-b/t3/b2']);
    const snap = await snapshot(a.manager);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual({ t1: ['a1'] });
    expect(snap.terminals.get('t1')?.primary).toBeNull();
    expect(snap.users.has('bob')).toBe(false);
    expect(await a.manager.readyClient().smembers(serversKey(prefix))).toEqual(['srv-a']);
    expect(await reaper.runOnce()).toEqual([]); // idempotent: nothing left
  });

  it('leaves live instances alone, and two racing reapers remove each entry once', async () => {
    const prefix = uniquePrefix('reap-race');
    const a = await instance(prefix, 'srv-a');
    const b = await instance(prefix, 'srv-b');
    const c = await instance(prefix, 'srv-c');
    for (let i = 0; i < 300; i++) await c.registry.addSocket(`t${i % 7}`, device(`c${i}`, { serverId: 'srv-c' }));
    await a.registry.addSocket('t0', device('a1'));
    const ra = startReaper({ manager: a.manager, logger: testLogger(), selfId: 'srv-a', intervalMs: 60_000, batchSize: 50 });
    const rb = startReaper({ manager: b.manager, logger: testLogger(), selfId: 'srv-b', intervalMs: 60_000, batchSize: 50 });
    cleanups.push(() => ra.stop(), () => rb.stop());

    expect(await ra.runOnce()).toEqual([]); // everyone is alive

    await c.heartbeat.stop({ release: true }); // a clean stop without purge: reapable at once
    await c.registry.close();
    const [x, y] = await Promise.all([ra.runOnce(), rb.runOnce()]);
    const all = [...x, ...y].map((r) => `${r.terminalId}/${r.socketId}`);
    expect(all).toHaveLength(300);
    expect(new Set(all).size).toBe(300);
    const snap = await snapshot(a.manager);
    expect(invariantErrors(snap)).toEqual([]);
    expect(attachments(snap)).toEqual({ t0: ['a1'] });
  });

  it('an instance that was reaped while alive (stalled past its TTL) re-publishes itself', async () => {
    const prefix = uniquePrefix('reap-stall');
    const a = await instance(prefix, 'srv-a');
    const b = await instance(prefix, 'srv-b');
    await b.registry.addSocket('t1', device('b1', { serverId: 'srv-b' }));
    await b.registry.setPrimarySocket('t1', 'b1');
    const reaper = startReaper({ manager: a.manager, logger: testLogger(), selfId: 'srv-a', intervalMs: 60_000 });
    cleanups.push(() => reaper.stop());

    // As if b stalled: its key vanished and a reaper ran before b's next refresh.
    await a.manager.readyClient().del(heartbeatKey(prefix, 'srv-b'));
    const back = new Promise<void>((resolve) => b.heartbeat.on('reclaimed', resolve));
    expect((await reaper.runOnce()).map((r) => r.socketId)).toEqual(['b1']);
    // Redis no longer has b1, but b holds it: b keeps its answer and re-publishes.
    await b.registry.setPrimarySocket('t1', 'b1');
    await back;
    await b.registry.waitForBackend('redis', 5000);
    await eventually(async () => (await a.registry.getSocketsForTerminal('t1')).includes('b1'), 3000, 'b1 re-published');
    expect(await a.registry.getPrimarySocket('t1')).toBe('b1');
    expect(invariantErrors(await snapshot(a.manager))).toEqual([]);
  });

  it('cleans up after a child process killed with SIGKILL', async () => {
    const prefix = uniquePrefix('reap-kill9');
    const a = await instance(prefix, 'srv-a');
    const reaper = reaperFor(a, 'srv-a');
    const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'crash-instance.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, REDIS_URL: server.url, REDIS_KEY_PREFIX: prefix, SERVER_ID: 'srv-child', HEARTBEAT_TTL_MS: String(TTL), COUNT: '30' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        if (out.includes('READY')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    expect((await snapshot(a.manager)).servers.get('srv-child')).toHaveLength(30);

    const reaped = nextReap(reaper, 'srv-child', TTL + 3000);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const killedAt = Date.now();
    expect(await reaped).toHaveLength(30);
    expect(Date.now() - killedAt).toBeLessThan(TTL + 1500);
    const snap = await snapshot(a.manager);
    // Only the terminals' owner keys are left; they expire (another instance may still use them).
    expect(snap.keyCount).toBe(snap.termOwners.size);
    expect(snap.terminals.size + snap.sockets.size + snap.serverUsers.size).toBe(0);
  }, 20_000);
});
