/**
 * MCP client connections of one process, with the official SDK client (streamable HTTP or SSE). A
 * connection is kept for reuse by the steps that follow (keyed by server, config version and, for
 * OAuth servers, user), caches its server's tool list for a TTL and forgets it on
 * `notifications/tools/list_changed`, and is closed after a while unused. Authentication is added per
 * request by a fetch wrapper, so a refreshed OAuth token is used without reconnecting and a 401 is
 * answered by one refresh and retry (docs/mcp.md "Connections and caching").
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike, Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ToolListChangedNotificationSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { McpTransport } from './types';

/** An OAuth bearer token source for one user and server (oauth.ts). */
export interface BearerSource {
  /** The token to send now (refreshed first when it is about to expire). */
  current(): Promise<string>;
  /** A new token after `rejected` got a 401; null when none can be had (the user must connect again). */
  afterRejection(rejected: string): Promise<string | null>;
  /** Set once a 401 could not be answered with a new token (the user must connect again). */
  readonly rejectedAll?: boolean;
}

export interface ConnectionSpec {
  /** Identifies what the connection may be reused for: server, config version, user for OAuth servers. */
  key: string;
  url: string;
  transport: McpTransport;
  /** Headers of every request (API key, custom headers). */
  headers: Record<string, string>;
  bearer?: BearerSource;
}

export interface McpClientPoolOptions {
  /** Connecting and initializing, and each `tools/list` page. */
  connectTimeoutMs: number;
  /** Connections unused for this long are closed. */
  idleMs: number;
  /** chatd's version, sent as the client's implementation info. */
  version: string;
  log?: Logger;
  /** The fetch under the transports (tests); global fetch by default. */
  fetch?: FetchLike;
}

