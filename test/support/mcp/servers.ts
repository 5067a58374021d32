/**
 * MCP servers for tests, each on 127.0.0.1 and a free port, owned by the test that starts it:
 * - `startEverythingServer`: the reference server @modelcontextprotocol/server-everything in a child
 *   process (streamable HTTP or SSE), which a test may kill mid-call;
 * - `startOAuthMcpServer`: a real OAuth 2 authorization server with an MCP server that checks its tokens,
 *   in a child process (oauth-mcp-server.mjs);
 * - `startTestMcpServer`: a small in-process MCP server (the SDK's server classes) whose tool list a test
 *   can change, to see `notifications/tools/list_changed` handled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface ChildServer<T> {
  info: T;
  process: ChildProcess;
  /** Kills the process at once (SIGKILL): the server dies as a crashed one would. */
  kill(): void;
  stop(): Promise<void>;
}

async function launch<T>(script: string, args: string[]): Promise<ChildServer<T>> {
  const child = spawn(process.execPath, [path.join(__dirname, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const info = await new Promise<T>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start: ${stderr}`)), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      clearTimeout(timer);
      resolve(JSON.parse(out.slice(0, newline)) as T);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code}: ${stderr}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    info,
    process: child,
    kill: () => {
      child.kill('SIGKILL');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** server-everything over `transport`; `info.url` is its MCP (or SSE) endpoint. */
export function startEverythingServer(transport: 'streamable_http' | 'sse'): Promise<ChildServer<{ url: string }>> {
  return launch('everything-server.mjs', [transport === 'sse' ? 'sse' : 'streamableHttp']);
}

export interface OAuthMcpInfo {
  mcpUrl: string;
  issuer: string;
  controlUrl: string;
}

export interface OAuthServerStats {
  grants: Record<string, number>;
  refreshRefused: number;
  unauthorized: number;
  calls: number;
}

/** The OAuth-protected MCP server, its tokens living `ttlSeconds`, with its control routes. */
export async function startOAuthMcpServer(ttlSeconds = 3600) {
  const server = await launch<OAuthMcpInfo>('oauth-mcp-server.mjs', [String(ttlSeconds)]);
  const control = async (method: string, route: string) =>
    (await fetch(`${server.info.controlUrl}${route}`, { method })).json() as Promise<any>;
  return {
    ...server,
    stats: (): Promise<OAuthServerStats> => control('GET', '/__stats'),
    /** Every token used so far is refused from now on (as if revoked or expired early). */
    revokeSeenTokens: () => control('POST', '/__revoke'),
    setTokenTtl: (seconds: number) => control('POST', `/__ttl?seconds=${seconds}`),
  };
}

export interface TestMcpServer {
  url: string;
  /** Requests the server answered (each POST with its JSON-RPC methods). */
  methods: string[];
  /** Adds a tool on every open session; the SDK announces it with `notifications/tools/list_changed`. */
  addTool(name: string): void;
  close(): Promise<void>;
}

/** An in-process MCP server with an `echo` tool and a `slow` tool that reports progress. */
export async function startTestMcpServer(): Promise<TestMcpServer> {
  const sessions = new Map<string, { server: McpServer; transport: StreamableHTTPServerTransport }>();
  const added: string[] = [];
  const methods: string[] = [];

  const register = (server: McpServer, name: string): void => {
    server.registerTool(name, { description: `The ${name} tool.`, inputSchema: {} }, async () => ({
      content: [{ type: 'text', text: `${name} ran` }],
    }));
  };
  const newServer = (): McpServer => {
    const server = new McpServer({ name: 'test-server', version: '1.0.0' });
    server.registerTool(
      'echo',
      { description: 'Echoes the message.', inputSchema: { message: z.string() } },
      async ({ message }) => ({ content: [{ type: 'text', text: `Echo: ${message}` }] }),
    );
    server.registerTool(
      'slow',
      { description: 'Works for `steps` × 200 ms, reporting progress.', inputSchema: { steps: z.number().int() } },
      async ({ steps }, extra) => {
        for (let i = 1; i <= steps; i++) {
          await new Promise((resolve) => setTimeout(resolve, 200));
          const token = extra._meta?.progressToken;
          if (token !== undefined) {
            await extra.sendNotification({
              method: 'notifications/progress',
              params: { progressToken: token, progress: i, total: steps },
            });
          }
        }
        return { content: [{ type: 'text', text: `slow finished ${steps} steps` }] };
      },
    );
    for (const name of added) register(server, name);
    return server;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const sessionId = req.headers['mcp-session-id'];
    const session = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      for (const message of Array.isArray(body) ? body : [body]) if (message.method) methods.push(message.method);
      if (session) return session.transport.handleRequest(req, res, body);
      const server = newServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, { server, transport });
        },
      });
      await server.connect(transport);
      return transport.handleRequest(req, res, body);
    }
    if (!session) {
      res.writeHead(404).end();
      return;
    }
    await session.transport.handleRequest(req, res);
  };

  const http = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    methods,
    addTool(name) {
      added.push(name);
      for (const { server } of sessions.values()) register(server, name);
    },
    async close() {
      await Promise.all([...sessions.values()].map(({ server }) => server.close()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
