// The browser client as VS Code / ttyd users expect it, against a real server: terminal
// queries answered once and never from a replay, renaming, closing, hiding, search,
// links, clipboard, font size, renderer fallback, and the smaller fixes of issue 11.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { eventually } from '../helpers/eventually.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { collectPageErrors, count, launchBrowser, newDevice, screenText, signIn, typeLine, waitForScreen } from './browser-helpers.js';

const USER = 'grace';
const PASSWORD = 'correct horse battery staple';

// Asks the terminal what vim asks (DA1, DA2, OSC 10/11 colours, DECRQM, cursor position),
// then records everything typed until "q" and counts each kind of answer. With "listen"
// it asks nothing and only records.
const PROBE = String.raw`
stty raw -echo
if [ "$1" = ask ]; then
  printf '\033[c\033[>c\033]10;?\033\\\033]11;?\033\\\033[?2004$p\033[6n'
  printf 'probe-asked\r\n'
else
  printf 'listen-ready\r\n'
fi
got=''
while IFS= read -rs -n1 c; do
  [ "$c" = q ] && break
  got+=$c
  [ "$c" = x ] && printf 'heard-x\r\n'
done
stty sane
n() { grep -o -- "$1" <<<"$got" | wc -l; }
esc=$(printf %s "$got" | tr -cd '\033' | wc -c)
echo "$1-result da1=$(n '?1;2c') da2=$(n '>0;276;0c') osc=$(n 'rgb:') rqm=$(n '2004;[12]\$y') cpr=$(n '[0-9];[0-9]*R') esc=$esc len=$(printf %s "$got" | wc -c)"
`;

let server: TestServer;
let browser: Browser;
let dir: string;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

async function device(label: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await newDevice(browser, viewport);
  contexts.push(context);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
  const page = await context.newPage();
  collectPageErrors(page, pageErrors, label, /status of 4(01|29)/);
  await page.goto(server.url);
  await signIn(page, USER, PASSWORD);
  await page.waitForSelector('#status[data-state="connected"]');
  return page;
}

/** Opens a new terminal and waits until it is the visible one, attached. */
async function openTerminal(p: Page): Promise<void> {
  await p.locator('.new-tab').click();
  await p.waitForSelector('.new-tab:not([data-busy])');
  await p.waitForSelector('.tab[data-status="running"][data-active="true"]');
}

/** Presses keys in the visible terminal (focusing it first). */
async function press(p: Page, ...keys: string[]): Promise<void> {
  await p.locator('.term-pane.active .xterm').click();
  for (const k of keys) await p.keyboard.press(k);
}

/** The terminal's last line matching `prefix`, once it is there. */
async function lineStarting(p: Page, prefix: string): Promise<string> {
  await waitForScreen(p, prefix);
  const text = await p.evaluate(
    () => [...document.querySelectorAll('.term-pane.active .xterm-rows > div')].map((r) => r.textContent ?? ''),
  );
  return text.filter((l) => l.includes(prefix)).at(-1)!.trim();
}