/** Thrown when connecting takes longer than `connectTimeoutMs`. */
export class McpConnectTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${Math.round(ms / 1000)} s`);
    this.name = 'McpConnectTimeoutError';
  }
}

/** Adds the spec's headers and bearer token to every request; a 401 gets one refresh and retry. */
export function authorizingFetch(spec: Pick<ConnectionSpec, 'headers' | 'bearer'>, base: FetchLike = fetch): FetchLike {
  const send = (url: string | URL, init: RequestInit | undefined, token: string | undefined): Promise<Response> => {
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(spec.headers)) headers.set(name, value);
    if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
    return base(url, { ...init, headers });
  };
  return async (url, init) => {
    if (!spec.bearer) return send(url, init, undefined);
    const token = await spec.bearer.current();
    const response = await send(url, init, token);
    if (response.status !== 401) return response;
    const next = await spec.bearer.afterRejection(token);
    if (next === null) return response;
    await response.body?.cancel().catch(() => undefined);
    return send(url, init, next);
  };
}

/** One live client connection to one MCP server. */
export class McpConnection {
  private tools: { list: Tool[]; at: number } | undefined;
  private inFlight = 0;
  private probing = false;
  closed = false;
  lastUsed = Date.now();

  constructor(
    readonly spec: ConnectionSpec,
    private readonly client: Client,
    private readonly connectTimeoutMs: number,
    onClosed: (connection: McpConnection) => void,
  ) {
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      this.tools = undefined;
    });
    client.onclose = () => {
      this.closed = true;
      onClosed(this);
    };
    // A transport error while calls wait (a broken stream the transport may or may not recover): ask the
    // server whether it is still there, and close the connection if not, which fails the waiting calls
    // at once instead of at their timeouts.
    client.onerror = () => {
      if (this.inFlight > 0) void this.probe();
    };
  }

  /** The server's tools, from the cache when it is younger than `ttlMs` and no change was announced. */
  async listTools(ttlMs: number): Promise<Tool[]> {
    this.lastUsed = Date.now();
    if (this.tools && Date.now() - this.tools.at < ttlMs) return this.tools.list;
    const list: Tool[] = [];
    let cursor: string | undefined;
    const at = Date.now();
    do {
      const page = await this.client.listTools(cursor ? { cursor } : {}, { timeout: this.connectTimeoutMs });
      list.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor && list.length < 10_000);
    this.tools = { list, at };
    return list;
  }

  /**
   * Calls a tool. `timeoutMs` is restarted by each progress notification; `maxTotalMs` bounds the call
   * whatever the progress. Rejects on abort, timeout, a closed connection or a protocol error.
   */
  async callTool(
    name: string,
    args: Record<string, unknown>,
    options: { signal: AbortSignal; timeoutMs: number; maxTotalMs: number; onProgress?: () => void },
  ): Promise<CallToolResult> {
    this.lastUsed = Date.now();
    this.inFlight++;
    try {
      const result = await this.client.callTool({ name, arguments: args }, undefined, {
        signal: options.signal,
        timeout: options.timeoutMs,
        resetTimeoutOnProgress: true,
        maxTotalTimeout: options.maxTotalMs,
        onprogress: () => options.onProgress?.(),
      });
      return result as CallToolResult;
    } finally {
      this.inFlight--;
      this.lastUsed = Date.now();
    }
  }

  private async probe(): Promise<void> {
    if (this.probing || this.closed) return;
    this.probing = true;
    try {
      await this.client.ping({ timeout: Math.min(this.connectTimeoutMs, 5_000) });
    } catch {
      await this.close();
    } finally {
      this.probing = false;
    }
  }

  get busy(): boolean {
    return this.inFlight > 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close().catch(() => undefined);
  }
}

/** The connections of one process, by spec key. */
export class McpClientPool {
  private readonly connections = new Map<string, McpConnection>();
  private readonly connecting = new Map<string, Promise<McpConnection>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: McpClientPoolOptions) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(options.idleMs, 60_000));
    this.sweeper.unref();
  }

  /** A live connection for `spec`: the pooled one, or a new one. Throws when connecting fails. */
  async connection(spec: ConnectionSpec): Promise<McpConnection> {
    const pooled = this.connections.get(spec.key);
    if (pooled && !pooled.closed) return pooled;
    const pending = this.connecting.get(spec.key);
    if (pending) return pending;
    const connecting = this.connect(spec).finally(() => this.connecting.delete(spec.key));
    this.connecting.set(spec.key, connecting);
    return connecting;
  }

  /** Closes and forgets a connection (its server forgot the session, its key is stale). */
  async discard(connection: McpConnection): Promise<void> {
    if (this.connections.get(connection.spec.key) === connection) this.connections.delete(connection.spec.key);
    await connection.close();
  }

  /**
   * Closes the idle pooled connections of server `serverId` made for another version than `version`
   * (keys are `<server id>:<version stamp>[:<user id>]`, see catalog.ts).
   */
  async discardStale(serverId: string, version: string): Promise<void> {
    const current = (key: string): boolean => key === version || key.startsWith(`${version}:`);
    const stale = [...this.connections.values()].filter(
      (c) => c.spec.key.startsWith(`${serverId}:`) && !current(c.spec.key) && !c.busy,
    );
    await Promise.all(stale.map((c) => this.discard(c)));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(all.map((c) => c.close()));
  }

  private async connect(spec: ConnectionSpec): Promise<McpConnection> {
    const fetchFn = authorizingFetch(spec, this.options.fetch);
    const url = new URL(spec.url);
    const transport: Transport =
      spec.transport === 'sse'
        ? new SSEClientTransport(url, { fetch: fetchFn })
        : new StreamableHTTPClientTransport(url, {
            fetch: fetchFn,
            // A broken response stream is resumed twice at most; a dead server then fails the call (probe).
            reconnectionOptions: {
              maxRetries: 2,
              initialReconnectionDelay: 500,
              reconnectionDelayGrowFactor: 2,
              maxReconnectionDelay: 2_000,
            },
          });
    const client = new Client({ name: 'chatd', version: this.options.version }, { capabilities: {} });
    const ms = this.options.connectTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.connect(transport, { timeout: ms }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new McpConnectTimeoutError(ms)), ms);
        }),
      ]);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const connection = new McpConnection(spec, client, ms, (closed) => {
      if (this.connections.get(spec.key) === closed) this.connections.delete(spec.key);
    });
    this.connections.set(spec.key, connection);
    this.options.log?.debug({ key: spec.key }, 'connected to MCP server');
    return connection;
  }

  private sweep(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const connection of this.connections.values()) {
      if (!connection.busy && connection.lastUsed < cutoff) void this.discard(connection);
    }
  }
}
