/**
 * The access log on a real Koa app on port 0: one line per request with method, route template,
 * path, status, duration, request id and the user once authenticated; lines written while a request
 * is handled carry its request id; a stream is logged when it ends, aborted when its client left.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import { accessLog } from '../../../src/api/middleware/access-log';
import { errorHandler } from '../../../src/api/middleware/error-handler';
import { requestId } from '../../../src/api/middleware/request-id';
import { createLogger } from '../../../src/log';
import { LogCapture } from './log-capture';

describe('access log', () => {
  let capture: LogCapture;
  let server: http.Server;
  let base: string;
  let stream: PassThrough;

  beforeAll(async () => {
    capture = new LogCapture();
    const log = createLogger('info', 'test', capture);
    const app = new Koa();
    app.use(requestId());
    app.use(accessLog(log));
    app.use(errorHandler());
    app.on('error', () => undefined);
    const router = new Router({ prefix: '/api/v1' });
    router.get('/public', (ctx) => {
      ctx.body = { ok: true };
    });
    router.use(async (ctx, next) => {
      if (ctx.get('Authorization') === 'Bearer good') ctx.state.actor = { id: 'user-1', role: 'member' };
      await next();
    });
    router.get('/chats/:id', (ctx) => {
      log.info({ chatId: ctx.params.id }, 'handler line');
      ctx.body = { id: ctx.params.id };
    });
    router.get('/boom', () => {
      throw new Error('boom');
    });
    router.get('/chats/:id/stream', (ctx) => {
      stream = new PassThrough();
      ctx.type = 'text/event-stream';
      ctx.body = stream;
      stream.write(': hello\n\n');
    });
    app.use(router.routes());
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const accessLine = (id: string) => capture.waitFor((l) => l.msg === 'request' && l.requestId === id);

  it('logs one line with the route template, status, duration, request id and user', async () => {
    const res = await fetch(`${base}/chats/c-42`, {
      headers: { Authorization: 'Bearer good', 'X-Request-Id': 'req-route-1' },
    });
    expect(res.status).toBe(200);
    const line = await accessLine('req-route-1');
    expect(line).toMatchObject({
      level: 30,
      method: 'GET',
      route: '/api/v1/chats/:id',
      path: '/api/v1/chats/c-42',
      status: 200,
      userId: 'user-1',
    });
    expect(typeof line.durationMs).toBe('number');
    expect(line.durationMs).toBeGreaterThanOrEqual(0);
    expect(line.aborted).toBeUndefined();
    expect(capture.lines.filter((l) => l.msg === 'request' && l.requestId === 'req-route-1')).toHaveLength(1);
  });

  it('binds the request id to the lines the request writes', async () => {
    await fetch(`${base}/chats/c-7`, { headers: { 'X-Request-Id': 'req-context-1' } });
    const handler = await capture.waitFor((l) => l.msg === 'handler line' && l.chatId === 'c-7');
    expect(handler.requestId).toBe('req-context-1');
    // Not authenticated: no user id.
    expect((await accessLine('req-context-1')).userId).toBeUndefined();
  });

  it('logs the status the error handler settled on, and unmatched routes without a route', async () => {
    const failed = await fetch(`${base}/boom`, { headers: { 'X-Request-Id': 'req-error-1' } });
    expect(failed.status).toBe(500);
    expect(await accessLine('req-error-1')).toMatchObject({ status: 500, route: '/api/v1/boom' });

    const missing = await fetch(`${base}/nowhere`, { headers: { 'X-Request-Id': 'req-404-1' } });
    expect(missing.status).toBe(404);
    expect(await accessLine('req-404-1')).toMatchObject({ status: 404, route: null, path: '/api/v1/nowhere' });
  });

  it('logs a stream when it ends, marked aborted when its client went away', async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/chats/c-9/stream`, {
      headers: { 'X-Request-Id': 'req-stream-1' },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    // Still open: no line yet.
    expect(capture.lines.some((l) => l.requestId === 'req-stream-1' && l.msg === 'request')).toBe(false);
    controller.abort();
    const line = await accessLine('req-stream-1');
    expect(line).toMatchObject({ route: '/api/v1/chats/:id/stream', status: 200, stream: true, aborted: true });

    const done = await fetch(`${base}/chats/c-10/stream`, { headers: { 'X-Request-Id': 'req-stream-2' } });
    const doneReader = done.body!.getReader();
    await doneReader.read();
    stream.end();
    while (!(await doneReader.read()).done);
    const ended = await accessLine('req-stream-2');
    expect(ended).toMatchObject({ stream: true, status: 200 });
    expect(ended.aborted).toBeUndefined();
  });
});
