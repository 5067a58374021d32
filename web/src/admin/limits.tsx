/**
 * Spend limits (GET/PUT /usage-limits, PUT/DELETE /usage-limits/users/{id} and /usage-limits/groups/{id}),
 * in dollars on screen and micro-dollars on the wire, followed by what the chats cost (costs.tsx).
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type components } from '../../../src/client';
import { ErrorText, LoadState, formatUsd, parseUsd, useAction, useResource, usdInput, type Resource } from './common';
import { Costs } from './costs';

type UsageLimits = components['schemas']['UsageLimits'];
type Period = UsageLimits['period'];

const INVALID_AMOUNT = 'Enter the limit in dollars, e.g. 5 or 2.50.';

export function Limits({ client }: { client: ChatdClient }) {
  const limits = useResource(async () => unwrap(await client.api.GET('/usage-limits')));
  const users = useResource(async () => unwrap(await client.api.GET('/users')));
  return (
    <>
      <h2>Spend limits</h2>
      <LoadState resource={limits} />
      {limits.data && (
        <>
          <Setting client={client} limits={limits.data} onSaved={limits.reload} />
          <Overrides client={client} limits={limits} users={users.data ?? []} />
        </>
      )}
      <Costs client={client} />
    </>
  );
}

function Setting({ client, limits, onSaved }: { client: ChatdClient; limits: UsageLimits; onSaved: () => void }) {
  const [enabled, setEnabled] = useState(limits.enabled);
  const [period, setPeriod] = useState<Period>(limits.period);
  const [limit, setLimit] = useState(usdInput(limits.spend_limit_micros));
  const [saved, setSaved] = useState(false);
  const action = useAction();
  const submit = async (): Promise<void> => {
    setSaved(false);
    const micros = parseUsd(limit);
    if (limit.trim() && micros === null) return action.fail(INVALID_AMOUNT);
    const ok = await action.run(async () =>
      unwrap(await client.api.PUT('/usage-limits', { body: { enabled, period, spend_limit_micros: micros } })),
    );
    if (!ok) return;
    setSaved(true);
    onSaved();
  };
  return (
    <form
      class="admin-form"
      aria-labelledby="limits-setting-title"
      onSubmit={(e) => (e.preventDefault(), void submit())}
    >
      <h3 id="limits-setting-title">Setting</h3>
      <label class="inline">
        <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
        Limits enabled
      </label>
      <label for="limits-period">Period</label>
      <select id="limits-period" value={period} onChange={(e) => setPeriod(e.currentTarget.value as Period)}>
        <option value="day">Day (UTC)</option>
        <option value="week">Week (from Monday)</option>
        <option value="month">Month</option>
      </select>
      <label for="limits-default">Default limit per period in USD (empty: none)</label>
      <input
        id="limits-default"
        inputMode="decimal"
        placeholder="e.g. 5.00"
        value={limit}
        onInput={(e) => setLimit(e.currentTarget.value)}
      />
      {limits.unpriced_model_count > 0 && (
        <p class="warning">
          {limits.unpriced_model_count} model config(s) have no prices: their calls count nothing towards a limit.
        </p>
      )}
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Save setting
        </button>
      </div>
      {saved && <p role="status">Saved.</p>}
      <ErrorText error={action.error} />
    </form>
  );
}

function Overrides({
  client,
  limits,
  users,
}: {
  client: ChatdClient;
  limits: Resource<UsageLimits>;
  users: Array<{ id: string; username: string }>;
}) {
  const [kind, setKind] = useState<'user' | 'group'>('user');
  const [userId, setUserId] = useState('');
  const [groupId, setGroupId] = useState('');
  const [limit, setLimit] = useState('');
  const action = useAction();
  const data = limits.data!;
  const chosenUser = userId || users[0]?.id || '';

  const remove = (target: 'user' | 'group', id: string): void =>
    void action
      .run(async () =>
        unwrap(
          target === 'user'
            ? await client.api.DELETE('/usage-limits/users/{id}', { params: { path: { id } } })
            : await client.api.DELETE('/usage-limits/groups/{id}', { params: { path: { id } } }),
        ),
      )
      .then(limits.reload);
  const submit = async (): Promise<void> => {
    const micros = parseUsd(limit);
    if (micros === null) return action.fail(INVALID_AMOUNT);
    const body = { spend_limit_micros: micros };
    const ok = await action.run(async () =>
      kind === 'user'
        ? unwrap(await client.api.PUT('/usage-limits/users/{id}', { params: { path: { id: chosenUser } }, body }))
        : unwrap(await client.api.PUT('/usage-limits/groups/{id}', { params: { path: { id: groupId.trim() } }, body })),
    );
    if (!ok) return;
    setLimit('');
    limits.reload();
  };

  return (
    <>
      <h3>Per user and per group</h3>
      <p class="muted">A user's own limit wins; else the lowest limit of their groups; else the default.</p>
      <ErrorText error={action.error} />
      {data.overrides.length + data.group_overrides.length === 0 ? (
        <p class="muted">No user or group limits.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">User or group</th>
                <th scope="col">Limit</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.overrides.map((o) => (
                <tr key={o.user_id}>
                  <td>
                    {o.username} <span class="muted">(user)</span>
                  </td>
                  <td>{formatUsd(o.spend_limit_micros)}</td>
                  <td class="actions">
                    <button
                      type="button"
                      class="danger"
                      disabled={action.busy}
                      onClick={() => remove('user', o.user_id)}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
              {data.group_overrides.map((g) => (
                <tr key={g.group_id}>
                  <td>
                    {g.group_display_name || g.group_name}{' '}
                    <span class="muted">
                      (group, {g.member_count} member{g.member_count === 1 ? '' : 's'})
                    </span>
                  </td>
                  <td>{formatUsd(g.spend_limit_micros)}</td>
                  <td class="actions">
                    <button
                      type="button"
                      class="danger"
                      disabled={action.busy}
                      onClick={() => remove('group', g.group_id)}
                    >
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form
        class="admin-form"
        aria-labelledby="limits-override-title"
        onSubmit={(e) => (e.preventDefault(), void submit())}
      >
        <h4 id="limits-override-title">Set a limit</h4>
        <fieldset>
          <legend>For</legend>
          <label class="inline">
            <input type="radio" name="limits-kind" checked={kind === 'user'} onChange={() => setKind('user')} />A user
          </label>
          <label class="inline">
            <input type="radio" name="limits-kind" checked={kind === 'group'} onChange={() => setKind('group')} />A
            group
          </label>
        </fieldset>
        {kind === 'user' ? (
          <>
            <label for="limits-user">User</label>
            <select id="limits-user" value={chosenUser} onChange={(e) => setUserId(e.currentTarget.value)}>
              {users.map((u) => (
                <option key={u.id} value={u.id}>
                  {u.username}
                </option>
              ))}
            </select>
          </>
        ) : (
          <>
            <label for="limits-group">Group id</label>
            <input
              id="limits-group"
              required
              list="limits-known-groups"
              value={groupId}
              onInput={(e) => setGroupId(e.currentTarget.value)}
            />
            <datalist id="limits-known-groups">
              {data.group_overrides.map((g) => (
                <option key={g.group_id} value={g.group_id}>
                  {g.group_name}
                </option>
              ))}
            </datalist>
          </>
        )}
        <label for="limits-amount">Limit per period in USD</label>
        <input
          id="limits-amount"
          required
          inputMode="decimal"
          placeholder="e.g. 10"
          value={limit}
          onInput={(e) => setLimit(e.currentTarget.value)}
        />
        <div class="form-actions">
          <button type="submit" class="primary" disabled={action.busy || (kind === 'user' && !chosenUser)}>
            Set limit
          </button>
        </div>
      </form>
    </>
  );
}
