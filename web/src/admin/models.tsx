/**
 * Model configs (GET/POST /model-configs, PATCH/DELETE /model-configs/{id}) with their prices in
 * USD per million tokens; a price left empty leaves that usage unpriced, not free.
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type ModelConfig, type components } from '../../../src/client';
import { ErrorText, LoadState, optionalNumber, useAction, useResource, RowActions } from './common';

type Provider = components['schemas']['ChatProvider'];
type Cost = NonNullable<ModelConfig['options']['cost']>;

const PRICES: Array<{ key: keyof Cost; label: string }> = [
  { key: 'input_price_per_million_tokens', label: 'Input' },
  { key: 'output_price_per_million_tokens', label: 'Output' },
  { key: 'cache_read_price_per_million_tokens', label: 'Cache read' },
  { key: 'cache_write_price_per_million_tokens', label: 'Cache write' },
];

export function Models({ client }: { client: ChatdClient }) {
  const configs = useResource(async () => unwrap(await client.api.GET('/model-configs')));
  const providers = useResource(async () => unwrap(await client.api.GET('/chat-providers')));
  const [editing, setEditing] = useState<string | null>(null);
  const action = useAction();
  const providerName = (id: string): string => {
    const provider = providers.data?.find((p) => p.id === id);
    return provider ? provider.display_name || provider.provider : id;
  };

  const patch = (id: string, body: { is_default?: boolean; enabled?: boolean }): void =>
    void action
      .run(async () => unwrap(await client.api.PATCH('/model-configs/{id}', { params: { path: { id } }, body })))
      .then(configs.reload);
  const remove = (config: ModelConfig): void => {
    if (!confirm(`Delete ${config.display_name}? Its past messages and costs stay.`)) return;
    void action
      .run(async () => unwrap(await client.api.DELETE('/model-configs/{id}', { params: { path: { id: config.id } } })))
      .then(configs.reload);
  };
  const current = configs.data?.find((c) => c.id === editing);

  return (
    <>
      <h2>Models</h2>
      <LoadState resource={configs} />
      <ErrorText error={action.error ?? providers.error} />
      {configs.data && configs.data.length === 0 && <p class="muted">No model configs yet.</p>}
      {configs.data && configs.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Model</th>
                <th scope="col">Provider</th>
                <th scope="col">Context</th>
                <th scope="col">$ / M in · out</th>
                <th scope="col">Status</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {configs.data.map((c) => (
                <tr key={c.id}>
                  <td>{c.display_name}</td>
                  <td class="wrap">{c.model}</td>
                  <td>{providerName(c.provider_id)}</td>
                  <td>{c.context_limit.toLocaleString()}</td>
                  <td>
                    {c.options.cost?.input_price_per_million_tokens ?? '—'} ·{' '}
                    {c.options.cost?.output_price_per_million_tokens ?? '—'}
                  </td>
                  <td>
                    {c.is_default && <span class="chip">default</span>}
                    {!c.enabled && <span class="chip">disabled</span>}
                  </td>
                  <td class="actions">
                    {!c.is_default && (
                      <button type="button" disabled={action.busy} onClick={() => patch(c.id, { is_default: true })}>
                        Make default
                      </button>
                    )}
                    <RowActions
                      enabled={c.enabled}
                      busy={action.busy}
                      onToggle={() => patch(c.id, { enabled: !c.enabled })}
                      onEdit={() => setEditing(editing === c.id ? null : c.id)}
                      onDelete={() => remove(c)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {current && (
        <ModelForm
          key={current.id}
          client={client}
          providers={providers.data ?? []}
          config={current}
          onDone={() => (setEditing(null), configs.reload())}
        />
      )}
      <ModelForm key="new" client={client} providers={providers.data ?? []} onDone={configs.reload} />
    </>
  );
}

/** Creates a model config, or edits `config`. */
function ModelForm({
  client,
  providers,
  config,
  onDone,
}: {
  client: ChatdClient;
  providers: Provider[];
  config?: ModelConfig;
  onDone: () => void;
}) {
  const id = config ? `model-edit-${config.id}` : 'model-new';
  const [providerId, setProviderId] = useState(config?.provider_id ?? '');
  const [model, setModel] = useState(config?.model ?? '');
  const [name, setName] = useState(config?.display_name ?? '');
  const [context, setContext] = useState(config ? String(config.context_limit) : '128000');
  const [prices, setPrices] = useState<Record<string, string>>(() =>
    Object.fromEntries(PRICES.map((p) => [p.key, String(config?.options.cost?.[p.key] ?? '')])),
  );
  const [isDefault, setIsDefault] = useState(config?.is_default ?? false);
  const action = useAction();
  const chosenProvider = providerId || providers[0]?.id || '';

  const submit = async (): Promise<void> => {
    const cost: Cost = {};
    for (const p of PRICES) {
      const value = optionalNumber(prices[p.key] ?? '');
      if (value !== undefined) cost[p.key] = value;
    }
    const body = {
      provider_id: chosenProvider,
      model: model.trim(),
      ...(name.trim() ? { display_name: name.trim() } : {}),
      context_limit: Number(context),
      // PATCH replaces the whole options object: keep the call options and web search as they are.
      options: { ...config?.options, cost },
      ...(isDefault !== (config?.is_default ?? false) ? { is_default: isDefault } : {}),
    };
    const ok = await action.run(async () =>
      config
        ? unwrap(await client.api.PATCH('/model-configs/{id}', { params: { path: { id: config.id } }, body }))
        : unwrap(await client.api.POST('/model-configs', { body })),
    );
    if (!ok) return;
    if (!config) {
      setModel('');
      setName('');
      setPrices(Object.fromEntries(PRICES.map((p) => [p.key, ''])));
      setIsDefault(false);
    }
    onDone();
  };

  return (
    <form class="admin-form" aria-labelledby={`${id}-title`} onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id={`${id}-title`}>{config ? `Edit ${config.display_name}` : 'Add a model'}</h3>
      <label for={`${id}-provider`}>Provider</label>
      <select
        id={`${id}-provider`}
        required
        value={chosenProvider}
        onChange={(e) => setProviderId(e.currentTarget.value)}
      >
        {providers.length === 0 && <option value="">Add a provider first</option>}
        {providers.map((p) => (
          <option key={p.id} value={p.id}>
            {p.display_name || p.provider} ({p.provider})
          </option>
        ))}
      </select>
      <label for={`${id}-model`}>Model id</label>
      <input
        id={`${id}-model`}
        required
        placeholder="gpt-5-mini"
        value={model}
        onInput={(e) => setModel(e.currentTarget.value)}
      />
      <label for={`${id}-name`}>Display name (optional)</label>
      <input id={`${id}-name`} value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for={`${id}-context`}>Context limit (tokens)</label>
      <input
        id={`${id}-context`}
        type="number"
        min="1"
        step="1"
        required
        value={context}
        onInput={(e) => setContext(e.currentTarget.value)}
      />
      <fieldset>
        <legend>Prices (USD per million tokens; empty: unpriced)</legend>
        <div class="price-grid">
          {PRICES.map((p) => (
            <div key={p.key}>
              <label for={`${id}-${p.key}`}>{p.label}</label>
              <input
                id={`${id}-${p.key}`}
                type="number"
                min="0"
                step="any"
                value={prices[p.key]}
                onInput={(e) => setPrices({ ...prices, [p.key]: e.currentTarget.value })}
              />
            </div>
          ))}
        </div>
      </fieldset>
      <label class="inline">
        <input type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.currentTarget.checked)} />
        Default model
      </label>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy || !chosenProvider}>
          {config ? 'Save' : 'Add model'}
        </button>
        {config && (
          <button type="button" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
      <ErrorText error={action.error} />
    </form>
  );
}
