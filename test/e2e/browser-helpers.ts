// Shared by the browser tests: headless Chromium, sign-in, and reading xterm's screen.
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium with nothing running in the background (no network of its own).
 * WebGL is off unless asked for: the client then falls back to xterm's DOM renderer,
 * whose rows the tests read (screenText); with WebGL the screen is a canvas.
 */
export async function launchBrowser(opts: { webgl?: boolean } = {}): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.webgl ? [] : ['--disable-3d-apis']),
    ],
  });
}

/** A fresh browser context (its own storage: a separate device) at a fixed size. */
export function newDevice(browser: Browser, viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
  return browser.newContext({ viewport, deviceScaleFactor: 1 });
}

/**
 * Collects uncaught page errors and console errors into `errors` (prefixed with `label`).
 * `ignore` filters console errors that are expected (e.g. the 401 of a wrong password).
 */
export function collectPageErrors(page: Page, errors: string[], label = '', ignore?: RegExp): void {
  const prefix = label ? `${label}: ` : '';
  page.on('pageerror', (err) => errors.push(`${prefix}${String(err)}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !(ignore && ignore.test(msg.text()))) errors.push(`${prefix}console: ${msg.text()}`);
  });
}

export async function signIn(p: Page, username: string, password: string): Promise<void> {
  await p.locator('#username').fill(username);
  await p.locator('#password').fill(password);
  await p.locator('.signin-submit').click();
}

/** Text of the visible terminal's rows (xterm's DOM renderer). */
export function screenText(p: Page): Promise<string> {
  return p.evaluate(() => document.querySelector('.term-pane.active .xterm-rows')?.textContent ?? '');
}

/** Waits until the visible terminal shows `needle`; the error includes the screen. */
export async function waitForScreen(p: Page, needle: string, timeoutMs = 20_000): Promise<void> {
  try {
    await p.waitForFunction(
      (n) => (document.querySelector('.term-pane.active .xterm-rows')?.textContent ?? '').includes(n),
      needle,
      { timeout: timeoutMs },
    );
  } catch (err) {
    throw new Error(`terminal never showed ${JSON.stringify(needle)}; screen:\n${await screenText(p)}\n${String(err)}`);
  }
}

/** Focuses the visible terminal, types `text` and presses Enter. */
export async function typeLine(p: Page, text: string): Promise<void> {
  await p.locator('.term-pane.active .xterm').click();
  await p.keyboard.type(text);
  await p.keyboard.press('Enter');
}

export function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
