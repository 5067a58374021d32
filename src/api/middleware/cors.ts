/**
 * CORS for browser clients on other origins (CHATD_CORS_ORIGINS, README "Configuration"): only the
 * listed origins get CORS headers, on preflights and on every response, errors included; any other
 * origin gets none, so its browser keeps the response from the page. No list: no CORS headers at all.
 * Credentials are bearer tokens, never cookies, so `Access-Control-Allow-Credentials` stays off.
 */
import cors from '@koa/cors';
import type { Middleware } from 'koa';

/** Request headers a browser client sends: the token, JSON bodies, stream resumption, idempotent retries. */
export const CORS_ALLOWED_HEADERS = [
  'Authorization',
  'Content-Type',
  'Last-Event-ID',
  'Idempotency-Key',
  'X-Request-Id',
];

/** Response headers a browser client may read: rate limits (IETF draft fields), back-off, the request id. */
export const CORS_EXPOSED_HEADERS = [
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
  'Retry-After',
  'X-Request-Id',
  'Content-Disposition',
];

/** The CORS middleware for `origins` (exact `scheme://host[:port]`), or undefined when the list is empty. */
export function corsAllowlist(origins: readonly string[]): Middleware | undefined {
  if (origins.length === 0) return undefined;
  const allowed = new Set(origins);
  return cors({
    // An unlisted (or missing) Origin: '' makes @koa/cors add no CORS headers.
    origin: (ctx) => (allowed.has(ctx.get('Origin')) ? ctx.get('Origin') : ''),
    allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowHeaders: CORS_ALLOWED_HEADERS,
    exposeHeaders: CORS_EXPOSED_HEADERS,
    maxAge: 600,
  });
}
