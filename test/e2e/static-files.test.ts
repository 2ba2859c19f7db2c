// The built client as the server serves it: no source maps, and no pointer to them.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_DIR } from '../../server/paths.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});

afterAll(async () => {
  await server?.stop();
});

describe('the served client', () => {
  it('carries no source maps and no sourceMappingURL', async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
    expect(assets.some((a) => a.endsWith('.js')), `assets in index.html: ${assets.join(', ')}`).toBe(true);
    for (const asset of assets) {
      const res = await fetch(`${server.url}${asset}`);
      expect(res.status, asset).toBe(200);
      const text = await res.text();
      expect(text.includes('sourceMappingURL'), `${asset} points to a source map`).toBe(false);
      expect(res.headers.get('sourcemap') ?? res.headers.get('x-sourcemap'), asset).toBeNull();
    }
    // The build does write maps next to the bundle (for whoever debugs a build); the
    // server refuses them all the same.
    const maps = fs.readdirSync(path.join(CLIENT_DIR, 'assets')).filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(0);
    for (const map of maps) expect((await fetch(`${server.url}/assets/${map}`)).status, map).toBe(404);
  });
});
