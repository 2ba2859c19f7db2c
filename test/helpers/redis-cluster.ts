// A private Redis Cluster per test file: 3 masters and 3 replicas on free loopback ports
// (redis-server --cluster-enabled yes, then redis-cli --cluster create). Each node is a
// guarded daemon like test/helpers/redis-server.ts, so none outlives the test run.
// Failover: kill a master (kill9) and wait until its replica serves its slots.
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './eventually.js';
import { startGuardedDaemon, type Daemon } from './guarded-daemon.js';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  pid: number;
  /** SIGKILL, no waiting (a crash). */
  kill9(): void;
  /** Start the killed node again on the same port and config (it rejoins as a replica). */
  restart(): Promise<void>;
}

/**
 * Test code passes Redis targets around as one string: a redis:// URL, or
 * "cluster:host:port,host:port,..." for a cluster. These are the manager options for one.
 */
export function targetOptions(target: string): { url: string } | { clusterNodes: string } {
  return target.startsWith('cluster:') ? { clusterNodes: target.slice('cluster:'.length) } : { url: target };
}

export interface RedisCluster {
  nodes: ClusterNode[];
  /** "127.0.0.1:p1,127.0.0.1:p2,..." (what REDIS_CLUSTER_NODES takes). */
  nodeList: string;
  /** "cluster:" + nodeList: a target for targetOptions(). */
  url: string;
  /** The nodes serving slots right now. */
  masters(): Promise<ClusterNode[]>;
  /** Kill the master serving `slot` and wait until another node serves it. Returns the killed node. */
  failover(slot: number, timeoutMs?: number): Promise<ClusterNode>;
  /** cluster_state:ok seen from every live node. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Failure detection: short, so a failover takes about a second or two. */
const NODE_TIMEOUT_MS = 1000;

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

function spawnNode(port: number, busPort: number, dir: string): Promise<Daemon> {
  // prettier-ignore
  const args = [
    '--port', String(port), '--cluster-port', String(busPort), '--bind', '127.0.0.1',
    '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'),
    '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
    // A replica may be promoted however long it was cut off (tests kill masters at will).
    '--cluster-replica-validity-factor', '0',
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', '',
  ];
  return startGuardedDaemon({
    name: `redis cluster node on port ${port}`,
    command: ['redis-server', ...args],
    ready: /Ready to accept connections/,
    timeoutMs: 10_000,
    orphanSignal: 'KILL',
  });
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ptyhub-cluster-'));
  const daemons = new Map<number, Daemon | null>();
  const nodes: ClusterNode[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const dir = path.join(root, String(i));
      mkdirSync(dir);
      let daemon: Daemon | null = null;
      let port = 0;
      let busPort = 0;
      for (let attempt = 0; !daemon; attempt++) {
        port = await freePort();
        busPort = await freePort();
        try {
          daemon = await spawnNode(port, busPort, dir);
        } catch (err) {
          if (attempt >= 4) throw err;
        }
      }
      const p = port;
      const b = busPort;
      daemons.set(p, daemon);
      const node: ClusterNode = {
        port: p,
        pid: daemon.pid,
        kill9() {
          const d = daemons.get(p);
          if (d) process.kill(d.pid, 'SIGKILL');
        },
        async restart() {
          await daemons.get(p)?.stop('SIGKILL');
          const d = await spawnNode(p, b, dir);
          daemons.set(p, d);
          node.pid = d.pid;
        },
      };
      nodes.push(node);
    }
    const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
  } catch (err) {
    await Promise.all([...daemons.values()].map((d) => d?.stop('SIGKILL')));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  const alive = async (n: ClusterNode): Promise<boolean> => {
    try {
      return (await cli(n.port, 'PING')).trim() === 'PONG';
    } catch {
      return false;
    }
  };

  const cluster: RedisCluster = {
    nodes,
    nodeList: nodes.map((n) => `127.0.0.1:${n.port}`).join(','),
    url: `cluster:${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    async masters() {
      const out: ClusterNode[] = [];
      for (const n of nodes) {
        if (!(await alive(n))) continue;
        if ((await cli(n.port, 'ROLE')).startsWith('master')) {
          out.push(n);
        }
      }
      return out;
    },
    async waitHealthy(timeoutMs = 20_000) {
      await eventually(
        async () => {
          for (const n of nodes) {
            if (!(await alive(n))) continue;
            if (!(await cli(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return false;
          }
          return true;
        },
        timeoutMs,
        'cluster_state:ok on every live node',
        100,
      );
    },
    async failover(slot, timeoutMs = 20_000) {
      const servingPort = async (): Promise<number> => {
        for (const n of nodes) {
          if (!(await alive(n))) continue;
          const lines = (await cli(n.port, 'CLUSTER', 'NODES')).trim().split('\n');
          for (const line of lines) {
            const f = line.split(' ');
            if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
            for (const range of f.slice(8)) {
              const [a, b] = range.split('-').map(Number);
              if (a !== undefined && slot >= a && slot <= (b ?? a)) return Number(f[1]!.split(':')[1]!.split('@')[0]);
            }
          }
        }
        throw new Error(`no live node knows slot ${slot}`);
      };
      const before = await servingPort();
      const victim = nodes.find((n) => n.port === before)!;
      victim.kill9();
      await eventually(async () => (await servingPort()) !== before, timeoutMs, `a replica serving slot ${slot}`, 100);
      await cluster.waitHealthy(timeoutMs);
      return victim;
    },
    async stop() {
      await Promise.all([...daemons.values()].map((d) => d?.stop('SIGTERM')));
      daemons.clear();
      rmSync(root, { recursive: true, force: true });
    },
  };
  await cluster.waitHealthy();
  return cluster;
}
