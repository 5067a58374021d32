/**
 * The browser tier's harness: the real stack (startTestApp: PostgreSQL, Temporal, worker, API serving
 * the built playground) with a fake model, driven through headless Chromium (src/dev/chromium.ts;
 * CHROMIUM_PATH overrides Debian's). `withPage` opens a fresh browser context per test, fails the test
 * on any page error or Content-Security-Policy violation, and saves a screenshot and the page's console to
 * test-results/browser/ when the test fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { launchChromium } from '../../src/dev/chromium';
import { signedInUrl } from '../../src/client/playground-link';
import type { TestApp } from '../support/app';

const SCREENSHOTS = path.resolve(__dirname, '../../test-results/browser');

export async function launchBrowser(): Promise<Browser> {
  return launchChromium(process.env.CHROMIUM_PATH);
}

/** Runs `test` on a new page; screenshots and console go to test-results/browser/<name>.* on failure. */
export async function withPage(
  browser: Browser,
  name: string,
  test: (page: Page) => Promise<void>,
  options: BrowserContextOptions = {},
): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ...options });
  const page = await context.newPage();
  const console: string[] = [];
  const problems: string[] = [];
  page.on('console', (message) => {
    console.push(`${message.type()}: ${message.text()}`);
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  try {
    await test(page);
    expect(problems).toEqual([]);
  } catch (err) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const file = path.join(SCREENSHOTS, name.replace(/[^\w.-]+/g, '-'));
    await page.screenshot({ path: `${file}.png`, fullPage: true }).catch(() => undefined);
    writeFileSync(`${file}.console.txt`, [...console, ...problems.map((p) => `PROBLEM ${p}`)].join('\n'));
    throw err;
  } finally {
    await context.close();
  }
}

/** Opens the playground signed in with `token` (the `#…?token=` link `npm run demo` prints). */
export async function openSignedIn(page: Page, app: TestApp, route = '/', token = app.token): Promise<void> {
  await page.goto(signedInUrl(app.url, token, route));
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Types a message into the composer and sends it with Enter, as a keyboard user would. */
export async function sendWithEnter(page: Page, text: string): Promise<void> {
  const box = page.getByLabel('Message', { exact: true });
  await box.fill(text);
  await box.press('Enter');
}

/** The id of the chat the page shows (from `#/chats/<id>`). */
export async function currentChatId(page: Page): Promise<string> {
  await page.waitForURL(/#\/chats\/[0-9a-f-]{36}/);
  return /#\/chats\/([0-9a-f-]{36})/.exec(page.url())![1]!;
}
