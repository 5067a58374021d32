/**
 * Chat providers (GET/POST /chat-providers, PATCH/DELETE /chat-providers/{id}). Keys are write-only:
 * the API says only whether one is stored (has_api_key) and is sent to the current URL (api_key_confirmed).
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type components } from '../../../src/client';
import { ErrorText, LoadState, useAction, useResource, RowActions } from './common';

type Provider = components['schemas']['ChatProvider'];
type Kind = Provider['provider'];
type ApiMode = 'responses' | 'chat';

const KINDS: Array<{ value: Kind; label: string }> = [
  { value: 'openai', label: 'OpenAI' },
  { value: 'anthropic', label: 'Anthropic' },
  { value: 'openai-compat', label: 'OpenAI-compatible' },
];

export function Providers({ client }: { client: ChatdClient }) {
  const providers = useResource(async () => unwrap(await client.api.GET('/chat-providers')));
  const [editing, setEditing] = useState<string | null>(null);
  const action = useAction();

  const update = (id: string, body: { enabled: boolean }): void =>
    void action
      .run(async () => unwrap(await client.api.PATCH('/chat-providers/{id}', { params: { path: { id } }, body })))
      .then(providers.reload);
  const remove = (provider: Provider): void => {
    if (
      !confirm(
        `Delete ${provider.display_name || provider.provider}? Its key is erased and its model configs are deleted.`,
      )
    )
      return;
    void action
      .run(async () =>
        unwrap(await client.api.DELETE('/chat-providers/{id}', { params: { path: { id: provider.id } } })),
      )
      .then(providers.reload);
  };
  const current = providers.data?.find((p) => p.id === editing);

  return (
    <>
      <h2>Providers</h2>
      <LoadState resource={providers} />
      <ErrorText error={action.error} />
      {providers.data && providers.data.length === 0 && <p class="muted">No providers yet.</p>}
      {providers.data && providers.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Kind</th>
                <th scope="col">Base URL</th>
                <th scope="col">API key</th>
                <th scope="col">Enabled</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {providers.data.map((p) => (
                <tr key={p.id}>
                  <td>{p.display_name || p.provider}</td>
                  <td>
                    {p.provider}
                    {p.api_mode && <span class="muted"> ({p.api_mode})</span>}
                  </td>
                  <td class="wrap">{p.base_url ?? <span class="muted">default</span>}</td>
                  <td>{!p.has_api_key ? 'none' : p.api_key_confirmed ? 'stored' : 'stored, unconfirmed'}</td>
                  <td>{p.enabled ? 'yes' : 'no'}</td>
                  <td class="actions">
                    <RowActions
                      enabled={p.enabled}
                      busy={action.busy}
                      onToggle={() => update(p.id, { enabled: !p.enabled })}
                      onEdit={() => setEditing(editing === p.id ? null : p.id)}
                      onDelete={() => remove(p)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {current && (
        <EditProvider
          key={current.id}
          client={client}
          provider={current}
          onDone={() => (setEditing(null), providers.reload())}
        />
      )}
      <CreateProvider client={client} onCreated={providers.reload} />
    </>
  );
}

function CreateProvider({ client, onCreated }: { client: ChatdClient; onCreated: () => void }) {
  const [kind, setKind] = useState<Kind>('openai');
  const [name, setName] = useState('');
  const [baseUrl, setBaseUrl] = useState('');
  const [apiMode, setApiMode] = useState<ApiMode | ''>('');
  const [apiKey, setApiKey] = useState('');
  const action = useAction();
  const submit = async (): Promise<void> => {
    const ok = await action.run(async () =>
      unwrap(
        await client.api.POST('/chat-providers', {
          body: {
            provider: kind,
            ...(name.trim() ? { display_name: name.trim() } : {}),
            ...(baseUrl.trim() ? { base_url: baseUrl.trim() } : {}),
            ...(apiMode && kind !== 'anthropic' ? { api_mode: apiMode } : {}),
            ...(apiKey ? { api_key: apiKey } : {}),
          },
        }),
      ),
    );
    if (!ok) return;
    setName('');
    setBaseUrl('');
    setApiKey('');
    setApiMode('');
    onCreated();
  };
  return (
    <form class="admin-form" aria-labelledby="provider-new-title" onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id="provider-new-title">Add a provider</h3>
      <label for="provider-new-kind">Kind</label>
      <select id="provider-new-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>
        {KINDS.map((k) => (
          <option key={k.value} value={k.value}>
            {k.label}
          </option>
        ))}
      </select>
      <label for="provider-new-name">Display name</label>
      <input id="provider-new-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="provider-new-url">Base URL{kind === 'openai-compat' ? '' : ' (optional)'}</label>
      <input
        id="provider-new-url"
        type="url"
        placeholder="https://…/v1"
        required={kind === 'openai-compat'}
        value={baseUrl}
        onInput={(e) => setBaseUrl(e.currentTarget.value)}
      />
      {kind !== 'anthropic' && (
        <>
          <label for="provider-new-mode">API mode</label>
          <select id="provider-new-mode" value={apiMode} onChange={(e) => setApiMode(e.currentTarget.value as ApiMode)}>
            <option value="">Default (Responses)</option>
            <option value="responses">Responses</option>
            <option value="chat">Chat Completions</option>
          </select>
        </>
      )}
      <label for="provider-new-key">API key</label>
      <input
        id="provider-new-key"
        type="password"
        autocomplete="off"
        value={apiKey}
        onInput={(e) => setApiKey(e.currentTarget.value)}
      />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Add provider
        </button>
      </div>
      <ErrorText error={action.error} />
    </form>
  );
}

function EditProvider({ client, provider, onDone }: { client: ChatdClient; provider: Provider; onDone: () => void }) {
  const [name, setName] = useState(provider.display_name);
  const [baseUrl, setBaseUrl] = useState(provider.base_url ?? '');
  const [apiKey, setApiKey] = useState('');
  const [keyChange, setKeyChange] = useState<'keep' | 'confirm' | 'remove'>('keep');
  const action = useAction();
  const id = `provider-edit-${provider.id}`;
  const submit = async (): Promise<void> => {
    const url = baseUrl.trim() || null;
    const ok = await action.run(async () =>
      unwrap(
        await client.api.PATCH('/chat-providers/{id}', {
          params: { path: { id: provider.id } },
          body: {
            display_name: name.trim(),
            ...(url !== provider.base_url ? { base_url: url } : {}),
            ...(apiKey ? { api_key: apiKey } : keyChange === 'remove' ? { api_key: null } : {}),
            ...(!apiKey && keyChange === 'confirm' ? { confirm_api_key: true } : {}),
          },
        }),
      ),
    );
    if (ok) onDone();
  };
  return (
    <form class="admin-form" aria-labelledby={`${id}-title`} onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id={`${id}-title`}>Edit {provider.display_name || provider.provider}</h3>
      <label for={`${id}-name`}>Display name</label>
      <input id={`${id}-name`} required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for={`${id}-url`}>Base URL</label>
      <input id={`${id}-url`} type="url" value={baseUrl} onInput={(e) => setBaseUrl(e.currentTarget.value)} />
      <label for={`${id}-key`}>New API key (leave empty to keep the stored one)</label>
      <input
        id={`${id}-key`}
        type="password"
        autocomplete="off"
        value={apiKey}
        onInput={(e) => setApiKey(e.currentTarget.value)}
      />
      {provider.has_api_key && !apiKey && (
        <fieldset>
          <legend>Stored key</legend>
          <label class="inline">
            <input
              type="radio"
              name={`${id}-keep`}
              checked={keyChange === 'keep'}
              onChange={() => setKeyChange('keep')}
            />
            Keep
          </label>
          <label class="inline">
            <input
              type="radio"
              name={`${id}-keep`}
              checked={keyChange === 'confirm'}
              onChange={() => setKeyChange('confirm')}
            />
            Keep and send it to this base URL
          </label>
          <label class="inline">
            <input
              type="radio"
              name={`${id}-keep`}
              checked={keyChange === 'remove'}
              onChange={() => setKeyChange('remove')}
            />
            Remove
          </label>
        </fieldset>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Save
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
      <ErrorText error={action.error} />
    </form>
  );
}
