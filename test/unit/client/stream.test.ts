/**
 * The client's SSE reader against a local HTTP server: it resumes a dropped connection with
 * Last-Event-ID, ends on `stream_end` and on an aborted signal, and does not retry a client error.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChatdApiError, createChatdClient, sseEvents } from '../../../src/client';

type Handler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

/** A server whose n-th request (from 0) is answered by `handler`; it records each request's headers. */
async function serve(handler: Handler): Promise<{ url: string; requests: IncomingMessage[]; server: Server }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

const sse = (res: ServerResponse): void => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.write('retry: 5\n\n: ping\n\n');
};

const event = (id: number | null, data: Record<string, unknown>): string =>
  `${id === null ? '' : `id: ${id}\n`}event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;

const status = (s: string) => ({ type: 'status', chat_id: 'c1', status: s });

describe('the client stream helper', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('reconnects after a dropped connection with Last-Event-ID and resumes', async () => {
    const started = await serve((_req, res, attempt) => {
      sse(res);
      if (attempt === 0) {
        res.write(event(10, status('pending')));
        res.write(event(11, status('running')));
        // The connection drops mid-stream: no clean end of the response.
        setImmediate(() => res.socket?.destroy());
      } else {
        res.write(event(12, status('waiting')));
        res.end(event(null, { type: 'stream_end', chat_id: 'c1', reason: 'token_revoked' }));
      }
    });
    server = started.server;
    const reconnects: Array<string | undefined> = [];
    const client = createChatdClient({ baseUrl: `${started.url}/`, token: 'chatd_test' });

    const seen: string[] = [];
    for await (const e of client.streamChat('c1', { onReconnect: (info) => reconnects.push(info.lastEventId) })) {
      seen.push(e.type === 'status' ? e.status : e.type);
    }

    expect(seen).toEqual(['pending', 'running', 'waiting', 'stream_end']);
    expect(reconnects).toEqual(['11']);
    expect(started.requests).toHaveLength(2);
    expect(started.requests.map((r) => r.url)).toEqual(['/api/v1/chats/c1/stream', '/api/v1/chats/c1/stream']);
    expect(started.requests[0]!.headers['last-event-id']).toBeUndefined();
    expect(started.requests[1]!.headers['last-event-id']).toBe('11');
    expect(started.requests[1]!.headers.authorization).toBe('Bearer chatd_test');
  });

  it('reconnects after the server ends the response, and after a 503', async () => {
    const started = await serve((_req, res, attempt) => {
      if (attempt === 1) {
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'dependency_unavailable', message: 'later' } }));
        return;
      }
      sse(res);
      res.end(event(attempt === 0 ? 1 : 2, { type: 'title_change', chat_id: 'c1', title: `t${attempt}` }));
    });
    server = started.server;
    const events = sseEvents({ url: `${started.url}/s` }, { lastEventId: '0', reconnectDelayMs: 1 });
    const got: string[] = [];
    for await (const e of events) {
      got.push(`${e.id}:${e.event}`);
      if (got.length === 2) break;
    }
    expect(got).toEqual(['1:title_change', '2:title_change']);
    expect(started.requests.map((r) => r.headers['last-event-id'])).toEqual(['0', '1', '1']);
  });

  it('stops without an error when the signal aborts, closing the connection', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const started = await serve((req, res) => {
      sse(res);
      res.write(event(1, status('running')));
      req.on('close', closed);
    });
    server = started.server;
    const abort = new AbortController();
    const client = createChatdClient({ baseUrl: started.url, token: 't' });
    const seen: string[] = [];
    for await (const e of client.streamChat('c1', { signal: abort.signal, afterMessageId: 7 })) {
      seen.push(e.type);
      abort.abort();
    }
    await connectionClosed;
    expect(seen).toEqual(['status']);
    expect(started.requests.map((r) => r.url)).toEqual(['/api/v1/chats/c1/stream?after_id=7']);
  });

  it('rejects a client error with the envelope and does not retry it', async () => {
    const started = await serve((_req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'No such chat.' } }));
    });
    server = started.server;
    const client = createChatdClient({ baseUrl: started.url, token: 't' });
    const iterate = async () => {
      for await (const _event of client.watchChats({ reconnectDelayMs: 1 })) void _event;
    };
    const error = await iterate().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChatdApiError);
    expect(error).toMatchObject({ status: 404, code: 'not_found', message: 'No such chat.' });
    expect(started.requests).toHaveLength(1);
  });

  it('gives up after maxReconnects failures in a row', async () => {
    const started = await serve((req) => req.socket.destroy());
    server = started.server;
    const attempts: number[] = [];
    const iterate = async () => {
      const events = sseEvents(
        { url: `${started.url}/s` },
        { reconnectDelayMs: 1, maxReconnects: 2, onReconnect: (info) => attempts.push(info.attempt) },
      );
      for await (const _event of events) void _event;
    };
    await expect(iterate()).rejects.toThrow();
    expect(attempts).toEqual([1, 2]);
    expect(started.requests).toHaveLength(3);
  });
});
