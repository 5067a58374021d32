/**
 * Route input validation with zod: `validate({ params, query, body })` parses each part and puts
 * the typed result on ctx.state.input; a failure is a 400 before the handler runs.
 */
import type { Middleware } from 'koa';
import type { z } from 'zod';

/** The zod schemas a route validates; `params` and `query` must be objects. */
export interface RouteSchemas {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
}

type Infer<S, K extends keyof RouteSchemas> = S extends Record<K, infer T extends z.ZodType> ? z.infer<T> : undefined;

export interface ValidatedInput<S extends RouteSchemas> {
  params: Infer<S, 'params'>;
  query: Infer<S, 'query'>;
  body: Infer<S, 'body'>;
}

export function validate<S extends RouteSchemas>(schemas: S): Middleware {
  return async (ctx, next) => {
    const request = ctx.request as typeof ctx.request & { body?: unknown };
    ctx.state.input = {
      params: schemas.params ? schemas.params.parse((ctx as unknown as { params: unknown }).params) : undefined,
      query: schemas.query ? schemas.query.parse(ctx.query) : undefined,
      body: schemas.body ? schemas.body.parse(request.body ?? {}) : undefined,
    };
    await next();
  };
}
