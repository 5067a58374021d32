/**
 * Bearer-token authentication. Browsers' EventSource cannot send headers, so the two stream endpoints
 * (GET /chats/:id/stream and GET /chats/watch) also accept `?access_token=`; no other route does, so a
 * token never has to sit in the URLs (and access logs, browser history, Referer headers) of ordinary
 * requests. Sets ctx.state.actor (and ctx.state.credential, the token itself,
 * for the rate limit and the streams' token watch); `requireAdmin` guards admin-only routes. An
 * address with too many invalid tokens is refused before its token is looked up (AuthFailureThrottle).
 */
import type { Middleware } from 'koa';
import { ForbiddenError, UnauthorizedError } from '../../errors';
import type { LiveToken, TokenAuthenticator } from '../../security/tokens';
import type { Actor } from '../../security/actor';
import type { AuthFailureThrottle } from '../limits/rate-limit';

/** The token a request authenticated with. */
export interface Credential {
  token: string;
  live: LiveToken;
}

/** The caller `authenticate` resolved; only for routes mounted after it. */
export function actor(ctx: { state: { actor?: Actor } }): Actor {
  return ctx.state.actor!;
}

/** The token `authenticate` accepted; only for routes mounted after it. */
export function credential(ctx: { state: { credential?: Credential } }): Credential {
  return ctx.state.credential!;
}

/** The routes a token may come as `?access_token=` on: the SSE streams (full paths). */
const QUERY_TOKEN_PATHS = [/^\/api\/v1\/chats\/[^/]+\/stream$/, /^\/api\/v1\/chats\/watch$/];

/** Whether a request may carry its token as `?access_token=`: a GET of one of the stream routes. */
export function acceptsQueryToken(method: string, path: string): boolean {
  return method === 'GET' && QUERY_TOKEN_PATHS.some((pattern) => pattern.test(path));
}

export function authenticate(tokens: TokenAuthenticator, throttle?: AuthFailureThrottle): Middleware {
  return async (ctx, next) => {
    await throttle?.check(ctx);
    const header = ctx.get('Authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const queryToken =
      acceptsQueryToken(ctx.method, ctx.path) && typeof ctx.query.access_token === 'string'
        ? ctx.query.access_token
        : undefined;
    const token = match?.[1] ?? queryToken;
    if (!token) throw new UnauthorizedError();
    const live = await tokens.authenticate(token);
    if (!live) {
      await throttle?.failed(ctx);
      throw new UnauthorizedError('The API token is invalid, expired or revoked.');
    }
    ctx.state.actor = { id: live.userId, role: live.role } satisfies Actor;
    ctx.state.credential = { token, live } satisfies Credential;
    await next();
  };
}

export function requireAdmin(): Middleware {
  return async (ctx, next) => {
    if ((ctx.state.actor as Actor | undefined)?.role !== 'admin') throw new ForbiddenError();
    await next();
  };
}
