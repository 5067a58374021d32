/**
 * `/metrics` over HTTP (src/metrics/http.ts): request metrics labelled by the router's route template
 * (never the raw path), the token check, and the Koa route, on a small Koa app shaped like the API's.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import { UnauthorizedError } from '../../../src/errors';
import { errorHandler } from '../../../src/api/middleware/error-handler';
import { ChatdMetrics } from '../../../src/metrics/chatd-metrics';
import { httpMetrics, metricsAuthorized, metricsRoute, routeTemplate } from '../../../src/metrics/http';

const TOKEN = 'metrics-token-0123456789';

async function serve(app: Koa): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** The API's shape: metrics → error handler → /metrics → a prefixed router with auth middleware. */
function apiLike(metrics: ChatdMetrics, token?: string): Koa {
  const app = new Koa();
  app.use(httpMetrics(metrics));
  app.use(errorHandler());
  app.use(metricsRoute(metrics, token));
  const api = new Router({ prefix: '/api/v1' });
  const open = new Router();
  open.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  api.use(open.routes());
  api.use(async (ctx, next) => {
    if (ctx.get('x-deny')) throw new UnauthorizedError('no');
    await next();
  });
  const chats = new Router();
  chats.get('/chats/:id', (ctx) => {
    ctx.body = { id: ctx.params.id };
  });
  chats.post('/chats', (ctx) => {
    ctx.status = 201;
    ctx.body = {};
  });
  api.use(chats.routes(), chats.allowedMethods({ throw: true }));
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true }));
  return app;
}

const count = (text: string, labels: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`chatd_http_requests_total{${labels}} `));
  return line ? Number(line.split(' ')[1]) : 0;
};

describe('request metrics', () => {
  let metrics: ChatdMetrics;
  let server: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    metrics = new ChatdMetrics({ processMetrics: false });
    server = await serve(apiLike(metrics));
  });
  afterAll(() => server.close());

  it('labels requests with the route template, the final status and a bounded method', async () => {
    await fetch(`${server.url}/api/v1/chats/aaaa`);
    await fetch(`${server.url}/api/v1/chats/bbbb`);
    await fetch(`${server.url}/api/v1/chats/cccc`, { headers: { 'x-deny': '1' } });
    await fetch(`${server.url}/api/v1/chats`, { method: 'POST' });
    await fetch(`${server.url}/api/v1/chats`, { method: 'DELETE' });
    await fetch(`${server.url}/api/v1/no/such/path/123`);
    await fetch(`${server.url}/api/v1/healthz`, { method: 'PROPFIND' });
    await fetch(`${server.url}/api/v1/healthz`);

    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(count(text, 'method="GET",route="/api/v1/chats/:id",status="200"')).toBe(2);
    // A request refused by middleware still carries its route's template, and the error handler's status.
    expect(count(text, 'method="GET",route="/api/v1/chats/:id",status="401"')).toBe(1);
    expect(count(text, 'method="POST",route="/api/v1/chats",status="201"')).toBe(1);
    expect(count(text, 'method="DELETE",route="/api/v1/chats",status="405"')).toBe(1);
    expect(count(text, 'method="GET",route="unmatched",status="404"')).toBe(1);
    expect(count(text, 'method="GET",route="/api/v1/healthz",status="200"')).toBe(1);
    // Raw paths never become labels.
    // An unknown method is `other`, whatever the app answered it.
    expect(text.match(/^chatd_http_requests_total\{method="other",route="\/api\/v1\/healthz",/gm)).toHaveLength(1);
    expect(text).not.toContain('PROPFIND');
    expect(text).not.toMatch(/aaaa|bbbb|no\/such/);
  });

  it('counts the scrapes themselves under /metrics', async () => {
    await fetch(`${server.url}/metrics`);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(count(text, 'method="GET",route="/metrics",status="200"')).toBeGreaterThanOrEqual(2);
  });
});

describe('the metrics token', () => {
  it('is required as a bearer token when set', async () => {
    const server = await serve(apiLike(new ChatdMetrics({ processMetrics: false }), TOKEN));
    try {
      const anonymous = await fetch(`${server.url}/metrics`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
      expect((await fetch(`${server.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
      const ok = await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await ok.text()).toContain('chatd_http_requests_total');
    } finally {
      await server.close();
    }
  });

  it('is checked exactly', () => {
    expect(metricsAuthorized(undefined, undefined)).toBe(true);
    expect(metricsAuthorized(undefined, TOKEN)).toBe(false);
    expect(metricsAuthorized(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(metricsAuthorized(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(metricsAuthorized(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(metricsAuthorized(`Basic ${TOKEN}`, TOKEN)).toBe(false);
  });
});

describe('routeTemplate', () => {
  it('takes the route matching the method, ignores prefix middleware and never a RegExp', () => {
    const prefix = { path: '/api/v1(?:\\/|$)', methods: [] };
    expect(
      routeTemplate('GET', [
        prefix,
        { path: '/api/v1/chats', methods: ['POST'] },
        { path: '/api/v1/chats', methods: ['HEAD', 'GET'] },
      ]),
    ).toBe('/api/v1/chats');
    expect(routeTemplate('GET', [prefix])).toBe('unmatched');
    expect(routeTemplate('GET', undefined)).toBe('unmatched');
    expect(routeTemplate('GET', [{ path: /x/, methods: ['GET'] }])).toBe('unmatched');
  });
});
