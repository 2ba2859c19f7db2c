// rediss:// end to end: a real redis-server speaking only TLS (with a password), and a
// real ptyhub instance that trusts its CA through NODE_EXTRA_CA_CERTS.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startGuardedDaemon, type Daemon } from '../helpers/guarded-daemon.js';
import { freePort } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';

let dir: string;
let redis: Daemon;
let port: number;
let server: TestServer | null = null;

function makeCertificates(): void {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=ptyhub test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr']);
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'server.pem']);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-tls-'));
  makeCertificates();
  port = await freePort();
  redis = await startGuardedDaemon({
    name: 'redis-server (TLS)',
    command: [
      'redis-server',
      '--port', '0',
      '--tls-port', String(port),
      '--bind', '127.0.0.1',
      '--tls-cert-file', path.join(dir, 'server.pem'),
      '--tls-key-file', path.join(dir, 'server.key'),
      '--tls-ca-cert-file', path.join(dir, 'ca.pem'),
      '--tls-auth-clients', 'no',
      '--requirepass', 'tls-secret',
      '--save', '',
      '--appendonly', 'no',
    ],
    ready: /Ready to accept connections/,
    timeoutMs: 10_000,
    orphanSignal: 'KILL',
  });
});

afterAll(async () => {
  await server?.stop();
  await redis?.stop('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
});

it('connects over rediss:// with a password and runs on Redis', async () => {
  server = await startServer({
    env: {
      REDIS_URL: `rediss://:tls-secret@127.0.0.1:${port}`,
      NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem'),
    },
  });
  const health = (await (await fetch(`${server.url}/healthz`)).json()) as {
    status: string;
    redis: { state: string; lastPingMs: number | null };
    registry: { backend: string };
  };
  expect(health.status).toBe('ok');
  expect(health.redis.state).toBe('ready');
  expect(health.registry.backend).toBe('redis');
  // The password never reaches the logs.
  expect(JSON.stringify(server.logs)).not.toContain('tls-secret');
});
