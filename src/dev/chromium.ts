/**
 * Headless Chromium for the browser tests and `npm run demo -- --screenshot`: Debian's package
 * (`apt-get install chromium`) or the given path (callers pass CHROMIUM_PATH), driven by playwright-core (a devDependency, loaded
 * only when a browser is launched).
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export function chromiumPath(configured?: string): string {
  const candidates = [configured, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error('Chromium not found: install the Debian package `chromium` or set CHROMIUM_PATH');
  return found;
}

export async function launchChromium(configured?: string): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // Chromium's own sandbox needs user namespaces it cannot get as root in CI; the pages are our own.
  return chromium.launch({ executablePath: chromiumPath(configured), headless: true, args: ['--no-sandbox'] });
}
