/**
 * Adds an MCP server (POST /admin/mcp-servers) or edits one (PATCH /admin/mcp-servers/{id}). Secrets
 * are write-only: on edit the auth configuration is sent only when its fields were touched, and a
 * secret left empty keeps the stored one (the API keeps secrets while the auth type stays).
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type components, type paths } from '../../../src/client';
import { ErrorText, useAction } from './common';

export type McpServer = components['schemas']['McpServer'];
type CreateBody = paths['/admin/mcp-servers']['post']['requestBody']['content']['application/json'];
type Auth = NonNullable<CreateBody['auth']>;
type AuthType = Auth['type'];
type Policy = 'auto' | 'ask';

/** `a, b c` → `['a', 'b', 'c']`. */
const words = (text: string): string[] => text.split(/[\s,]+/).filter(Boolean);

/** `name: value` lines → a record; lines without a colon are skipped. */
function pairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (at > 0) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

export function McpServerForm({
  client,
  server,
  onDone,
}: {
  client: ChatdClient;
  server?: McpServer;
  onDone: () => void;
}) {
  const id = server ? `mcp-edit-${server.id}` : 'mcp-new';
  const initial = {
    slug: server?.slug ?? '',
    displayName: server?.display_name ?? '',
    description: server?.description ?? '',
    url: server?.url ?? '',
    transport: server?.transport ?? 'streamable_http',
    availability: server?.availability ?? 'default_off',
    approval: server?.approval ?? 'auto',
    toolApproval: Object.entries(server?.tool_approval ?? {})
      .map(([tool, policy]) => `${tool}: ${policy}`)
      .join('\n'),
    allow: (server?.tool_allow_list ?? []).join(', '),
    deny: (server?.tool_deny_list ?? []).join(', '),
    enabled: server?.enabled ?? true,
    authType: (server?.auth.type ?? 'none') as AuthType,
    header: server?.auth.header ?? '',
    secret: '',
    headers: (server?.auth.header_names ?? []).map((name) => `${name}: `).join('\n'),
    clientId: server?.auth.client_id ?? '',
    scopes: (server?.auth.scopes ?? []).join(' '),
    authorizationUrl: server?.auth.authorization_url ?? '',
    tokenUrl: server?.auth.token_url ?? '',
  };
  const [form, setForm] = useState(initial);
  const [authTouched, setAuthTouched] = useState(!server);
  const action = useAction();
  const set = <K extends keyof typeof initial>(key: K, value: (typeof initial)[K], auth = false): void => {
    setForm({ ...form, [key]: value });
    if (auth) setAuthTouched(true);
  };

  const auth = (): Auth => {
    switch (form.authType) {
      case 'none':
        return { type: 'none' };
      case 'api_key':
        return {
          type: 'api_key',
          ...(form.header.trim() ? { header: form.header.trim() } : {}),
          ...(form.secret ? { value: form.secret } : {}),
        };
      case 'headers':
        return { type: 'headers', headers: pairs(form.headers) };
      case 'oauth2':
        return {
          type: 'oauth2',
          client_id: form.clientId.trim(),
          ...(form.secret ? { client_secret: form.secret } : {}),
          scopes: words(form.scopes),
          ...(form.authorizationUrl.trim() ? { authorization_url: form.authorizationUrl.trim() } : {}),
          ...(form.tokenUrl.trim() ? { token_url: form.tokenUrl.trim() } : {}),
        };
    }
  };

  const submit = async (): Promise<void> => {
    const body: CreateBody = {
      slug: form.slug.trim(),
      display_name: form.displayName.trim(),
      description: form.description.trim(),
      url: form.url.trim(),
      transport: form.transport,
      availability: form.availability,
      approval: form.approval,
      tool_approval: pairs(form.toolApproval) as Record<string, Policy>,
      tool_allow_list: words(form.allow),
      tool_deny_list: words(form.deny),
      enabled: form.enabled,
      ...(authTouched ? { auth: auth() } : {}),
    };
    const ok = await action.run(async () =>
      server
        ? unwrap(await client.api.PATCH('/admin/mcp-servers/{id}', { params: { path: { id: server.id } }, body }))
        : unwrap(await client.api.POST('/admin/mcp-servers', { body })),
    );
    if (!ok) return;
    if (!server) setForm(initial);
    onDone();
  };

  const field = (key: 'slug' | 'displayName' | 'description' | 'url', label: string, required = false) => {
    const props = { id: `${id}-${key}`, required, value: form[key] };
    const onInput = (e: { currentTarget: HTMLInputElement }): void => set(key, e.currentTarget.value);
    return (
      <>
        <label for={props.id}>{label}</label>
        {key === 'url' ? <input type="url" {...props} onInput={onInput} /> : <input {...props} onInput={onInput} />}
      </>
    );
  };
  const authField = (
    key: 'header' | 'secret' | 'clientId' | 'scopes' | 'authorizationUrl' | 'tokenUrl',
    label: string,
  ) => {
    const props = { id: `${id}-${key}`, autocomplete: 'off', value: form[key] };
    const onInput = (e: { currentTarget: HTMLInputElement }): void => set(key, e.currentTarget.value, true);
    return (
      <>
        <label for={props.id}>{label}</label>
        {key === 'secret' ? (
          <input type="password" {...props} onInput={onInput} />
        ) : (
          <input {...props} onInput={onInput} />
        )}
      </>
    );
  };
  const keepHint = server ? ' (empty: keep the stored one)' : '';

  return (
    <form class="admin-form" aria-labelledby={`${id}-title`} onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id={`${id}-title`}>{server ? `Edit ${server.display_name}` : 'Add an MCP server'}</h3>
      {field('slug', 'Slug (tool name prefix)', true)}
      {field('displayName', 'Display name', true)}
      {field('description', 'Description')}
      {field('url', 'URL', true)}
      <label for={`${id}-transport`}>Transport</label>
      <select
        id={`${id}-transport`}
        value={form.transport}
        onChange={(e) => set('transport', e.currentTarget.value as McpServer['transport'])}
      >
        <option value="streamable_http">Streamable HTTP</option>
        <option value="sse">SSE</option>
      </select>
      <fieldset>
        <legend>Authentication</legend>
        <label for={`${id}-auth`}>Type</label>
        <select
          id={`${id}-auth`}
          value={form.authType}
          onChange={(e) => set('authType', e.currentTarget.value as AuthType, true)}
        >
          <option value="none">None</option>
          <option value="api_key">API key header</option>
          <option value="headers">Custom headers</option>
          <option value="oauth2">OAuth 2 (each user connects)</option>
        </select>
        {form.authType === 'api_key' && (
          <>
            {authField('header', 'Header (default Authorization)')}
            {authField('secret', `Header value, e.g. Bearer …${keepHint}`)}
          </>
        )}
        {form.authType === 'headers' && (
          <>
            <label for={`${id}-headers`}>
              Headers, one "Name: value" a line (values are write-only: enter them all)
            </label>
            <textarea
              id={`${id}-headers`}
              rows={3}
              value={form.headers}
              onInput={(e) => set('headers', e.currentTarget.value, true)}
            />
          </>
        )}
        {form.authType === 'oauth2' && (
          <>
            {authField('clientId', 'Client id')}
            {authField('secret', `Client secret (confidential clients)${keepHint}`)}
            {authField('scopes', 'Scopes (space-separated)')}
            {authField('authorizationUrl', 'Authorization URL (empty: discovered)')}
            {authField('tokenUrl', 'Token URL (empty: discovered)')}
          </>
        )}
      </fieldset>
      <label for={`${id}-availability`}>Offered to chats</label>
      <select
        id={`${id}-availability`}
        value={form.availability}
        onChange={(e) => set('availability', e.currentTarget.value as McpServer['availability'])}
      >
        <option value="default_off">Only chats that choose it</option>
        <option value="default_on">Chosen for new chats by default</option>
        <option value="force_on">Every chat</option>
      </select>
      <label for={`${id}-approval`}>Tool calls</label>
      <select
        id={`${id}-approval`}
        value={form.approval}
        onChange={(e) => set('approval', e.currentTarget.value as Policy)}
      >
        <option value="auto">Run at once</option>
        <option value="ask">Ask for approval</option>
      </select>
      <label for={`${id}-tool-approval`}>Per-tool approval, one "tool: auto|ask" a line</label>
      <textarea
        id={`${id}-tool-approval`}
        rows={2}
        value={form.toolApproval}
        onInput={(e) => set('toolApproval', e.currentTarget.value)}
      />
      <label for={`${id}-allow`}>Only these tools (comma-separated; empty: all)</label>
      <input id={`${id}-allow`} value={form.allow} onInput={(e) => set('allow', e.currentTarget.value)} />
      <label for={`${id}-deny`}>Never these tools</label>
      <input id={`${id}-deny`} value={form.deny} onInput={(e) => set('deny', e.currentTarget.value)} />
      <label class="inline">
        <input type="checkbox" checked={form.enabled} onChange={(e) => set('enabled', e.currentTarget.checked)} />
        Enabled
      </label>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          {server ? 'Save' : 'Add server'}
        </button>
        {server && (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
      <ErrorText error={action.error} />
    </form>
  );
}
