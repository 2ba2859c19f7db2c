// Two browsers on two server instances (one Redis, one database): a terminal opened on
// instance A is used from a browser signed in on instance B, and both see everything.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connect, login } from '../helpers/client.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { collectPageErrors, launchBrowser, newDevice, signIn, typeLine, waitForScreen } from './browser-helpers.js';

const USER = 'grace';
const PASSWORD = 'cross instance passphrase';
const SCREENSHOT_A = '/tmp/ptyhub-cluster-a.png';
const SCREENSHOT_B = '/tmp/ptyhub-cluster-b.png';

let redis: RedisServer;
let a: TestServer;
let b: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

const env = (redisUrl: string) => ({
  REDIS_URL: redisUrl,
  // Unique per run: nothing is shared with another test's instances on this Redis.
  REDIS_KEY_PREFIX: `ptyhub-e2e-${randomUUID().slice(0, 8)}:`,
  LOG_LEVEL: 'info',
});

async function openSignedIn(server: TestServer, label: string, viewport: { width: number; height: number }): Promise<Page> {
  const context = await newDevice(browser, viewport);
  contexts.push(context);
  const page = await context.newPage();
  collectPageErrors(page, pageErrors, label);
  await page.goto(server.url);
  await page.waitForSelector('#app[data-view="signin"] #username');
  await signIn(page, USER, PASSWORD);
  await page.waitForSelector('#app[data-view="app"] #status[data-state="connected"]');
  return page;
}

describe('browser client on two instances', () => {
  beforeAll(async () => {
    redis = await startRedis();
    const shared = env(redis.url);
    a = await startServer({ serverId: 'server-a', env: shared });
    b = await startServer({ serverId: 'server-b', dir: a.dir, env: shared });
    await a.addUser(USER, PASSWORD);
    browser = await launchBrowser();
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('a terminal opened on instance A is used from a browser on instance B', async () => {
    const pageA = await openSignedIn(a, 'A', { width: 1280, height: 800 });
    const pageB = await openSignedIn(b, 'B', { width: 1100, height: 700 });
    // A new user: both list nothing.
    await pageA.waitForSelector('.empty:not([hidden])');
    await pageB.waitForSelector('.empty:not([hidden])');

    // Open a terminal on A; its pty runs on A.
    await pageA.locator('.new-tab').click();
    const tabA = pageA.locator('.tab[data-status="running"][data-active="true"]');
    await tabA.waitFor();
    const id = await tabA.getAttribute('data-terminal-id');
    expect(id).toBeTruthy();
    await typeLine(pageA, 'echo opened-on-$((1+1))');
    await waitForScreen(pageA, 'opened-on-2');

    // The protocol view from instance B: the terminal is listed there, owned by A.
    const probe = await connect(b.url, { token: await login(b.url, USER, PASSWORD) });
    try {
      const list = await probe.call('terminal:list', {});
      expect(list.ok && list.terminals.find((t) => t.id === id)).toMatchObject({ serverId: 'server-a', status: 'running' });
    } finally {
      probe.close();
    }

    // B's page was open before the terminal existed: it learns of it from the
    // terminal:created event that instance A sent through Redis, without a reload.
    const tabB = pageB.locator(`.tab[data-terminal-id="${id}"]`);
    await tabB.waitFor();
    await tabB.click();
    await pageB.waitForSelector(`.tab[data-terminal-id="${id}"][data-status="running"][data-active="true"]`);
    // B attached through its own instance and restored the screen from A's replay.
    await waitForScreen(pageB, 'opened-on-2');
    await pageA.waitForFunction(() => document.querySelector('.info-devices')?.textContent === '2 devices');
    await pageB.waitForFunction(() => document.querySelector('.info-devices')?.textContent === '2 devices');

    // Typed on B (instance B) into the pty on A: the output reaches both browsers.
    await typeLine(pageB, 'echo cross-$((6*7))');
    await waitForScreen(pageB, 'cross-42');
    await waitForScreen(pageA, 'cross-42');

    // And the other way: typed on A, seen on B.
    await typeLine(pageA, 'echo back-from-a-$((5*5))');
    await waitForScreen(pageA, 'back-from-a-25');
    await waitForScreen(pageB, 'back-from-a-25');

    await pageA.screenshot({ path: SCREENSHOT_A });
    await pageB.screenshot({ path: SCREENSHOT_B });
    expect(pageErrors).toEqual([]);
  });
});
