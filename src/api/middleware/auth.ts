/**
 * Bearer-token authentication. Browsers' EventSource cannot send headers, so the stream endpoints
 * also accept `?access_token=`. Sets ctx.state.actor; `requireAdmin` guards admin-only routes.
 */
import type { Middleware } from 'koa';
import { ForbiddenError, UnauthorizedError } from '../../errors';
import type { TokenAuthenticator } from '../../security/tokens';
import type { Actor } from '../../security/actor';

/** The caller `authenticate` resolved; only for routes mounted after it. */
export function actor(ctx: { state: { actor?: Actor } }): Actor {
  return ctx.state.actor!;
}

export function authenticate(tokens: TokenAuthenticator): Middleware {
  return async (ctx, next) => {
    const header = ctx.get('Authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const queryToken =
      ctx.method === 'GET' && typeof ctx.query.access_token === 'string' ? ctx.query.access_token : undefined;
    const token = match?.[1] ?? queryToken;
    if (!token) throw new UnauthorizedError();
    const live = await tokens.authenticate(token);
    if (!live) throw new UnauthorizedError('The API token is invalid, expired or revoked.');
    ctx.state.actor = { id: live.userId, role: live.role } satisfies Actor;
    await next();
  };
}

export function requireAdmin(): Middleware {
  return async (ctx, next) => {
    if ((ctx.state.actor as Actor | undefined)?.role !== 'admin') throw new ForbiddenError();
    await next();
  };
}
