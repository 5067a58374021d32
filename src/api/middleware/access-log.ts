/**
 * The access log: one JSON line per request when its response ends (a stream's when the stream
 * closes), with the method, the matched route (`/api/v1/chats/:id`, not the ids), the path, the
 * status, the duration in milliseconds, the request id and, once authenticated, the user id
 * (README "Logs"). Everything logged while the request is handled carries its request id too.
 * Mounted right after request-id, so it sees the status the error handler settles on.
 */
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import type { Actor } from '../../security/actor';
import { withLogContext } from '../../log';

/** The route template @koa/router matched (unset: no route matched, e.g. a 404). */
export function matchedRoute(ctx: Context): string | undefined {
  const route = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return typeof route === 'string' ? route : undefined;
}

export function accessLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now();
    const requestId = ctx.state.requestId as string | undefined;
    ctx.res.once('close', () => {
      const userId = (ctx.state.actor as Actor | undefined)?.id;
      log.info(
        {
          requestId,
          method: ctx.method,
          route: matchedRoute(ctx) ?? null,
          path: ctx.path,
          status: ctx.status,
          durationMs: Math.round(performance.now() - started),
          ...(userId ? { userId } : {}),
          ...(ctx.type === 'text/event-stream' ? { stream: true } : {}),
          // The client went away before the response was complete (a stream closed by its client).
          ...(ctx.res.writableFinished ? {} : { aborted: true }),
        },
        'request',
      );
    });
    await withLogContext({ requestId }, next);
  };
}
