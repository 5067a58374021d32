/**
 * The MCP servers as a member sees them (the enabled ones, whether they are connected to each OAuth
 * server) and the member's side of OAuth: connect and disconnect. The flow itself is oauth.ts.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { findMcpServer, listConnectedServerIds, listMcpServers } from '../db/repositories/mcp-servers.repository';
import { NotFoundError, ValidationError } from '../errors';
import type { Actor } from '../security/actor';
import type { McpOAuth } from './oauth';
import { toMcpServerConfig } from './server-config';
import type { McpAuthType, McpAvailability } from './types';

export interface UserMcpServerDto {
  id: string;
  slug: string;
  display_name: string;
  description: string;
  auth_type: McpAuthType;
  availability: McpAvailability;
  /** `oauth2` servers: whether the caller has connected their account; null for other servers. */
  connected: boolean | null;
}

/** The enabled servers, oldest first, with the caller's connection state. */
export async function listServersForUser(db: Kysely<Database>, actor: Actor): Promise<UserMcpServerDto[]> {
  const [rows, connected] = await Promise.all([
    listMcpServers(db, { enabledOnly: true }),
    listConnectedServerIds(db, actor.id),
  ]);
  return rows.map((row) => ({
    id: row.id,
    slug: row.slug,
    display_name: row.display_name,
    description: row.description,
    auth_type: row.auth_type,
    availability: row.availability,
    connected: row.auth_type === 'oauth2' ? connected.has(row.id) : null,
  }));
}

/** An enabled OAuth server; NotFoundError when unknown or disabled, ValidationError for other auth types. */
async function oauthServer(db: Kysely<Database>, id: string) {
  const row = await findMcpServer(db, id);
  if (!row || !row.enabled) throw new NotFoundError('mcp_server');
  if (row.auth_type !== 'oauth2') {
    throw new ValidationError('This MCP server does not use OAuth.', undefined, 'mcp_server_not_oauth');
  }
  return row;
}

/**
 * Starts connecting the caller's account: the authorization URL to open (in a browser), valid for 10
 * minutes; the authorization server redirects to `redirectUri` (the callback route) afterwards.
 */
export async function connectServer(
  db: Kysely<Database>,
  oauth: McpOAuth,
  actor: Actor,
  serverId: string,
  redirectUri: string,
): Promise<{ authorization_url: string; expires_at: string }> {
  const row = await oauthServer(db, serverId);
  const started = await oauth.beginAuthorization(toMcpServerConfig(row), row, actor.id, redirectUri);
  return { authorization_url: started.authorizationUrl, expires_at: started.expiresAt.toISOString() };
}

/** Forgets the caller's tokens for the server. NotFoundError when the caller was not connected. */
export async function disconnectServer(
  db: Kysely<Database>,
  oauth: McpOAuth,
  actor: Actor,
  serverId: string,
): Promise<void> {
  await oauthServer(db, serverId);
  if (!(await oauth.disconnect(serverId, actor.id))) throw new NotFoundError('mcp_connection');
}
