/**
 * `/metrics` over HTTP and the API's request metrics. The API serves `/metrics` beside `/api/v1` (Koa
 * middleware below); the worker's health server (src/main/worker-http.ts) serves the same text with
 * `serveMetrics`. With CHATD_METRICS_TOKEN set, a scrape must send it as a bearer token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type * as http from 'node:http';
import type { Middleware } from 'koa';
import type { ChatdMetrics, HttpRequestSample } from './chatd-metrics';

export const METRICS_PATH = '/metrics';

/** Methods reported as themselves; any other is `other` (labels stay bounded whatever clients send). */
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route label of a request no route matched. */
export const UNMATCHED_ROUTE = 'unmatched';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Whether an Authorization header carries `token` (always true without a token). */
export function metricsAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token));
}

/** A layer @koa/router matched (`ctx.matched`): its path template and methods. */
interface MatchedLayer {
  path: string | RegExp;
  methods: string[];
}

/**
 * The route template that served the request: the matched route for its method, else any matched route
 * (a 405), else `unmatched`. Middleware layers (no methods) never count: their paths are prefixes.
 */
export function routeTemplate(method: string, matched: readonly MatchedLayer[] | undefined): string {
  const routes = (matched ?? []).filter((layer) => layer.methods.length > 0);
  const layer = routes.findLast((l) => l.methods.includes(method)) ?? routes.at(-1);
  return layer && typeof layer.path === 'string' ? layer.path : UNMATCHED_ROUTE;
}

export const methodLabel = (method: string): string => (METHODS.has(method) ? method : 'other');

/**
 * Counts and times every request by method, route template and status. Placed before the error
 * handler, so it sees the status the client gets; a stream is timed until its response starts.
 */
export function httpMetrics(metrics: Pick<ChatdMetrics, 'httpRequest'>): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    let status: number | undefined;
    try {
      await next();
    } catch (err) {
      const code = (err as { status?: unknown }).status;
      status = typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
      throw err;
    } finally {
      const sample: HttpRequestSample = {
        method: methodLabel(ctx.method),
        route:
          ctx.path === METRICS_PATH
            ? METRICS_PATH
            : routeTemplate(ctx.method, ctx.matched as MatchedLayer[] | undefined),
        status: status ?? ctx.status,
        seconds: (performance.now() - started) / 1000,
      };
      metrics.httpRequest(sample);
    }
  };
}

/** GET /metrics on the API: the process's metrics, behind CHATD_METRICS_TOKEN when set. */
export function metricsRoute(metrics: Pick<ChatdMetrics, 'render'>, token: string | undefined): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== METRICS_PATH || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    if (!metricsAuthorized(ctx.get('authorization') || undefined, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer');
      ctx.body = { error: { code: 'unauthorized', message: 'A valid metrics token is required.' } };
      return;
    }
    const { contentType, body } = await metrics.render();
    ctx.type = contentType;
    ctx.body = body;
  };
}

/** The same for a plain Node HTTP server (the worker's). */
export async function serveMetrics(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  metrics: Pick<ChatdMetrics, 'render'>,
  token: string | undefined,
): Promise<void> {
  if (!metricsAuthorized(req.headers.authorization, token)) {
    res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer' });
    res.end(JSON.stringify({ error: { code: 'unauthorized', message: 'A valid metrics token is required.' } }));
    return;
  }
  const { contentType, body } = await metrics.render();
  res.writeHead(200, { 'Content-Type': contentType });
  res.end(req.method === 'HEAD' ? undefined : body);
}
