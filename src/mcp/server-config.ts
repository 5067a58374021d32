/** Maps a stored MCP server row to the configuration the rest of chatd works with (secrets stay sealed). */
import type { McpServerRow } from '../db/database';
import type { McpServerConfig } from './types';

export function toMcpServerConfig(row: McpServerRow): McpServerConfig {
  return {
    id: row.id,
    slug: row.slug,
    displayName: row.display_name,
    description: row.description,
    url: row.url,
    transport: row.transport,
    authType: row.auth_type,
    apiKeyHeader: row.api_key_header,
    headerNames: row.header_names,
    oauth2:
      row.auth_type === 'oauth2' && row.oauth2_client_id
        ? {
            clientId: row.oauth2_client_id,
            scopes: row.oauth2_scopes,
            ...(row.oauth2_authorization_url ? { authorizationUrl: row.oauth2_authorization_url } : {}),
            ...(row.oauth2_token_url ? { tokenUrl: row.oauth2_token_url } : {}),
          }
        : null,
    availability: row.availability,
    toolAllowList: row.tool_allow_list,
    toolDenyList: row.tool_deny_list,
    approval: row.approval,
    toolApproval: row.tool_approval ?? {},
    enabled: row.enabled,
    updatedAt: row.updated_at,
  };
}
