/**
 * The HTTP server span of each request when tracing is on (README "Traces"): named
 * `<METHOD> <route>` once the router matched one (`POST /api/v1/chats`), with the HTTP semantic
 * convention attributes and the request id, ended when the response ends (a stream's when it
 * closes). It continues a caller's W3C `traceparent`, else it is the root of the trace, and
 * everything the request does runs in its context: the turn's workflow start, and through it the
 * workflow, its activities, the model and tool calls.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { Middleware } from 'koa';
import type { Actor } from '../../security/actor';
import { matchedRoute } from './access-log';

export function httpSpans(tracer: Tracer): Middleware {
  return async (ctx, next) => {
    const parent = propagation.extract(ROOT_CONTEXT, ctx.headers);
    const span = tracer.startSpan(
      ctx.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': ctx.method,
          'url.path': ctx.path,
          'url.scheme': ctx.protocol,
          'server.address': ctx.hostname,
          'network.protocol.version': ctx.req.httpVersion,
          ...(ctx.get('User-Agent') ? { 'user_agent.original': ctx.get('User-Agent') } : {}),
          ...(ctx.state.requestId ? { 'chatd.request_id': ctx.state.requestId as string } : {}),
        },
      },
      parent,
    );
    ctx.res.once('close', () => {
      const route = matchedRoute(ctx);
      if (route) {
        span.updateName(`${ctx.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      const userId = (ctx.state.actor as Actor | undefined)?.id;
      if (userId) span.setAttribute('enduser.id', userId);
      span.setAttribute('http.response.status_code', ctx.status);
      if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    await context.with(trace.setSpan(parent, span), next);
  };
}
