/**
 * The one error handler: AppError → its status and `{error: {code, message, details?}}`; zod
 * errors → 400 with the issues; body-parser failures → 400/413; an unreachable database → 503
 * `dependency_unavailable`; anything else → 500 with the request id and a generic message (the
 * error itself is logged, never sent).
 */
import type { Middleware } from 'koa';
import { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../../db/create-db';
import { AppError, DependencyUnavailableError } from '../../errors';

interface HttpLikeError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
}

export function errorHandler(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = { error: { code: 'route_not_found', message: `No route for ${ctx.method} ${ctx.path}.` } };
      }
    } catch (thrown) {
      // An unreachable database is an outage, not a bug: the client may retry once it is back.
      const databaseDown = isDatabaseUnavailable(thrown);
      if (databaseDown) ctx.app.emit('error', thrown, ctx);
      const err = databaseDown ? new DependencyUnavailableError('The database') : thrown;
      if (err instanceof AppError) {
        ctx.status = err.status;
        ctx.body = {
          error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) },
        };
        return;
      }
      if (err instanceof ZodError) {
        ctx.status = 400;
        ctx.body = {
          error: {
            code: 'validation_failed',
            message: 'The request is invalid.',
            details: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
          },
        };
        return;
      }
      const http = err as HttpLikeError;
      const status = http.status ?? http.statusCode;
      if (status === 413 || http.type === 'entity.too.large') {
        ctx.status = 413;
        ctx.body = { error: { code: 'payload_too_large', message: 'The request body is too large.' } };
        return;
      }
      if (status !== undefined && status >= 400 && status < 500 && http.expose !== false) {
        ctx.status = status;
        // co-body (under @koa/bodyparser) reports unparseable JSON as a SyntaxError with status 400.
        const invalidJson = http.type === 'entity.parse.failed' || (status === 400 && err instanceof SyntaxError);
        const code = invalidJson ? 'invalid_json' : status === 405 ? 'method_not_allowed' : 'bad_request';
        const message = code === 'invalid_json' ? 'The request body is not valid JSON.' : (err as Error).message;
        ctx.body = { error: { code, message } };
        return;
      }
      ctx.status = 500;
      ctx.body = {
        error: { code: 'internal_error', message: 'Internal error.', details: { request_id: ctx.state.requestId } },
      };
      ctx.app.emit('error', err, ctx);
    }
  };
}
