/**
 * Groups (POST /groups, PUT/DELETE /groups/{id}/members/{userId}). The API has no group list, so
 * members are managed by group id; the groups created here, and the groups with a spend limit
 * (GET /usage-limits), are offered as suggestions.
 */
import { useState } from 'preact/hooks';
import { unwrap, type ChatdClient, type User } from '../../../src/client';
import { ErrorText, useAction, useResource } from './common';

interface KnownGroup {
  id: string;
  name: string;
}

export function Groups({ client, users }: { client: ChatdClient; users: User[] }) {
  const limited = useResource(async () => unwrap(await client.api.GET('/usage-limits')).group_overrides);
  const [created, setCreated] = useState<KnownGroup[]>([]);
  const known = [
    ...created,
    ...(limited.data ?? [])
      .filter((g) => !created.some((c) => c.id === g.group_id))
      .map((g) => ({ id: g.group_id, name: g.group_name })),
  ];
  return (
    <>
      <h3>Groups</h3>
      <CreateGroup client={client} onCreated={(group) => setCreated([group, ...created])} />
      {known.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption>Known groups</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
              </tr>
            </thead>
            <tbody>
              {known.map((g) => (
                <tr key={g.id}>
                  <td>{g.name}</td>
                  <td>
                    <code>{g.id}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Membership client={client} users={users} groups={known} />
    </>
  );
}

function CreateGroup({ client, onCreated }: { client: ChatdClient; onCreated: (group: KnownGroup) => void }) {
  const [name, setName] = useState('');
  const [displayName, setDisplayName] = useState('');
  const action = useAction();
  const submit = async (): Promise<void> => {
    await action.run(async () => {
      const body = { name: name.trim(), ...(displayName.trim() ? { display_name: displayName.trim() } : {}) };
      const group = unwrap(await client.api.POST('/groups', { body }));
      setName('');
      setDisplayName('');
      onCreated({ id: group.id, name: group.name });
    });
  };
  return (
    <form class="admin-form" aria-labelledby="group-new-title" onSubmit={(e) => (e.preventDefault(), void submit())}>
      <h4 id="group-new-title">Add a group</h4>
      <label for="group-new-name">Group name</label>
      <input id="group-new-name" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
      <label for="group-new-display">Display name (optional)</label>
      <input id="group-new-display" value={displayName} onInput={(e) => setDisplayName(e.currentTarget.value)} />
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy}>
          Add group
        </button>
      </div>
      <ErrorText error={action.error} />
    </form>
  );
}

function Membership({ client, users, groups }: { client: ChatdClient; users: User[]; groups: KnownGroup[] }) {
  const [groupId, setGroupId] = useState('');
  const [userId, setUserId] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const action = useAction();
  const chosenUser = userId || users[0]?.id || '';
  const change = async (add: boolean): Promise<void> => {
    setDone(null);
    const params = { path: { id: groupId.trim(), userId: chosenUser } };
    const ok = await action.run(async () =>
      unwrap(
        add
          ? await client.api.PUT('/groups/{id}/members/{userId}', { params })
          : await client.api.DELETE('/groups/{id}/members/{userId}', { params }),
      ),
    );
    const username = users.find((u) => u.id === chosenUser)?.username ?? chosenUser;
    if (ok) setDone(add ? `Added ${username}.` : `Removed ${username}.`);
  };
  return (
    <form
      class="admin-form"
      aria-labelledby="group-member-title"
      onSubmit={(e) => (e.preventDefault(), void change(true))}
    >
      <h4 id="group-member-title">Members</h4>
      <label for="group-member-group">Group id</label>
      <input
        id="group-member-group"
        required
        list="group-member-known"
        value={groupId}
        onInput={(e) => setGroupId(e.currentTarget.value)}
      />
      <datalist id="group-member-known">
        {groups.map((g) => (
          <option key={g.id} value={g.id}>
            {g.name}
          </option>
        ))}
      </datalist>
      <label for="group-member-user">User</label>
      <select id="group-member-user" value={chosenUser} onChange={(e) => setUserId(e.currentTarget.value)}>
        {users.map((u) => (
          <option key={u.id} value={u.id}>
            {u.username}
          </option>
        ))}
      </select>
      <div class="form-actions">
        <button type="submit" class="primary" disabled={action.busy || !chosenUser}>
          Add to group
        </button>
        <button
          type="button"
          class="danger"
          disabled={action.busy || !chosenUser || !groupId.trim()}
          onClick={() => void change(false)}
        >
          Remove from group
        </button>
      </div>
      {done && <p role="status">{done}</p>}
      <ErrorText error={action.error} />
    </form>
  );
}
