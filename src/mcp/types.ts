/**
 * The MCP server configuration as the rest of chatd sees it (camelCase, secrets opened), shared by the
 * admin service, the OAuth flow and the worker's tool catalog. Row types stay in src/db.
 */
import type { ToolApprovalPolicy } from '../turn/chat-tools';

export type McpTransport = 'streamable_http' | 'sse';
export type McpAuthType = 'none' | 'api_key' | 'headers' | 'oauth2';
/** `force_on`: in every chat; `default_on`: preselected for new chats; `default_off`: chosen per chat. */
export type McpAvailability = 'force_on' | 'default_on' | 'default_off';

/** The secret parts of a server's configuration; stored sealed (secrets.ts), never returned by the API. */
export interface McpServerSecrets {
  /** `api_key` servers: the value of the key header. */
  apiKey?: string;
  /** `headers` servers: header name → value. */
  headers?: Record<string, string>;
  /** `oauth2` servers: the client secret of a confidential client. */
  clientSecret?: string;
}

export interface McpOAuthSettings {
  clientId: string;
  scopes: string[];
  /** Configured endpoints; undefined: discovered from the server's OAuth metadata. */
  authorizationUrl?: string;
  tokenUrl?: string;
}

export interface McpServerConfig {
  id: string;
  slug: string;
  displayName: string;
  description: string;
  url: string;
  transport: McpTransport;
  authType: McpAuthType;
  apiKeyHeader: string | null;
  headerNames: string[];
  oauth2: McpOAuthSettings | null;
  availability: McpAvailability;
  toolAllowList: string[];
  toolDenyList: string[];
  approval: ToolApprovalPolicy;
  toolApproval: Record<string, ToolApprovalPolicy>;
  enabled: boolean;
  /** Changes with every update: connections made for an older version are not reused. */
  updatedAt: Date;
}