function cursorInView(p: Page): Promise<boolean> {
  return p.evaluate(() => {
    const host = document.querySelector('.term-pane.active .term-host');
    const cursor = document.querySelector('.term-pane.active .xterm-rows .xterm-cursor');
    if (!host || !cursor) return false;
    const h = host.getBoundingClientRect();
    const c = cursor.getBoundingClientRect();
    return c.top >= h.top && c.bottom <= h.bottom && c.left >= h.left && c.right <= h.right;
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptyhub-e2e-features-'));
  fs.writeFileSync(path.join(dir, 'probe.sh'), PROBE);
  server = await startServer({ env: { TERMINAL_CWD: dir } });
  await server.addUser(USER, PASSWORD);
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('two devices on one terminal', () => {
  let a: Page;
  let b: Page;

  it('gives two browsers of the same kind different default names', async () => {
    a = await device('A');
    await a.locator('.new-tab').click();
    await a.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await a.waitForSelector('.info-control[data-primary="true"]');
    b = await device('B', { width: 900, height: 600 });
    await b.waitForSelector('.tab[data-status="running"][data-active="true"]');
    const [nameA, nameB] = [await a.locator('.device-name').textContent(), await b.locator('.device-name').textContent()];
    expect(nameA).toMatch(/^Chrome on .+ \([0-9a-f]{4}\)$/);
    expect(nameB).toMatch(/^Chrome on .+ \([0-9a-f]{4}\)$/);
    expect(nameA).not.toBe(nameB);
    await a.waitForFunction(() => document.querySelector('.info-control')?.textContent === 'Controls size');
    await b.waitForFunction((n) => document.querySelector('.info-control')?.textContent === `Sized by ${n}`, nameA);
  });

  it('answers a live terminal query exactly once (the device in control answers)', async () => {
    await typeLine(a, 'bash probe.sh ask');
    await waitForScreen(a, 'probe-asked');
    await waitForScreen(b, 'probe-asked');
    // B types too: anything B answered would reach the shell before its "x".
    await press(b, 'x');
    await waitForScreen(a, 'heard-x');
    await press(a, 'q');
    expect(await lineStarting(a, 'ask-result ')).toMatch(/^ask-result da1=1 da2=1 osc=2 rqm=1 cpr=1 /);
  });

  it('renames a terminal on every device at once', async () => {
    await a.locator('.tab[data-active="true"] .tab-title').dblclick();
    await a.locator('.tab-rename').fill('build');
    await a.keyboard.press('Enter');
    await a.waitForFunction(() => document.querySelector('.tab[data-active="true"] .tab-title')?.textContent === 'build');
    await b.waitForFunction(() => document.querySelector('.tab[data-active="true"] .tab-title')?.textContent === 'build');
  });

  it('keeps the keyboard in the terminal after "Fit to this window"; renaming the device keeps its connection and control', async () => {
    await b.locator('.fit-btn').click();
    await b.waitForSelector('.info-control[data-primary="true"]');
    await b.keyboard.type('echo fit-focus-$((2*4))');
    await b.keyboard.press('Enter');
    await waitForScreen(a, 'fit-focus-8');

    // Record every connection state and control change B goes through from here on.
    await b.evaluate(() => {
      const seen: string[] = ((window as unknown as { seen: string[] }).seen = []);
      const status = document.querySelector('#status')!;
      const control = document.querySelector('.info-control')!;
      new MutationObserver(() => seen.push(`${status.getAttribute('data-state')}/${control.getAttribute('data-primary')}`)).observe(
        document.querySelector('.workspace')!,
        { attributes: true, subtree: true, attributeFilter: ['data-state', 'data-primary'] },
      );
    });
    await b.locator('.device-name').click();
    await b.locator('.device-input').fill('Tablet');
    await b.keyboard.press('Enter');
    await a.waitForFunction(() => document.querySelector('.info-control')?.textContent === 'Sized by Tablet');
    expect(await b.locator('.device-name').textContent()).toBe('Tablet');
    const seen = await b.evaluate(() => (window as unknown as { seen: string[] }).seen);
    expect(seen.filter((s) => s !== 'connected/true')).toEqual([]);
    expect(await b.locator('.info-control').getAttribute('data-primary')).toBe('true');
  });

  it('shows the cursor, not an empty bottom, when viewing a larger terminal', async () => {
    await a.locator('.fit-btn').click();
    await b.waitForFunction(() => document.querySelector('.term-pane.active')?.classList.contains('foreign-size'));
    await typeLine(a, 'seq 1 80; echo seq-$((40*2))-done');
    await waitForScreen(b, 'seq-80-done');
    await b.waitForFunction(() => (document.querySelector('.term-pane.active .term-host')?.scrollTop ?? 0) > 0);
    await typeLine(a, 'clear');
    await b.waitForFunction(() => document.querySelector('.term-pane.active .term-host')?.scrollTop === 0);
    expect(await cursorInView(b)).toBe(true);
  });

  it('asks before closing, names the running program, and can hide the terminal on one device only', async () => {
    await typeLine(a, 'sleep 300');
    await a.locator('.tab[data-active="true"] .tab-close').click();
    await a.waitForSelector('.dialog');
    expect(await a.locator('.dialog-title').textContent()).toBe('“sleep” is running in “build”');
    await a.locator('.dialog .choice-hide').click();
    await a.waitForSelector('.empty:not([hidden])');
    expect(await a.locator('.hidden-list').textContent()).toBe('1 hidden');
    // Still running on the other device.
    await b.waitForFunction(() => document.querySelector('.info-devices')?.textContent === '1 device');
    expect(await b.locator('.tab[data-active="true"]').getAttribute('data-status')).toBe('running');

    // Hidden stays hidden after a reload, and can be shown again.
    await a.reload();
    await a.waitForSelector('#status[data-state="connected"]');
    await a.waitForSelector('.hidden-list:not([hidden])');
    expect(await a.locator('.tab').count()).toBe(0);
    await a.locator('.hidden-list').click();
    await a.locator('.context-menu .menu-item', { hasText: 'Show “build”' }).click();
    await a.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await waitForScreen(a, 'sleep 300');

    // Cancel keeps it; "End for everyone" ends it on every device.
    await a.locator('.tab[data-active="true"] .tab-close').click();
    // The dialog opens once the owner has said what runs in the terminal.
    await a.waitForSelector('.dialog');
    await a.keyboard.press('Escape');
    await a.waitForSelector('.dialog', { state: 'detached' });
    expect(await a.locator('.tab[data-status="running"]').count()).toBe(1);
    await a.locator('.tab[data-active="true"] .tab-close').click();
    await a.locator('.dialog .choice-end').click();
    await a.waitForSelector('.empty:not([hidden])');
    await b.waitForSelector('.tab[data-status="ended"]');
    await b.context().close();
  });

  it('never answers queries again from a replay (reload, another device signing in)', async () => {
    await a.locator('.new-tab').click();
    await a.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await a.waitForSelector('.info-control[data-primary="true"]');
    expect(await a.locator('.tab[data-active="true"] .tab-title').textContent()).toBe('Terminal 1');
    await typeLine(a, 'bash probe.sh ask');
    await waitForScreen(a, 'probe-asked');
    await press(a, 'q');
    expect(await lineStarting(a, 'ask-result ')).toMatch(/^ask-result da1=1 da2=1 osc=2 rqm=1 cpr=1 /);

    // The replay now holds those queries. Listen, then re-attach in control of the size.
    await typeLine(a, 'bash probe.sh listen');
    await waitForScreen(a, 'listen-ready');
    await a.reload();
    await a.waitForSelector('#status[data-state="connected"]');
    await a.waitForSelector('.info-control[data-primary="true"]');
    await waitForScreen(a, 'listen-ready');
    const c = await device('C');
    await waitForScreen(c, 'listen-ready');
    await press(a, 'x');
    await waitForScreen(a, 'heard-x');
    await press(a, 'q');
    expect(await lineStarting(a, 'listen-result ')).toMatch(/esc=0 len=1$/);
    await c.context().close();

    // Re-attaching never typed anything: the prompt is clean.
    await typeLine(a, 'echo clean-$((1+1))');
    await waitForScreen(a, 'clean-2');
    expect(await screenText(a)).not.toContain('command not found');
  });

  it('counts emoji as two cells (Unicode 11), like the shell', async () => {
    await typeLine(a, `stty raw -echo; printf '\\360\\237\\230\\200\\033[6n'; IFS= read -rd R pos; stty sane; echo "width$((1+1))-col=\${pos##*;}"`);
    expect(await lineStarting(a, 'width2-col=')).toMatch(/width2-col=3$/);
  });

  it('opens links, finds text in the scrollback, copies and pastes', async () => {
    const link = `${server.url}/linked-page`;
    await typeLine(a, `clear; echo ${link}`);
    await waitForScreen(a, 'linked-page');
    // Hover the link (on the first row), then click it: a new tab opens it.
    const pos = await a.evaluate(() => {
      const screen = document.querySelector('.term-pane.active .xterm-screen')!.getBoundingClientRect();
      const rows = [...document.querySelectorAll('.term-pane.active .xterm-rows > div')];
      const row = rows.findIndex((r) => (r.textContent ?? '').startsWith('http'));
      const rowH = screen.height / rows.length;
      return { x: screen.left + 30, y: screen.top + rowH * (row + 0.5) };
    });
    await a.mouse.move(pos.x, pos.y);
    await a.mouse.move(pos.x + 5, pos.y);
    const [opened] = await Promise.all([a.context().waitForEvent('page'), a.mouse.click(pos.x + 5, pos.y)]);
    await opened.waitForURL(link);
    await opened.close();

    await typeLine(a, 'echo needle-$((6*7)); echo needle-$((6*7))');
    await waitForScreen(a, 'needle-42');
    await a.keyboard.press('Control+Shift+F');
    await a.locator('.search-input').fill('needle-42');
    await a.waitForFunction(() => /^\d+ of 2$/.test(document.querySelector('.search-count')?.textContent ?? ''));
    await a.keyboard.press('Escape');
    await a.waitForSelector('.search-bar', { state: 'hidden' });

    // Copy: select all (context menu), Ctrl+Shift+C; paste: Ctrl+Shift+V.
    await a.locator('.term-pane.active .xterm').click({ button: 'right' });
    await a.locator('.context-menu .menu-item', { hasText: 'Select all' }).click();
    await a.keyboard.press('Control+Shift+C');
    await a.waitForFunction(async () => (await navigator.clipboard.readText()).includes('needle-42'));
    await a.evaluate(() => navigator.clipboard.writeText('echo pasted-$((5*5))'));
    await press(a, 'Control+Shift+V');
    await waitForScreen(a, 'echo pasted-$((5*5))'); // the clipboard is read asynchronously
    await a.keyboard.press('Enter');
    await waitForScreen(a, 'pasted-25');
  });

  it('changes the font size with Ctrl +/- and remembers it on this device', async () => {
    const cols = async () => Number((await a.locator('.info-size').textContent())!.split('×')[0]);
    const before = await cols();
    await press(a, 'Control+Equal', 'Control+Equal', 'Control+Equal');
    await a.waitForFunction((n) => Number(document.querySelector('.info-size')?.textContent?.split('×')[0]) < n, before);
    const bigger = await cols();
    await a.reload();
    await a.waitForSelector('.tab[data-status="running"][data-active="true"]');
    await a.waitForFunction((n) => Number(document.querySelector('.info-size')?.textContent?.split('×')[0]) === n, bigger);
    await press(a, 'Control+0');
    await a.waitForFunction((n) => Number(document.querySelector('.info-size')?.textContent?.split('×')[0]) === n, before);
  });
});

describe('single-device behaviours', () => {
  it('draws with WebGL where the browser has it, and falls back to the DOM renderer', async () => {
    // This suite's browser has no WebGL (see launchBrowser): the fallback is in use.
    const context = await newDevice(browser);
    contexts.push(context);
    const p = await context.newPage();
    collectPageErrors(p, pageErrors, 'no-webgl');
    await p.goto(server.url);
    await signIn(p, USER, PASSWORD);
    await p.waitForSelector('#status[data-state="connected"]');
    await openTerminal(p);
    expect(await p.locator('.term-pane.active').getAttribute('data-renderer')).toBe('dom');
    await typeLine(p, 'echo dom-$((3+4))');
    await waitForScreen(p, 'dom-7');
    await context.close();

    // A browser with WebGL (software rendering here) gets the WebGL renderer; the
    // screen is a canvas, so the command writes a file we can read.
    const gl = await launchBrowser({ webgl: true });
    try {
      const q = await (await newDevice(gl)).newPage();
      collectPageErrors(q, pageErrors, 'webgl');
      await q.goto(server.url);
      await signIn(q, USER, PASSWORD);
      await q.waitForSelector('#status[data-state="connected"]');
      await q.locator('.new-tab').click();
      await q.waitForSelector('.tab[data-status="running"][data-active="true"]');
      expect(await q.locator('.term-pane.active').getAttribute('data-renderer')).toBe('webgl');
      expect(await q.locator('.term-pane.active canvas').count()).toBeGreaterThan(0);
      await typeLine(q, 'echo webgl-$((4+4)) > webgl.txt');
      const file = path.join(dir, 'webgl.txt');
      // The shell writes a file: no event to await, so poll for it.
      await eventually(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('webgl-8'), 15_000, 'webgl.txt');
      expect(fs.readFileSync(file, 'utf8')).toBe('webgl-8\n');
    } finally {
      await gl.close();
    }
  });

  it('shows the real wait after too many failed sign-ins', async () => {
    const context = await newDevice(browser);
    contexts.push(context);
    const p = await context.newPage();
    collectPageErrors(p, pageErrors, 'lockout', /status of 4(01|29)/);
    await p.goto(server.url);
    await server.addUser('locked', 'the-password');
    for (let i = 0; i < 10; i++) {
      await signIn(p, 'locked', `wrong-${i}`);
      await p.waitForFunction(() => /incorrect/i.test(document.querySelector('#signin-error')?.textContent ?? ''));
      await p.evaluate(() => (document.querySelector('#signin-error')!.textContent = ''));
    }
    await signIn(p, 'locked', 'the-password');
    await p.waitForFunction(() => (document.querySelector('#signin-error')?.textContent ?? '').length > 0);
    expect(await p.locator('#signin-error').textContent()).toBe('Too many failed attempts. Try again in 15 minutes.');
    await context.close();
  });

  it('shows that a new terminal is starting while its shell is slow', async () => {
    const gate = path.join(dir, 'go');
    const slowShell = path.join(dir, 'slow-shell.sh');
    fs.writeFileSync(slowShell, `#!/bin/bash\nwhile [ ! -e ${gate} ]; do sleep 0.05; done\nexec /bin/bash "$@"\n`, { mode: 0o755 });
    const slow = await startServer({ env: { SHELL: slowShell, TERMINAL_CWD: dir } });
    try {
      await slow.addUser(USER, PASSWORD);
      const context = await newDevice(browser);
      contexts.push(context);
      const p = await context.newPage();
      collectPageErrors(p, pageErrors, 'slow');
      await p.goto(slow.url);
      await signIn(p, USER, PASSWORD);
      await p.waitForSelector('#status[data-state="connected"]');
      await p.locator('.new-tab').click();
      await p.waitForSelector('.term-pane.active.starting .term-starting');
      expect(await p.locator('.term-pane.active .term-starting').isVisible()).toBe(true);
      fs.writeFileSync(gate, '');
      await p.waitForSelector('.term-pane.active:not(.starting)');
      await typeLine(p, 'echo started-$((1+2))');
      await waitForScreen(p, 'started-3');
      await context.close();
    } finally {
      await slow.stop();
    }
  });

  it('had no page errors', () => {
    expect(pageErrors).toEqual([]);
    expect(count(pageErrors.join('\n'), 'error')).toBe(0);
  });
});
