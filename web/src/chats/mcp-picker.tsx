/**
 * Which MCP servers a chat offers tools from (GET /mcp-servers): `force_on` servers are always on and
 * shown disabled; the others are checkboxes. OAuth servers the caller has not connected are marked.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ChatdClient, components } from '../../../src/client';

type UserMcpServer = components['schemas']['UserMcpServer'];

export function useMcpServers(client: ChatdClient): UserMcpServer[] {
  const [servers, setServers] = useState<UserMcpServer[]>([]);
  useEffect(() => {
    void client.api.GET('/mcp-servers').then((r) => r.data && setServers(r.data));
  }, [client]);
  return servers;
}

/** The ids a new chat starts with: the `default_on` and `force_on` servers. */
export function defaultMcpSelection(servers: UserMcpServer[]): string[] {
  return servers.filter((s) => s.availability !== 'default_off').map((s) => s.id);
}

export function McpPicker({
  servers,
  selected,
  onChange,
}: {
  servers: UserMcpServer[];
  selected: readonly string[];
  onChange: (ids: string[]) => void;
}) {
  if (servers.length === 0) return null;
  return (
    <fieldset class="mcp-picker">
      <legend>MCP servers</legend>
      {servers.map((server) => {
        const forced = server.availability === 'force_on';
        return (
          <label key={server.id} class="inline" title={server.description}>
            <input
              type="checkbox"
              checked={forced || selected.includes(server.id)}
              disabled={forced}
              onChange={(e) =>
                onChange(e.currentTarget.checked ? [...selected, server.id] : selected.filter((id) => id !== server.id))
              }
            />{' '}
            {server.display_name}
            {server.connected === false && <span class="muted"> (not connected)</span>}
          </label>
        );
      })}
    </fieldset>
  );
}
