/**
 * Users and their API tokens (GET/POST /users, POST /users/{id}/tokens, DELETE /tokens/{id}) and
 * groups (POST /groups, PUT/DELETE /groups/{id}/members/{userId}). The API lists neither tokens nor
 * groups, so a new token is shown once here, and groups are known by the ids this page created.
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type User, type components } from '../../../src/client';
import { ErrorText, LoadState, formatDate, useAction, useResource } from './common';
import { Groups } from './groups';

type ApiToken = components['schemas']['ApiToken'];

export function Users({ client }: { client: ChatdClient }) {
  const users = useResource(async () => unwrap(await client.api.GET('/users')));
  const [tokenUser, setTokenUser] = useState('');
  return (
    <>
      <h2>Users</h2>
      <LoadState resource={users} />
      {users.data && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Username</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <tr key={u.id}>
                  <td>{u.username}</td>
                  <td>{u.name}</td>
                  <td>{u.role}</td>
                  <td>{formatDate(u.created_at)}</td>
                  <td class="actions">
                    <button type="button" onClick={() => setTokenUser(u.id)}>
                      New token…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <CreateUser client={client} onCreated={(user) => (users.reload(), setTokenUser(user.id))} />
      <CreateToken client={client} users={users.data ?? []} userId={tokenUser} onUserChange={setTokenUser} />
      <RevokeToken client={client} />
      <Groups client={client} users={users.data ?? []} />
    </>
  );
}

function CreateUser({ client, onCreated }: { client: ChatdClient; onCreated: (user: User) => void }) {
  const [username, setUsername] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<User['role']>('member');
  const action = useAction();
  const submit = async (): Promise<void> => {
    let created: User | undefined;
    const ok = await action.run(async () => {
      const body = { username: username.trim(), role, ...(name.trim() ? { name: name.trim() } : {}) };
      created = unwrap(await client.api.POST('/users', { body }));
    });
    if (!ok || !created) return;
    setUsername('');
    setName('');
    setRole('member');
    onCreated(created);
  };
  return (
    <form class="admin-form" aria-labelledby="user-new-title" onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id="user-new-title">Add a user</h3>
      <label for="user-new-username">Username</label>
      <input
        id="user-new-username"
        required
        autocomplete="off"
        value={username}
        onInput={(e) => setUsername(e.currentTarget.value)}
      />
      <label for="user-new-name">Name (optional)</label>
      <input id="user-new-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="user-new-role">Role</label>
      <select id="user-new-role" value={role} onChange={(e) => setRole(e.currentTarget.value as User['role'])}>
        <option value="member">Member</option>
        <option value="admin">Admin</option>
      </select>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Add user
        </button>
      </div>
      <ErrorText error={action.error} />
    </form>
  );
}

function CreateToken({
  client,
  users,
  userId,
  onUserChange,
}: {
  client: ChatdClient;
  users: User[];
  userId: string;
  onUserChange: (id: string) => void;
}) {
  const [name, setName] = useState('');
  const [expires, setExpires] = useState('');
  const [token, setToken] = useState<ApiToken | null>(null);
  const [copied, setCopied] = useState(false);
  const action = useAction();
  const chosen = userId || users[0]?.id || '';
  const submit = async (): Promise<void> => {
    setToken(null);
    setCopied(false);
    await action.run(async () => {
      const body = {
        ...(name.trim() ? { name: name.trim() } : {}),
        ...(expires ? { expires_at: new Date(expires).toISOString() } : {}),
      };
      setToken(unwrap(await client.api.POST('/users/{id}/tokens', { params: { path: { id: chosen } }, body })));
      setName('');
      setExpires('');
    });
  };
  const revoke = (): void =>
    void action
      .run(async () => token && unwrap(await client.api.DELETE('/tokens/{id}', { params: { path: { id: token.id } } })))
      .then((ok) => ok && setToken(null));
  const owner = token && users.find((u) => u.id === token.user_id);

  return (
    <form class="admin-form" aria-labelledby="token-new-title" onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id="token-new-title">Create an API token</h3>
      <label for="token-new-user">User</label>
      <select id="token-new-user" value={chosen} onChange={(e) => onUserChange(e.currentTarget.value)}>
        {users.map((u) => (
          <option key={u.id} value={u.id}>
            {u.username}
          </option>
        ))}
      </select>
      <label for="token-new-name">Label (optional)</label>
      <input id="token-new-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="token-new-expires">Expires (optional)</label>
      <input
        id="token-new-expires"
        type="datetime-local"
        value={expires}
        onInput={(e) => setExpires(e.currentTarget.value)}
      />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy || !chosen}>
          Create token
        </button>
      </div>
      <ErrorText error={action.error} />
      {token && (
        <div class="new-token">
          <p role="status">
            <strong>Copy this token now: it is shown only once.</strong> It signs in as {owner?.username ?? 'the user'}
            {token.expires_at ? ` until ${formatDate(token.expires_at)}` : ''}.
          </p>
          <label for="token-new-value">New API token</label>
          <div class="copy-row">
            <input
              id="token-new-value"
              readOnly
              value={token.token}
              onFocus={(e) => e.currentTarget.select()}
              autocomplete="off"
            />
            <button
              type="button"
              onClick={() => {
                (document.getElementById('token-new-value') as HTMLInputElement | null)?.select();
                void navigator.clipboard?.writeText(token.token).then(
                  () => setCopied(true),
                  () => undefined,
                );
              }}
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
          </div>
          <p class="muted">
            Token id <code>{token.id}</code>{' '}
            <button type="button" class="danger" disabled={action.busy} onClick={revoke}>
              Revoke it
            </button>
          </p>
        </div>
      )}
    </form>
  );
}

function RevokeToken({ client }: { client: ChatdClient }) {
  const [id, setId] = useState('');
  const [done, setDone] = useState(false);
  const action = useAction();
  const submit = async (): Promise<void> => {
    setDone(false);
    const ok = await action.run(async () =>
      unwrap(await client.api.DELETE('/tokens/{id}', { params: { path: { id: id.trim() } } })),
    );
    if (!ok) return;
    setDone(true);
    setId('');
  };
  return (
    <form class="admin-form" aria-labelledby="token-revoke-title" onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h3 id="token-revoke-title">Revoke a token</h3>
      <label for="token-revoke-id">Token id</label>
      <input id="token-revoke-id" required value={id} onInput={(e) => setId(e.currentTarget.value)} />
      <div class="form-actions">
        <button type="submit" class="danger" disabled={action.busy}>
          Revoke
        </button>
      </div>
      {done && <p role="status">Revoked.</p>}
      <ErrorText error={action.error} />
    </form>
  );
}
