// The browser client against a real server: sign in, open a terminal, run a command.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connect, login } from '../helpers/client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { CHROMIUM, count, launchBrowser, screenText, signIn, waitForScreen } from './browser-helpers.js';

const SCREENSHOT = '/tmp/ptyhub-e2e.png';
const USER = 'ada';
const PASSWORD = 'correct horse battery staple';

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let proxy: TcpProxy; // lets the test cut the browser's connections without touching the server
const pageErrors: string[] = [];

describe('browser client', () => {
  beforeAll(async () => {
    expect(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`).toBe(true);
    server = await startServer();
    await server.addUser(USER, PASSWORD);
    proxy = await startTcpProxy(server.port);
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    page = await context.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => {
      // The browser logs the wrong-password 401 itself, and reconnection attempts that
      // hit the cut proxy (a network drop); anything else is a bug.
      const expected = /status of 401|WebSocket connection to .* failed: .*ERR_CONNECTION_RESET/;
      if (msg.type() === 'error' && !expected.test(msg.text())) pageErrors.push(`console: ${msg.text()}`);
    });
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.stop();
  });

  it('shows an error for a wrong password', async () => {
    await page.goto(proxy.url('http'));
    await page.waitForSelector('#app[data-view="signin"] #username');
    await signIn(page, USER, 'not the password');
    await page.waitForFunction(() => (document.querySelector('#signin-error')?.textContent ?? '').length > 0);
    expect(await page.locator('#signin-error').textContent()).toMatch(/incorrect username or password/i);
    // Still on the sign-in page, and usable again.
    expect(await page.getAttribute('#app', 'data-view')).toBe('signin');
    expect(await page.locator('.signin-submit').isEnabled()).toBe(true);
    await page.screenshot({ path: '/tmp/ptyhub-e2e-signin.png' });
  });

  it('signs in, opens a terminal and runs a command', async () => {
    await signIn(page, USER, PASSWORD);
    await page.waitForSelector('#app[data-view="app"] #status[data-state="connected"]');
    await page.waitForSelector('.empty:not([hidden])'); // a new user has no terminals

    await page.locator('.new-tab').click();
    await page.waitForSelector('.tab[data-status="running"][data-active="true"]');
    // This window created it, so it controls the size.
    await page.waitForSelector('.info-control[data-primary="true"]');

    await page.locator('.term-pane.active .xterm').click();
    await page.keyboard.type('echo ptyhub-$((40+2))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, 'ptyhub-42');

    // The pty got this window's size: the status bar shows the fitted cols×rows.
    const size = await page.locator('.info-size').textContent();
    expect(size).toMatch(/^\d+×\d+$/);
    const [cols] = size!.split('×').map(Number);
    expect(cols).toBeGreaterThan(100); // 1280px wide at 14px monospace
  });

  it('restores the terminal from the replay after a reload', async () => {
    await page.reload();
    await page.waitForSelector('#status[data-state="connected"]');
    await page.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await waitForScreen(page, 'ptyhub-42');
    expect(await page.locator('.tab').count()).toBe(1);

    await page.locator('.term-pane.active .xterm').click();
    await page.keyboard.type('echo again-$((6*7))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, 'again-42');
  });

  it('reconnects after a network drop and restores the screen without duplicates', async () => {
    await page.locator('.term-pane.active .xterm').click();
    await page.keyboard.type('echo start-$((2+3)); sleep 1; echo back-$((1+1))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, 'start-5'); // the command is running

    proxy.cut();
    await page.waitForSelector('#status[data-state="reconnecting"]');
    expect(await page.locator('.conn-banner').textContent()).toMatch(/reconnecting/i);
    await page.screenshot({ path: '/tmp/ptyhub-e2e-reconnecting.png' });
    proxy.restore();

    await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    await page.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await waitForScreen(page, 'back-2'); // printed while (or after) the device was away
    const text = await screenText(page);
    // The screen was rebuilt from the replay: every line once.
    expect(count(text, 'ptyhub-42')).toBe(1);
    expect(count(text, 'again-42')).toBe(1);
    expect(count(text, 'start-5')).toBe(1);
    expect(count(text, 'back-2')).toBe(1);
    await page.waitForSelector('.info-control[data-primary="true"]');
  });

  it('shares a terminal with a second device; "Fit to this window" takes control', async () => {
    const context2 = await browser.newContext({ viewport: { width: 900, height: 600 }, deviceScaleFactor: 1 });
    try {
      const page2 = await context2.newPage();
      page2.on('pageerror', (err) => pageErrors.push(`device 2: ${String(err)}`));
      await page2.goto(server.url);
      await signIn(page2, USER, PASSWORD);
      await page2.waitForSelector('#status[data-state="connected"]');

      // Name this device, so the first one can tell who has control.
      await page2.locator('.device-name').click();
      await page2.locator('.device-input').fill('Tablet');
      await page2.keyboard.press('Enter');
      await page2.waitForFunction(() => document.querySelector('.device-name')?.textContent === 'Tablet');
      await page2.waitForSelector('#status[data-state="connected"]');

      // The terminal opened on the first device is here too, with its screen.
      await page2.waitForSelector('.tab[data-status="running"][data-active="true"]');
      await waitForScreen(page2, 'ptyhub-42');
      await page2.waitForFunction(() => document.querySelector('.info-devices')?.textContent === '2 devices');
      await page.waitForFunction(() => document.querySelector('.info-devices')?.textContent === '2 devices');
      expect(await page.locator('.tab[data-active="true"] .tab-devices').textContent()).toBe('2');

      // Device 2 shows the first device's size and does not fight over it.
      await page2.waitForSelector('.info-control[data-primary="false"]');
      const size1 = await page.locator('.info-size').textContent();
      expect(await page2.locator('.info-size').textContent()).toBe(size1);
      expect(await page2.locator('.fit-btn').isVisible()).toBe(true);
      await page2.screenshot({ path: '/tmp/ptyhub-e2e-device2.png' });

      await page2.locator('.fit-btn').click();
      await page2.waitForSelector('.info-control[data-primary="true"]');
      await page.waitForFunction(() => document.querySelector('.info-control')?.textContent === 'Sized by Tablet');
      // "Fit" claims control first, then resizes: wait for the new size (a smaller window).
      await page2.waitForFunction((s) => document.querySelector('.info-size')?.textContent !== s, size1);
      const size2 = await page2.locator('.info-size').textContent();
      await page.waitForFunction((s) => document.querySelector('.info-size')?.textContent === s, size2);
      expect(await page.locator('.term-pane.active').getAttribute('class')).toContain('foreign-size');

      // Both type into the same shell.
      await page2.locator('.term-pane.active .xterm').click();
      await page2.keyboard.type('echo from-tablet-$((3*3))');
      await page2.keyboard.press('Enter');
      await waitForScreen(page, 'from-tablet-9');
      await page.screenshot({ path: SCREENSHOT });
    } finally {
      await context2.close();
    }
    // Device 2 left: the size goes back to this window.
    await page.waitForFunction(() => document.querySelector('.info-devices')?.textContent === '1 device');
    await page.waitForSelector('.info-control[data-primary="true"]');
    await page.waitForFunction(
      () => !document.querySelector('.term-pane.active')?.classList.contains('foreign-size'),
    );
  });

  it('sends a large paste in chunks, in order', async () => {
    await page.locator('.term-pane.active .xterm').click();
    // Raw mode (no 4 KiB line limit), no echo; count what arrives.
    await page.keyboard.type('stty -icanon -echo; echo ready-$((1+1)); head -c 100000 | wc -c | sed s/^/got-/; stty sane');
    await page.keyboard.press('Enter');
    await waitForScreen(page, 'ready-2');
    await page.evaluate((n) => {
      const ta = document.querySelector('.term-pane.active .xterm-helper-textarea') as HTMLTextAreaElement;
      const dt = new DataTransfer();
      dt.setData('text/plain', 'x'.repeat(n - 1) + 'y');
      ta.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    }, 100_000);
    await waitForScreen(page, 'got-100000');
  });

  it('acknowledges what it renders: a runaway program keeps going while the browser keeps up, and Ctrl-C stops it at once', async () => {
    await page.locator('.term-pane.active .xterm').click();
    await page.keyboard.type('yes | head -c 40000000 | tr -d "\\n"; echo; echo yes-$((3+4))-done');
    await page.keyboard.press('Enter');
    // 40 MB: far beyond the window, so it only gets through if the browser's acks give credit.
    await waitForScreen(page, 'yes-7-done', 90_000);
    await page.keyboard.type('yes');
    await page.keyboard.press('Enter');
    await waitForScreen(page, 'yyyyy');
    await page.keyboard.press('Control+C');
    await page.keyboard.type('echo stopped-$((2+3))');
    await page.keyboard.press('Enter');
    await waitForScreen(page, 'stopped-5', 15_000);
  });

  it('shows a terminal that ended while this device was offline', async () => {
    await page.locator('.new-tab').click();
    await page.waitForFunction(() => document.querySelectorAll('.tab[data-status="running"]').length === 2);
    const id = await page.locator('.tab[data-active="true"]').getAttribute('data-terminal-id');
    expect(id).toBeTruthy();

    proxy.cut();
    await page.waitForSelector('#status[data-state="reconnecting"]');
    // Meanwhile another client closes it.
    const other = await connect(server.url, { token: await login(server.url, USER, PASSWORD) });
    try {
      const r = await other.call('terminal:close', { terminalId: id! });
      expect(r.ok).toBe(true);
    } finally {
      other.close();
    }
    proxy.restore();

    await page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
    await page.waitForSelector(`.tab[data-terminal-id="${id}"][data-status="ended"]`);
    expect(await page.locator('.term-info .info-state').textContent()).toContain('ended while this device was disconnected');
    await page.locator('.tab[data-active="true"] .tab-close').click();
    await page.waitForFunction(() => document.querySelectorAll('.tab').length === 1);
  });

  it('marks a terminal ended when its shell exits, and closes tabs', async () => {
    await page.locator('.new-tab').click();
    await page.waitForFunction(() => document.querySelectorAll('.tab[data-status="running"]').length === 2);
    await page.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await page.locator('.term-pane.active .xterm').click();
    await page.keyboard.type('exit 3');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.tab[data-status="ended"][data-active="true"]');
    expect(await page.locator('.term-info .info-state').textContent()).toContain('exited with code 3');

    await page.locator('.tab[data-active="true"] .tab-close').click();
    await page.waitForFunction(() => document.querySelectorAll('.tab').length === 1);
    // The first terminal is active again; end it too (terminal:close), after asking.
    await page.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await page.locator('.tab[data-active="true"] .tab-close').click();
    expect(await page.locator('.dialog-title').textContent()).toMatch(/^Close “.+”\?$/);
    await page.locator('.dialog .choice-end').click();
    await page.waitForSelector('.empty:not([hidden])');
    expect(await page.locator('.tab').count()).toBe(0);
  });

  it('signs out', async () => {
    await page.locator('.signout').click();
    await page.waitForSelector('#app[data-view="signin"] #password');
    expect(pageErrors).toEqual([]);
  });
});
