/**
 * Which MCP servers a chat uses (docs/mcp.md "Per chat"): the ids a request names, or the `default_on`
 * servers when it names none, always with every `force_on` server. Every named id must be an enabled
 * server; otherwise the request is refused before anything is written.
 */
import type { Transaction } from 'kysely';
import type { Database } from '../db/database';
import { listMcpServers } from '../db/repositories/mcp-servers.repository';
import { ValidationError } from '../errors';

/**
 * The chat's server ids, named ones first, in request order, without duplicates. Throws ValidationError
 * `mcp_server_not_found` (details: the ids) for unknown or disabled servers.
 */
export async function resolveMcpSelection(
  trx: Transaction<Database>,
  requested: readonly string[] | undefined,
): Promise<string[]> {
  const servers = await listMcpServers(trx, { enabledOnly: true });
  const enabled = new Set(servers.map((s) => s.id));
  if (requested) {
    const unknown = [...new Set(requested.filter((id) => !enabled.has(id)))];
    if (unknown.length > 0) {
      throw new ValidationError(
        `Unknown or disabled MCP server${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}.`,
        { mcp_server_ids: unknown },
        'mcp_server_not_found',
      );
    }
  }
  const chosen = requested ?? servers.filter((s) => s.availability === 'default_on').map((s) => s.id);
  const forced = servers.filter((s) => s.availability === 'force_on').map((s) => s.id);
  return [...new Set([...chosen, ...forced])];
}
