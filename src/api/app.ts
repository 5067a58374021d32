/**
 * createApp(deps): the Koa application with its middleware order fixed in one place:
 * request id → request metrics → HTTP span (tracing on) → access log → error handler → /metrics →
 * the playground's files → body parser → public routes → authentication (with the auth-failure throttle) → per-token rate
 * limit → API routes. Health, readiness, OpenAPI and /metrics are public, so never limited.
 * It does not listen; callers (main, tests) do.
 */
import type { AppDeps } from './deps';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import { findLiveToken } from '../db/repositories/users.repository';
import { TokenAuthenticator } from '../security/tokens';
import { AuthFailureThrottle, NO_REQUEST_LIMITS, requestRateLimit } from './limits/rate-limit';
import { StreamGuard } from './limits/streams';
import { httpMetrics, metricsRoute } from '../metrics/http';
import { accessLog } from './middleware/access-log';
import { authenticate, credential } from './middleware/auth';
import { corsAllowlist } from './middleware/cors';
import { errorHandler } from './middleware/error-handler';
import { httpSpans } from './middleware/http-span';
import { requestId } from './middleware/request-id';
import { chatsRouter } from './routes/chats.routes';
import { configRouter } from './routes/config.routes';
import { costRouter } from './routes/cost.routes';
import { filesRouter } from './routes/files.routes';
import { healthRouter } from './routes/health.routes';
import { mcpOAuthCallbackRouter, mcpServersRouter } from './routes/mcp-servers.routes';
import { modelConfigsRouter } from './routes/model-configs.routes';
import { openApiRouter } from './routes/openapi.routes';
import { pushRouter } from './routes/push.routes';
import { toolApprovalsRouter } from './routes/tool-approvals.routes';
import { usageLimitsRouter } from './routes/usage-limits.routes';
import { usersRouter } from './routes/users.routes';
import { workspacesRouter } from './routes/workspaces.routes';
import { webApp } from './web-app';

/**
 * The parser's cap on any JSON body: a full-size message plus 64 KiB for the other fields and JSON
 * quoting. The message text itself is checked exactly by the routes that accept one (chats.routes.ts);
 * a text made mostly of characters JSON must escape can meet this cap first.
 */
export function jsonBodyLimit(maxMessageBytes: number): number {
  return maxMessageBytes + 64 * 1024;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa();
  app.proxy = true;
  app.use(requestId());
  if (deps.metrics) app.use(httpMetrics(deps.metrics));
  if (deps.tracer) app.use(httpSpans(deps.tracer));
  app.use(accessLog(deps.log));
  // Before the error handler, so error responses carry the CORS headers too.
  const cors = corsAllowlist(deps.corsOrigins ?? []);
  if (cors) app.use(cors);
  app.use(errorHandler());
  // GET /metrics beside /api/v1: public, or behind CHATD_METRICS_TOKEN (README "Metrics").
  if (deps.metrics) app.use(metricsRoute(deps.metrics, deps.metricsToken));
  // The playground's static files at `/` (src/api/web-app.ts); never below /api/.
  if (deps.webDir) app.use(webApp(deps.webDir));
  app.use(
    bodyParser({
      enableTypes: ['json'],
      jsonLimit: jsonBodyLimit(deps.maxMessageBytes),
      // Reject a non-object body the same way as malformed JSON.
      jsonStrict: true,
      encoding: 'utf-8',
    }),
  );

  const api = new Router({ prefix: '/api/v1' });
  const health = healthRouter(deps);
  const tokens = new TokenAuthenticator((hash) => findLiveToken(deps.db, hash));
  const limits = deps.requestLimits ?? NO_REQUEST_LIMITS;
  api.use(health.routes());
  api.use(openApiRouter().routes());
  api.use(mcpOAuthCallbackRouter(deps).routes());
  api.use(authenticate(tokens, new AuthFailureThrottle(limits)));
  api.use(requestRateLimit(limits, (ctx) => credential(ctx).live.tokenId));
  for (const router of [
    chatsRouter(deps, new StreamGuard(tokens, limits.maxStreamsPerUser, deps.metrics?.openStreams)),
    usersRouter(deps, tokens),
    modelConfigsRouter(deps),
    configRouter(deps),
    filesRouter(deps),
    workspacesRouter(deps),
    pushRouter(deps),
    mcpServersRouter(deps),
    toolApprovalsRouter(deps),
    usageLimitsRouter(deps),
    costRouter(deps),
  ]) {
    api.use(router.routes(), router.allowedMethods({ throw: true }));
  }
  app.use(api.routes());
  app.use(api.allowedMethods({ throw: true }));

  app.on('error', (err: unknown, ctx?: Koa.Context) => {
    // A client that goes away mid-stream is normal life for SSE, not a server error.
    const code = (err as { code?: string }).code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE') return;
    deps.log.error({ err, requestId: ctx?.state.requestId, path: ctx?.path }, 'request failed');
  });
  return app;
}
