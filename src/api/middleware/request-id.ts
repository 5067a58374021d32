/** Gives every request an id (or keeps the caller's X-Request-Id) for logs and 500 responses. */
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';

export function requestId(): Middleware {
  return async (ctx, next) => {
    const given = ctx.get('X-Request-Id');
    ctx.state.requestId = /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    await next();
  };
}
