// Runs a server process for tests (redis-server, postgres) so that it can never outlive
// the test run: it runs under a tiny sh wrapper holding our stdin pipe; if this process
// dies in any way (even SIGKILL), the pipe closes and the wrapper signals the server.
import { spawn, type ChildProcessWithoutNullStreams, type SpawnOptions } from 'node:child_process';

const WRAPPER = `
sig=$1; shift
exec 3<&0
"$@" </dev/null &
pid=$!
echo "guarded-daemon-pid $pid"
( read _ <&3; kill -$sig $pid 2>/dev/null ) &
wd=$!
wait $pid
code=$?
kill $wd 2>/dev/null
echo "guarded-daemon-exit $code"
`;

const live = new Map<number, string>();
process.once('exit', () => {
  for (const [pid, signal] of live) {
    try {
      process.kill(pid, `SIG${signal}` as NodeJS.Signals);
    } catch {
      /* already gone */
    }
  }
});

export interface Daemon {
  child: ChildProcessWithoutNullStreams;
  /** The server's own pid (not the wrapper's). */
  pid: number;
  /** Resolves when the wrapper (and so the server) has exited. */
  exited: Promise<void>;
  /** Send `signal`, wait for the exit, release the wrapper. Idempotent. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

export interface DaemonOptions {
  name: string;
  command: string[];
  /** Printed (stdout or stderr) once the server accepts connections. */
  ready: RegExp;
  timeoutMs: number;
  /** Signal for an orphaned server, without the SIG prefix (KILL, QUIT, ...). */
  orphanSignal: string;
  spawn?: Pick<SpawnOptions, 'cwd' | 'env' | 'uid' | 'gid'>;
}

export function startGuardedDaemon(o: DaemonOptions): Promise<Daemon> {
  const child = spawn('sh', ['-c', WRAPPER, 'sh', o.orphanSignal, ...o.command], {
    ...o.spawn,
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  let output = '';
  let pid = 0;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (!live.has(pid)) return;
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
    await exited;
    child.stdin.end();
    live.delete(pid);
  };
  return new Promise<Daemon>((resolve, reject) => {
    const fail = (why: string): void => {
      clearTimeout(timer);
      live.delete(pid);
      child.stdin.end();
      reject(new Error(`${o.name} ${why}:\n${output.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      if (pid) process.kill(pid, 'SIGKILL');
      fail(`not ready within ${o.timeoutMs} ms`);
    }, o.timeoutMs);
    const onData = (d: string): void => {
      output += d;
      const m = /guarded-daemon-pid (\d+)/.exec(output);
      if (m && !pid) {
        pid = Number(m[1]);
        live.set(pid, o.orphanSignal);
      }
      if (/guarded-daemon-exit/.test(output)) fail('exited');
      else if (o.ready.test(output)) {
        clearTimeout(timer);
        for (const s of [child.stdout, child.stderr]) {
          s.removeAllListeners('data');
          s.resume(); // keep draining: servers keep logging
        }
        resolve({ child, pid, exited, stop });
      }
    };
    for (const s of [child.stdout, child.stderr]) {
      s.setEncoding('utf8');
      s.on('data', onData);
    }
    child.once('error', (err) => fail(`could not be spawned (${err.message})`));
  });
}
