/**
 * The MCP tools of a chat: the `ExternalToolSource` the turn uses (src/turn/chat-tools.ts). For each of
 * the chat's servers (its selection plus every `force_on` server, enabled ones only) it connects with the
 * configured authentication, reads the tool list (cached by the pool), applies the allow and deny lists
 * and names the tools `<slug>__<tool>`. A server that cannot be used this step is left out with a note
 * for the model; nothing here fails a turn. Calls run with a timeout that progress notifications restart,
 * the interrupt signal and heartbeats, and every failure becomes an error result (docs/mcp.md).
 */
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database';
import { listChatMcpServers, listMcpServers } from '../db/repositories/mcp-servers.repository';
import type { McpServerRow } from '../db/database';
import type { JsonSchema, ToolSpec } from '../llm/types';
import type { SecretBox } from '../security/secrets';
import { INTERRUPTED_RESULT, type ToolCallRequest } from '../tools/registry';
import { toolError, type ToolContext, type ToolOutput } from '../tools/types';
import type { ChatForTools, ExternalToolSet, ExternalToolSource, ToolApprovalPolicy } from '../turn/chat-tools';
import type { BearerSource, ConnectionSpec, McpClientPool, McpConnection } from './client-pool';
import { exposedToolNames, isMcpToolName, slugOfToolName } from './names';
import type { McpOAuth } from './oauth';
import { isToolOffered, toolApproval } from './policy';
import { toToolOutput } from './results';
import { openServerSecrets } from './secrets';
import { toMcpServerConfig } from './server-config';
import type { McpServerConfig } from './types';

export interface McpCatalogOptions {
  db: Kysely<Database>;
  secrets: SecretBox;
  pool: McpClientPool;
  oauth: McpOAuth;
  /** How long a server's tool list is reused without asking again (a list_changed forgets it sooner). */
  toolsTtlMs: number;
  /** A call without a response or progress for this long fails. */
  callTimeoutMs: number;
  /** A call fails after this long whatever its progress (kept below the tool activity's timeout). */
  maxCallMs: number;
  /** How often a waiting call heartbeats the activity. Default 5 s. */
  heartbeatMs?: number;
  log?: Logger;
}

/** One offered tool: where its calls go. */
interface Route {
  config: McpServerConfig;
  spec: ConnectionSpec;
  connection: McpConnection;
  /** The tool's name on its server. */
  tool: string;
}

type ServerTools =
  | { kind: 'ok'; config: McpServerConfig; spec: ConnectionSpec; connection: McpConnection; tools: Tool[] }
  | { kind: 'skipped'; config: McpServerConfig; note: string };

const shorten = (err: unknown): string => {
  const text = err instanceof Error ? err.message : String(err);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
};

/** Notes the model reads when a server's tools are not offered. */
export const mcpNotes = {
  needsConnect: (c: McpServerConfig): string =>
    `The MCP server "${c.displayName}" (tools named ${c.slug}__*) is selected for this chat, but the user has ` +
    `not connected their account to it, so its tools are not available. If a request needs it, tell the user ` +
    `to connect "${c.displayName}" in their MCP server settings.`,
  reconnect: (c: McpServerConfig): string =>
    `The user's authorization for the MCP server "${c.displayName}" (tools named ${c.slug}__*) has expired or ` +
    `was revoked, so its tools are not available. If a request needs it, ask the user to connect ` +
    `"${c.displayName}" again in their MCP server settings.`,
  unavailable: (c: McpServerConfig, reason: string): string =>
    `The MCP server "${c.displayName}" (tools named ${c.slug}__*) cannot be used right now (${reason}), so its ` +
    `tools are not offered in this step.`,
};

export class McpToolCatalog implements ExternalToolSource {
  /** The enabled servers as of one config generation (every write to mcp_servers moves it). */
  private enabled: { generation: number; rows: Promise<McpServerRow[]> } | null = null;

  constructor(private readonly options: McpCatalogOptions) {}

