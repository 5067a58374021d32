/**
 * ChatWorkspaces with workspace hosts (README "Workspace hosts") on real PostgreSQL and two `local`
 * providers in separate directories, as two worker hosts have: the workspace row records the host
 * that created it; the other host neither reaches it nor marks it deleted, although its provider
 * knows nothing of it; rows from before hosts (no host) are still served by any host.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { findWorkspaceForChat } from '../../../src/db/repositories/workspaces.repository';
import { ChatWorkspaces } from '../../../src/workspaces/chat-workspaces';
import { WorkspaceError } from '../../../src/workspaces/errors';
import { LocalWorkspaceProvider } from '../../../src/workspaces/local.provider';
import { createTestDatabase, type TestDatabase } from '../../support/db';

let tdb: TestDatabase;
let modelConfigId: string;
let dir: string;
let providers: LocalWorkspaceProvider[];
let hostA: ChatWorkspaces;
let hostB: ChatWorkspaces;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const llm = await tdb.db
    .insertInto('chat_providers')
    .values({ provider: 'openai', api_key_ciphertext: null, api_key_key_id: null, base_url: null, api_mode: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  modelConfigId = (
    await tdb.db
      .insertInto('chat_model_configs')
      .values({ provider_id: llm.id, model: 'gpt-test', context_limit: 100_000, options: '{}' })
      .returning('id')
      .executeTakeFirstOrThrow()
  ).id;
});

afterAll(async () => {
  await tdb.drop();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-hosts-'));
  await chmod(dir, 0o711); // sandboxes run as their workspace's uid, which must reach the workspaces
  providers = ['a', 'b'].map((host) => new LocalWorkspaceProvider({ baseDir: path.join(dir, host) }));
  hostA = new ChatWorkspaces({ db: tdb.db, provider: providers[0]!, hostId: 'host-a' });
  hostB = new ChatWorkspaces({ db: tdb.db, provider: providers[1]!, hostId: 'host-b' });
});

afterEach(async () => {
  for (const provider of providers) await provider.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function newChat(): Promise<{ chatId: string; ownerId: string }> {
  const user = await tdb.db
    .insertInto('users')
    .values({ username: `u${randomBytes(4).toString('hex')}`, chat_spend_limit_micros: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const chat = await tdb.db
    .insertInto('chats')
    .values({ owner_id: user.id, last_model_config_id: modelConfigId, labels: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { chatId: chat.id, ownerId: user.id };
}

it('records the creating host, and another host neither reaches the workspace nor marks it deleted', async () => {
  const { chatId, ownerId } = await newChat();
  await hostA.create(chatId, ownerId, 'empty');
  expect((await findWorkspaceForChat(tdb.db, chatId))?.host_id).toBe('host-a');

  // Host B's provider has never heard of the workspace: that proves nothing about it.
  expect((await hostB.get(chatId))?.status).toBe('running');
  expect(await hostB.forChat(chatId)).toBeNull();
  await expect(hostB.start(chatId)).rejects.toThrow(WorkspaceError);
  await expect(hostB.start(chatId)).rejects.toThrow(/host "host-a"/);
  expect((await findWorkspaceForChat(tdb.db, chatId))?.status).toBe('running');

  // Its own host reaches it.
  const workspace = await hostA.forChat(chatId);
  expect(workspace).not.toBeNull();
  await workspace!.writeFile('here.txt', 'on host a');
  expect((await hostA.get(chatId))?.status).toBe('running');
});

it('lets only the owning host conclude that its workspace is gone', async () => {
  const { chatId, ownerId } = await newChat();
  await hostA.create(chatId, ownerId, 'empty');
  const row = (await findWorkspaceForChat(tdb.db, chatId))!;
  await providers[0]!.delete(row.provider_ref);
  expect((await hostB.get(chatId))?.status).toBe('running');
  expect((await hostA.get(chatId))?.status).toBe('deleted');
});

it('serves a workspace row from before hosts (no host) on any host, as before', async () => {
  const { chatId, ownerId } = await newChat();
  await hostB.create(chatId, ownerId, 'empty');
  const row = (await findWorkspaceForChat(tdb.db, chatId))!;
  await tdb.db.updateTable('workspaces').set({ host_id: null }).where('id', '=', row.id).execute();
  expect(await hostB.forChat(chatId)).not.toBeNull();
  // Host A cannot find it and, the row naming no host, records it as deleted (the old behaviour).
  expect((await hostA.get(chatId))?.status).toBe('deleted');
});
