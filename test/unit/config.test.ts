import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_KEYS, ConfigError, loadConfig, requireClusterSecret } from '../../server/config/env.js';
import { parseClusterNodes } from '../../server/redis/connection-manager.js';
import { PROJECT_ROOT } from '../../server/paths.js';

describe('configuration', () => {
  it('has safe defaults: loopback, SQLite, no Redis', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ HOST: '127.0.0.1', PORT: 3000, DATABASE_URL: 'file:./data/ptyhub.db', redisEnabled: false });
    expect(c.ALLOWED_ORIGINS).toBeNull();
    expect(c.SERVER_ID).toMatch(/-3000$/);
  });

  it('accepts .env.example as it is (empty values mean defaults)', () => {
    const text = fs.readFileSync(path.join(PROJECT_ROOT, '.env.example'), 'utf8');
    const env = Object.fromEntries(
      text
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(env).length).toBeGreaterThan(25);
    for (const key of CONFIG_KEYS) expect(env, `.env.example documents ${key}`).toHaveProperty(key);
    expect(loadConfig(env)).toMatchObject({ HOST: '127.0.0.1', PORT: 3000, redisEnabled: false });
  });

  it('takes Redis Cluster seed nodes, and refuses a malformed list', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001' }).redisEnabled).toBe(true);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://u:p@a:7000,b:7001' }).REDIS_CLUSTER_NODES).toBe('rediss://u:p@a:7000,b:7001');
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:7000;b' })).toThrow(/REDIS_CLUSTER_NODES/);
    expect(parseClusterNodes('rediss://u:p%40ss@a:7000,b:7001')).toEqual({
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      username: 'u',
      password: 'p@ss',
      tls: true,
    });
  });

  it('names every bad variable', () => {
    try {
      loadConfig({ PORT: 'x', REDIS_PORT: '70000', SERVER_ID: 'has space', ALLOWED_ORIGINS: 'nope' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const text = (err as Error).message;
      for (const name of ['PORT', 'REDIS_PORT', 'SERVER_ID']) expect(text).toContain(name);
    }
    expect(() => loadConfig({ ALLOWED_ORIGINS: 'https://ok.example, ftp://bad' })).toThrow(/ALLOWED_ORIGINS/);
  });

  it('leaves metrics off unless METRICS_PORT is set, on loopback by default', () => {
    expect(loadConfig({}).METRICS_PORT).toBeUndefined();
    expect(loadConfig({}).METRICS_HOST).toBe('127.0.0.1');
    expect(loadConfig({ METRICS_PORT: '' }).METRICS_PORT).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '0' }).METRICS_PORT).toBe(0);
    expect(loadConfig({ METRICS_PORT: '9464', METRICS_HOST: '10.0.0.5' })).toMatchObject({ METRICS_PORT: 9464, METRICS_HOST: '10.0.0.5' });
    expect(() => loadConfig({ METRICS_PORT: 'metrics' })).toThrow(/METRICS_PORT/);
  });

  it('requires a CLUSTER_SECRET of 32+ characters when Redis is enabled, naming it', () => {
    expect(() => requireClusterSecret(loadConfig({}))).not.toThrow();
    expect(() => requireClusterSecret(loadConfig({ REDIS_URL: 'redis://127.0.0.1:1' }))).toThrow(/CLUSTER_SECRET: required/);
    expect(() => requireClusterSecret(loadConfig({ REDIS_HOST: 'r', CLUSTER_SECRET: 'short' }))).toThrow(/CLUSTER_SECRET: at least 32/);
    expect(() => requireClusterSecret(loadConfig({ REDIS_HOST: 'r', CLUSTER_SECRET: 'x'.repeat(32) }))).not.toThrow();
  });

  it('reads TRUST_PROXY as off, on, hops or addresses', () => {
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' }).TRUST_PROXY).toBe('10.0.0.0/8, 127.0.0.1');
    expect(() => loadConfig({ TRUST_PROXY: 'everyone' })).toThrow(/TRUST_PROXY/);
  });

  it('enables Redis from a URL or a host', () => {
    expect(loadConfig({ REDIS_URL: 'rediss://:pw@example:6380/0' }).redisEnabled).toBe(true);
    expect(loadConfig({ REDIS_HOST: 'redis' }).redisEnabled).toBe(true);
    expect(loadConfig({ REDIS_URL: '' }).redisEnabled).toBe(false);
  });
});