  /**
   * The enabled servers a chat runs with (its selection plus every `force_on` server, oldest first). At a
   * known generation they come from the per-generation cache, so a step of a chat without MCP servers
   * costs no statement; otherwise they are read.
   */
  private async chatServers(chat: ChatForTools, generation: number | undefined): Promise<McpServerRow[]> {
    if (generation === undefined) return listChatMcpServers(this.options.db, chat.mcp_server_ids);
    if (this.enabled?.generation !== generation) {
      const rows = listMcpServers(this.options.db, { enabledOnly: true });
      this.enabled = { generation, rows };
      rows.catch(() => {
        if (this.enabled?.rows === rows) this.enabled = null;
      });
    }
    const selected = new Set(chat.mcp_server_ids);
    return (await this.enabled.rows).filter((row) => row.availability === 'force_on' || selected.has(row.id));
  }

  owns(name: string): boolean {
    return isMcpToolName(name);
  }

  async toolsFor(chat: ChatForTools, configGeneration?: number): Promise<ExternalToolSet> {
    let rows;
    try {
      rows = await this.chatServers(chat, configGeneration);
    } catch (err) {
      this.options.log?.warn({ err, chatId: chat.id }, 'could not read the chat’s MCP servers');
      return this.toolSet(new Map(), ['The chat’s MCP servers could not be read, so their tools are not offered.']);
    }
    const servers = await Promise.all(rows.map((row) => this.serverTools(row, chat.owner_id, chat.id)));
    const routes = new Map<string, Route & { schema: ToolSpec }>();
    const notes: string[] = [];
    for (const server of servers) {
      if (server.kind === 'skipped') {
        notes.push(server.note);
        continue;
      }
      const offered = server.tools.filter((tool) => isToolOffered(server.config, tool.name));
      const names = exposedToolNames(
        server.config.slug,
        offered.map((t) => t.name),
      );
      for (const tool of offered) {
        const name = names.get(tool.name)!;
        routes.set(name, {
          config: server.config,
          spec: server.spec,
          connection: server.connection,
          tool: tool.name,
          schema: toSpec(name, server.config, tool),
        });
      }
    }
    return this.toolSet(routes, notes);
  }

  private toolSet(routes: Map<string, Route & { schema: ToolSpec }>, notes: string[]): ExternalToolSet {
    return {
      specs: [...routes.values()].map((r) => r.schema),
      notes,
      approval: (name): ToolApprovalPolicy | undefined => {
        const route = routes.get(name);
        return route ? toolApproval(route.config, route.tool) : undefined;
      },
      execute: (call, ctx) => this.execute(routes.get(call.name), call, ctx),
    };
  }

  /** Connects to one server and reads its tools, or says why it is left out. Never throws. */
  private async serverTools(
    row: Parameters<typeof toMcpServerConfig>[0],
    userId: string,
    chatId: string,
  ): Promise<ServerTools> {
    const config = toMcpServerConfig(row);
    let bearer: BearerSource | undefined;
    try {
      const secrets = openServerSecrets(this.options.secrets, row);
      const headers: Record<string, string> = {};
      if (config.authType === 'api_key' && config.apiKeyHeader && secrets.apiKey) {
        headers[config.apiKeyHeader] = secrets.apiKey;
      }
      if (config.authType === 'headers') Object.assign(headers, secrets.headers ?? {});
      const version = `${config.id}:${config.updatedAt.getTime()}`;
      let key = version;
      if (config.authType === 'oauth2') {
        const token = await this.options.oauth.token(config, userId);
        if (!token) return { kind: 'skipped', config, note: mcpNotes.needsConnect(config) };
        bearer = this.options.oauth.bearer(config, userId, token);
        key = `${version}:${userId}`;
      }
      const spec: ConnectionSpec = { key, url: config.url, transport: config.transport, headers, bearer };
      // Connections made for an older version of the server's config (or an older token) are not reused.
      void this.options.pool.discardStale(config.id, version);
      let connection = await this.options.pool.connection(spec);
      // A pooled connection keeps the token source it was made with (which follows refreshes itself).
      bearer = connection.spec.bearer;
      let tools: Tool[];
      try {
        tools = await connection.listTools(this.options.toolsTtlMs);
      } catch (err) {
        // A pooled connection whose server restarted: one fresh connection, then give up.
        await this.options.pool.discard(connection);
        bearer = spec.bearer;
        connection = await this.options.pool.connection(spec);
        tools = await connection.listTools(this.options.toolsTtlMs);
        this.options.log?.debug({ err, serverId: config.id }, 'MCP server reconnected');
      }
      return { kind: 'ok', config, spec, connection, tools };
    } catch (err) {
      if (bearer?.rejectedAll) return { kind: 'skipped', config, note: mcpNotes.reconnect(config) };
      this.options.log?.warn({ err, serverId: config.id, chatId }, 'MCP server unavailable');
      return { kind: 'skipped', config, note: mcpNotes.unavailable(config, shorten(err)) };
    }
  }

