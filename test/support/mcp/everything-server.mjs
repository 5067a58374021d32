// The MCP reference server @modelcontextprotocol/server-everything (its own server and tools, unmodified)
// for tests, served over streamable HTTP or SSE on 127.0.0.1 and a free port. The package's bin binds every
// interface on a fixed port, so this launcher wires the package's createServer() to the SDK's server
// transports itself. Run as a child process (the packages are ESM-only): node everything-server.mjs
// <streamableHttp|sse>. Prints one JSON line {"url"} once it listens; a test may SIGKILL it at any time.
/* global process, URL, console */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createServer } from '@modelcontextprotocol/server-everything/dist/server/index.js';

const mode = process.argv[2] ?? 'streamableHttp';
const sessions = new Map();

function sendError(res, status, message) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function streamableHttp(req, res, url) {
  if (url.pathname !== '/mcp') return sendError(res, 404, 'Not found');
  const sessionId = req.headers['mcp-session-id'];
  const known = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
  if (known) return known.transport.handleRequest(req, res);
  if (sessionId !== undefined) return sendError(res, 404, 'Session not found');
  if (req.method !== 'POST') return sendError(res, 400, 'No session');
  const { server, cleanup } = createServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    onsessioninitialized: (id) => sessions.set(id, { transport, cleanup }),
  });
  server.server.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
    cleanup(transport.sessionId);
  };
  await server.connect(transport);
  await transport.handleRequest(req, res);
}

async function sse(req, res, url) {
  if (req.method === 'GET' && url.pathname === '/sse') {
    const { server, cleanup } = createServer();
    const transport = new SSEServerTransport('/message', res);
    sessions.set(transport.sessionId, { transport, cleanup });
    server.server.onclose = () => {
      sessions.delete(transport.sessionId);
      cleanup(transport.sessionId);
    };
    await server.connect(transport);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/message') {
    const session = sessions.get(url.searchParams.get('sessionId') ?? '');
    if (!session) return sendError(res, 404, 'Session not found');
    return session.transport.handlePostMessage(req, res);
  }
  sendError(res, 404, 'Not found');
}

const http = createHttpServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  (mode === 'sse' ? sse(req, res, url) : streamableHttp(req, res, url)).catch((err) => {
    if (!res.headersSent) sendError(res, 500, String(err));
  });
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address();
  const path = mode === 'sse' ? '/sse' : '/mcp';
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}${path}` })}\n`);
});
// server-everything logs to the console; keep stdout for the line above.
console.log = (...args) => process.stderr.write(`${args.join(' ')}\n`);
