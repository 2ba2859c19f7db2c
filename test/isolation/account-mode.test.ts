// TERMINAL_USER_MODE=account end to end, as an attacker with an ordinary account would try
// it: started as root, the web server runs as SERVICE_USER; each account's shell runs as
// its own OS account (its uid, its groups, never root's), cannot read the server's or the
// host's environment, the database, .env or the host socket, and cannot signal another
// account's shell. Signed cluster messages, the environment allowlist and session reaping
// hold in this mode too.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../server/paths.js';
import { sqlitePath } from '../../server/db/sqlite.js';
import { detectCgroupV2 } from '../../server/pty-host/cgroup.js';
import { connect, login, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { OsAccountFixture, type TestOsAccount } from '../helpers/os-accounts.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { isAlive, startServer, TSX_LOADER, type TestServer } from '../helpers/server.js';
import { ALLOWED_SHELL_VARIABLES, runInShell, startLeftovers } from '../helpers/terminal.js';

const PREFIX = 'ptyhub-acct:';
const accounts = new OsAccountFixture();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-account-'));
const leftovers: number[] = [];
let service: TestOsAccount;
let alice: TestOsAccount;
let bob: TestOsAccount;
let bobsGroup: { name: string; gid: number };
let redis: RedisServer;
let server: TestServer;
let asAlice: TestClient;
let asBob: TestClient;
let asCarol: TestClient;
let aliceTerminal: string;
let bobTerminal: string;

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end without blocking this process: the test's socket.io clients
 * must keep answering the server's pings meanwhile (a long spawnSync on a loaded machine
 * gets them disconnected).
 */
function run(file: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string }): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (err) => (clearTimeout(timer), reject(err)));
    child.once('close', (status) => (clearTimeout(timer), resolve({ status, stdout, stderr })));
    child.stdin.end(opts.input ?? '');
  });
}

function userAdd(args: string[]): Promise<Ran> {
  return run(process.execPath, ['--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/cli/user-add.ts'), ...args], {
    env: { PATH: process.env.PATH, HOME: dir, DATABASE_URL: `file:${dir}/ptyhub.db`, TERMINAL_USER_MODE: 'account' },
    input: 'a-good-password\n',
  });
}

/** uid and groups of a process, from /proc. */
function credentials(pid: number): { uids: number[]; groups: number[] } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))![1]!.trim().split(/\s+/).filter(Boolean).map(Number);
  return { uids: field('Uid'), groups: field('Groups') };
}

async function openTerminal(c: TestClient): Promise<string> {
  const created = await c.call('terminal:create', { cols: 200, rows: 24 });
  if (!created.ok) throw new Error(created.error.message);
  expect((await c.attach(created.terminal.id)).ok).toBe(true);
  return created.terminal.id;
}

