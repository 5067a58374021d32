/**
 * The playground's files as the API serves them: at `/` with a strict Content-Security-Policy,
 * hashed assets cached and index.html revalidated, nothing outside the build directory reachable,
 * the API untouched, and CHATD_WEB_DIR=off serving nothing.
 */
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { resolveWebDir } from '../../src/api/web-app';
import { startTestApp, type TestApp } from '../support/app';

describe('the playground files', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('serves index.html at / with a CSP that allows only this origin', async () => {
    const res = await fetch(`${app.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    // No inline script and nothing from another origin.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('caches hashed assets for a year', async () => {
    const dir = resolveWebDir(undefined)!;
    const asset = readdirSync(path.join(dir, 'assets')).find((f) => f.endsWith('.js'))!;
    const res = await fetch(`${app.url}/assets/${asset}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('immutable');
    expect(res.headers.get('content-type')).toMatch(/javascript/);
  });

  it('reaches nothing outside the build directory', async () => {
    for (const probe of [
      '/..%2f..%2fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/assets/../../package.json',
      '/.env',
    ]) {
      const res = await fetch(`${app.url}${probe}`);
      expect([400, 403, 404]).toContain(res.status);
      expect(await res.text()).not.toContain('"dependencies"');
    }
  });

  it('leaves the API alone: unknown API paths are JSON 404s, and POST / is not a file', async () => {
    const missing = await fetch(`${app.url}/api/v1/no-such-route`, {
      headers: { Authorization: `Bearer ${app.token}` },
    });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/json/);
    expect((await fetch(`${app.url}/`, { method: 'POST' })).status).toBe(404);
  });

  it('serves nothing with CHATD_WEB_DIR=off', async () => {
    const off = await startTestApp({ fake, env: { CHATD_WEB_DIR: 'off' } });
    try {
      expect((await fetch(`${off.url}/`)).status).toBe(404);
      expect((await fetch(`${off.url}/api/v1/healthz`)).status).toBe(200);
    } finally {
      await off.stop();
    }
  });
});
