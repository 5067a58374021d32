/** MCP servers (GET/POST /admin/mcp-servers, PATCH/DELETE /admin/mcp-servers/{id}); the form is mcp-server-form.tsx. */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient } from '../../../src/client';
import { ErrorText, LoadState, useAction, useResource, RowActions } from './common';
import { McpServerForm, type McpServer } from './mcp-server-form';

const AVAILABILITY: Record<McpServer['availability'], string> = {
  force_on: 'every chat',
  default_on: 'on by default',
  default_off: 'off by default',
};

export function McpServers({ client }: { client: ChatdClient }) {
  const servers = useResource(async () => unwrap(await client.api.GET('/admin/mcp-servers')));
  const [editing, setEditing] = useState<string | null>(null);
  const action = useAction();

  const toggle = (server: McpServer): void =>
    void action
      .run(async () =>
        unwrap(
          await client.api.PATCH('/admin/mcp-servers/{id}', {
            params: { path: { id: server.id } },
            body: { enabled: !server.enabled },
          }),
        ),
      )
      .then(servers.reload);
  const remove = (server: McpServer): void => {
    if (!confirm(`Delete ${server.display_name}? Users' tokens for it are deleted and chats lose it.`)) return;
    void action
      .run(async () =>
        unwrap(await client.api.DELETE('/admin/mcp-servers/{id}', { params: { path: { id: server.id } } })),
      )
      .then(servers.reload);
  };
  const current = servers.data?.find((s) => s.id === editing);

  return (
    <>
      <h2>MCP servers</h2>
      <LoadState resource={servers} />
      <ErrorText error={action.error} />
      {servers.data && servers.data.length === 0 && <p class="muted">No MCP servers yet.</p>}
      {servers.data && servers.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">URL</th>
                <th scope="col">Auth</th>
                <th scope="col">Offered</th>
                <th scope="col">Approval</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {servers.data.map((s) => (
                <tr key={s.id}>
                  <td>
                    {s.display_name} <code>{s.slug}</code>
                    {!s.enabled && <span class="chip">disabled</span>}
                  </td>
                  <td class="wrap">
                    {s.url} <span class="muted">({s.transport})</span>
                  </td>
                  <td>
                    {s.auth.type}
                    {s.auth.type === 'api_key' && !s.auth.has_api_key && <span class="muted"> (no key)</span>}
                  </td>
                  <td>{AVAILABILITY[s.availability]}</td>
                  <td>
                    {s.approval}
                    {Object.keys(s.tool_approval).length > 0 && (
                      <span class="muted"> ({Object.keys(s.tool_approval).length} overrides)</span>
                    )}
                  </td>
                  <td class="actions">
                    <RowActions
                      enabled={s.enabled}
                      busy={action.busy}
                      onToggle={() => toggle(s)}
                      onEdit={() => setEditing(editing === s.id ? null : s.id)}
                      onDelete={() => remove(s)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {current && (
        <McpServerForm
          key={current.id}
          client={client}
          server={current}
          onDone={() => (setEditing(null), servers.reload())}
        />
      )}
      <McpServerForm key="new" client={client} onDone={servers.reload} />
    </>
  );
}