  private async execute(route: Route | undefined, call: ToolCallRequest, ctx: ToolContext): Promise<ToolOutput> {
    if (!route) {
      const slug = slugOfToolName(call.name);
      return toolError(
        `Tool not available: ${call.name}.` +
          (slug ? ` Its MCP server "${slug}" is not selected for this chat or cannot be used right now.` : ''),
      );
    }
    if (call.invalidInput) {
      return toolError(`${call.invalidInput.message} Call ${call.name} again with its arguments as one JSON object.`);
    }
    if (ctx.signal.aborted) return interrupted();
    const heartbeat = setInterval(() => ctx.heartbeat(), this.options.heartbeatMs ?? 5_000);
    const options = {
      signal: ctx.signal,
      timeoutMs: this.options.callTimeoutMs,
      maxTotalMs: this.options.maxCallMs,
      onProgress: () => ctx.heartbeat(),
    };
    try {
      let result;
      try {
        result = await route.connection.callTool(route.tool, call.input, options);
      } catch (err) {
        // The server forgot the session (it restarted): the call never ran, so it is safe to send again.
        if (!(err instanceof StreamableHTTPError && err.code === 404) || ctx.signal.aborted) throw err;
        await this.options.pool.discard(route.connection);
        const fresh = await this.options.pool.connection(route.spec);
        result = await fresh.callTool(route.tool, call.input, options);
      }
      if (ctx.signal.aborted) return interrupted();
      return toToolOutput(result);
    } catch (err) {
      if (ctx.signal.aborted) return interrupted();
      return toolError(callFailure(route.config, err, this.options.callTimeoutMs));
    } finally {
      clearInterval(heartbeat);
    }
  }
}

const interrupted = (): ToolOutput => ({ result: { ...INTERRUPTED_RESULT }, isError: true });

/** The error result of a call that got no result, by the SDK's error codes. */
export function callFailure(config: McpServerConfig, err: unknown, timeoutMs: number): string {
  const server = `The MCP server "${config.displayName}"`;
  if (err instanceof McpError) {
    if (err.code === ErrorCode.RequestTimeout) {
      return `${server} did not answer within ${Math.round(timeoutMs / 1000)} s (or the call ran too long); it may still be working on it.`;
    }
    if (err.code === ErrorCode.ConnectionClosed) {
      return `${server} closed the connection during the call (it may have stopped); the call's outcome is unknown.`;
    }
    return `${server} refused the call: ${shorten(err)}`;
  }
  return `The call to ${server} failed: ${shorten(err)}`;
}

/** The provider-neutral spec of one MCP tool. */
function toSpec(name: string, config: McpServerConfig, tool: Tool): ToolSpec {
  const { $schema: _dialect, ...schema } = structuredClone(tool.inputSchema) as JsonSchema;
  const about = tool.description ?? tool.title ?? tool.annotations?.title ?? '';
  return {
    name,
    description: `[MCP server "${config.displayName}"] ${about}`.trim().slice(0, 4096),
    inputSchema: { ...schema, type: 'object' },
  };
}