beforeAll(async () => {
  service = accounts.serviceUser('svc');
  // The web server runs as the service user from this checkout (wherever CI cloned it).
  accounts.makeReachable(PROJECT_ROOT, service, path.join(PROJECT_ROOT, 'package.json'));
  bobsGroup = accounts.group('grp');
  alice = accounts.user('alice');
  bob = accounts.user('bob', [bobsGroup.name]);
  expect((await userAdd(['alice', '--os-user', alice.name])).status).toBe(0);
  expect((await userAdd(['bob', '--os-user', bob.name])).status).toBe(0);
  expect((await userAdd(['carol'])).stderr).toMatch(/carol" has no OS account/);
  // The server reads .env from its working directory: a secret no shell may see.
  fs.writeFileSync(path.join(dir, '.env'), 'DOTENV_CANARY=dotenv-secret\n');
  redis = await startRedis();
  server = await startServer({
    dir,
    env: { TERMINAL_USER_MODE: 'account', SERVICE_USER: service.name, REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX, SERVER_CANARY: 'canary-value' },
  });
  const as = async (name: string) => connect(server.url, { token: await login(server.url, name, 'a-good-password'), deviceName: name });
  [asAlice, asBob, asCarol] = await Promise.all([as('alice'), as('bob'), as('carol')]);
  aliceTerminal = await openTerminal(asAlice);
  bobTerminal = await openTerminal(asBob);
}, 120_000);

afterAll(async () => {
  for (const pid of leftovers) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const c of [asAlice, asBob, asCarol]) c?.close();
  await server?.stop();
  await redis?.stop();
  accounts.removeAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('user:add --os-user', () => {
  it('refuses an OS account that does not exist, and root', async () => {
    const missing = await userAdd(['dave', '--os-user', `${accounts.tag}nobody`]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no OS account ".*nobody"/);
    const root = await userAdd(['eve', '--os-user', 'root']);
    expect(root.status).toBe(2);
    expect(root.stderr).toMatch(/is root/);
  });
});

describe('account mode', () => {
  it('refuses to start when not started as root, saying so', async () => {
    const started = await run(
      'setpriv',
      [`--reuid=${service.uid}`, `--regid=${service.gid}`, '--clear-groups', '--', process.execPath, '--import', TSX_LOADER, path.join(PROJECT_ROOT, 'server/main.ts')],
      {
        cwd: '/',
        env: { PATH: process.env.PATH, HOME: '/', TERMINAL_USER_MODE: 'account', SERVICE_USER: service.name, PORT: '0', DATABASE_URL: `file:${dir}/never.db`, LOG_FORMAT: 'json' },
      },
    );
    expect(started.status).toBe(1);
    expect(started.stderr).toMatch(/TERMINAL_USER_MODE=account must be started as root/);
    expect(fs.existsSync(path.join(dir, 'never.db'))).toBe(false);
  });

  it('refuses to start without its service user, naming SERVICE_USER and how to create it', async () => {
    await expect(startServer({ env: { TERMINAL_USER_MODE: 'account', SERVICE_USER: `${accounts.tag}none` } })).rejects.toThrow(
      /SERVICE_USER ".*none" is not an OS account: create it \(useradd --system/,
    );
  });

  it('runs the web server as SERVICE_USER with only its own group, and the pty host as root', () => {
    const web = credentials(server.process.pid!);
    expect(web.uids).toEqual([service.uid, service.uid, service.uid, service.uid]);
    expect(web.groups).toEqual([service.gid]);
    expect(credentials(server.hostPid()!).uids[0]).toBe(0);
  });

  it('the pty host says which resource limits apply (no per-terminal cgroup)', () => {
    const lines = fs.readFileSync(server.host.logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const limits = lines.find((l) => String(l.msg).startsWith('resource limits:'));
    expect(limits).toMatchObject({ cgroupV2: detectCgroupV2().usable, reason: expect.any(String) });
  });

  it("starts Bob's shell as Bob: his uid, his primary and supplementary groups, no group 0, his home, a login shell", async () => {
    const out = await runInShell(asBob, bobTerminal, 'echo "ID[$(id -u) $(id -g) $(id -G)]"; echo "WHO[$HOME|$USER|$LOGNAME|$SHELL|$PWD]"; shopt -q login_shell && echo LOGIN-SHELL');
    const ids = out.match(/ID\[([\d ]+)\]/)![1]!.split(' ').map(Number);
    expect(ids[0]).toBe(bob.uid);
    expect(ids[1]).toBe(bob.gid);
    expect(ids.slice(2).sort()).toEqual([...bob.groups].sort());
    expect(ids.slice(2)).toContain(bobsGroup.gid);
    expect(ids.slice(2)).not.toContain(0);
    const home = `/home/${bob.name}`;
    expect(out).toContain(`WHO[${home}|${bob.name}|${bob.name}|/bin/bash|${home}]`);
    expect(out).toContain('LOGIN-SHELL');
    // Its terminal device is Bob's, as after a login: readable by name, by nobody else.
    expect(await runInShell(asBob, bobTerminal, 'stat -c "TTY[%U %a]" "$(tty)"')).toContain(`TTY[${bob.name} 620]`);
  });

  it("Bob's shell cannot read the server's or the host's environment, the database, .env or the host socket", async () => {
    const db = sqlitePath(server.databaseUrl);
    const files = [`/proc/${server.process.pid}/environ`, `/proc/${server.hostPid()}/environ`, db, path.join(dir, '.env')];
    const reads = await runInShell(asBob, bobTerminal, `for f in ${files.join(' ')}; do if cat "$f" >/dev/null 2>&1; then echo "READ:$f"; else echo "DENIED:$f"; fi; done`);
    for (const f of files) expect(reads).toContain(`DENIED:${f}`);
    expect(reads).not.toContain('READ:');
    // The same reads as root succeed: the denials are permissions, not missing files.
    for (const f of files) expect(fs.readFileSync(f).length).toBeGreaterThan(0);
    const connectTo = `node -e "require('net').connect(process.argv[1]).on('connect',()=>console.log('SOCK-CONNECTED')).on('error',e=>console.log('SOCK-'+e.code))" ${server.host.socket}`;
    expect(await runInShell(asBob, bobTerminal, connectTo)).toContain('SOCK-EACCES');
  });

  it("Bob's shell cannot signal Alice's shell", async () => {
    const alicePid = Number((await runInShell(asAlice, aliceTerminal, 'echo "PID[$$]"')).match(/PID\[(\d+)\]/)![1]);
    expect(credentials(alicePid).uids[0]).toBe(alice.uid);
    const out = await runInShell(asBob, bobTerminal, `kill -0 ${alicePid} 2>/dev/null; echo "ZERO:$?"; kill -KILL ${alicePid} 2>&1; echo "KILL:$?"`);
    expect(out).toContain('ZERO:1');
    expect(out).toMatch(/Operation not permitted[\s\S]*KILL:1/);
    expect(isAlive(alicePid)).toBe(true);
    expect(await runInShell(asAlice, aliceTerminal, 'echo still-$((20+1))')).toContain('still-21');
  });

  it('an account without an OS account gets a clear refusal, and nothing is started', async () => {
    const created = await asCarol.call('terminal:create', { cols: 80, rows: 24 });
    expect(created).toMatchObject({ ok: false, error: { code: 'forbidden', message: expect.stringMatching(/no OS account/) } });
    const list = await asCarol.call('terminal:list', {});
    expect(list.ok && list.terminals).toEqual([]);
  });

  it("Bob's shell starts with only allowlisted variables: nothing of the server's environment or .env", async () => {
    // What the shell was started with (its login files may add their own, e.g. LS_COLORS).
    const names = (await runInShell(asBob, bobTerminal, "tr '\\0' '\\n' </proc/$$/environ | cut -d= -f1 | sort | tr '\\n' ' '")).split(/\s+/).filter(Boolean);
    expect(names).toEqual(expect.arrayContaining(['TERM', 'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG']));
    expect(names.filter((n) => !ALLOWED_SHELL_VARIABLES.test(n))).toEqual([]);
    const vals = await runInShell(asBob, bobTerminal, 'echo "VALS[${SERVER_CANARY:-none}|${DOTENV_CANARY:-none}|${DATABASE_URL:-none}|${REDIS_URL:-none}|${CLUSTER_SECRET:-none}]"');
    expect(vals).toContain('VALS[none|none|none|none|none]');
  });

  it("a forged owner-RPC message published straight into Redis does not reach Bob's shell", async () => {
    const spy = new Redis(redis.url);
    try {
      const req = (op: object) => ({ kind: 'req', id: `forged-${Math.random()}`, from: 'elsewhere', deadline: Date.now() + 10_000, body: { terminalId: bobTerminal, ...op } });
      await spy.publish(`${PREFIX}rpc:${server.serverId}`, JSON.stringify(req({ op: 'input', data: 'echo forged-$((6*7))\r' })));
      await spy.publish(`${PREFIX}rpc:${server.serverId}`, JSON.stringify(req({ op: 'close', reason: 'closed' })));
      await eventually(
        () => server.logs.filter((l) => l.msg === 'cluster message with a bad or missing signature dropped').length >= 2,
        10_000,
        'both forged messages dropped',
      );
    } finally {
      spy.disconnect();
    }
    expect(await runInShell(asBob, bobTerminal, 'echo after-$((2+3))')).toContain('after-5');
    expect(asBob.output(bobTerminal)).not.toContain('forged-42');
    const list = await asBob.call('terminal:list', {});
    expect(list.ok && list.terminals.find((t) => t.id === bobTerminal)?.status).toBe('running');
  });

  it("closing Bob's terminal ends every process of its session (nohup, ( ... & ), jobs)", async () => {
    const pids = await startLeftovers(asBob, bobTerminal);
    leftovers.push(...pids);
    for (const pid of pids) {
      expect(isAlive(pid)).toBe(true);
      expect(credentials(pid).uids[0]).toBe(bob.uid);
    }
    expect(await asBob.call('terminal:close', { terminalId: bobTerminal })).toEqual({ ok: true });
    await asBob.waitForEvent('terminal:exit', (p) => p.terminalId === bobTerminal);
    await eventually(() => pids.every((pid) => !isAlive(pid)), 15_000, `no process of the session left (${pids.join(' ')})`);
  });
});
