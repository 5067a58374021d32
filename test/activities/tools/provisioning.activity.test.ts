/**
 * The workspace provisioning tools and `ChatWorkspaces` against a real PostgreSQL database and a real
 * `local` provider on a temp directory: creating attaches the workspace to the chat row and makes the file
 * and execute tools work in it; a second create is refused; a stopped workspace starts again; a deleted one
 * gives an error result pointing at create_workspace; no chat reaches a workspace it is not linked to; and
 * the linked row a step reads with its chat reaches the workspace as a lookup does.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { readToolStep } from '../../../src/db/repositories/steps.repository';
import { createProvisioningTools, createWorkspaceTools } from '../../../src/tools';
import { buildToolRegistry, type ToolRegistry } from '../../../src/tools/registry';
import type { ToolOutput } from '../../../src/tools/types';
import { ChatWorkspaces } from '../../../src/workspaces/chat-workspaces';
import { WorkspaceError } from '../../../src/workspaces/errors';
import { EMPTY_TEMPLATE, LocalWorkspaceProvider, type LocalTemplate } from '../../../src/workspaces/local.provider';
import type { CreateWorkspaceRequest, WorkspaceInfo, WorkspaceProvider } from '../../../src/workspaces/types';
import { createTestDatabase, type TestDatabase } from '../../support/db';
import { resultOf } from './support';

const greeter: LocalTemplate = {
  id: 'greeter',
  name: 'greeter',
  displayName: 'Greeter project',
  description: 'A directory with a greeting file written by the setup command.',
  parameters: [
    { name: 'greeting', description: 'What the file says', type: 'string', required: true },
    { name: 'times', description: 'How many lines', type: 'number', required: false, default: '1' },
  ],
  setupCommand: 'for i in $(seq "$CHATD_PARAM_TIMES"); do echo "$CHATD_PARAM_GREETING"; done > greeting.txt',
};

let tdb: TestDatabase;
let modelConfigId: string;
let dir: string;
let provider: LocalWorkspaceProvider;
let workspaces: ChatWorkspaces;
let registry: ToolRegistry;

beforeAll(async () => {
  tdb = await createTestDatabase();
  const llm = await tdb.db
    .insertInto('chat_providers')
    .values({ provider: 'openai', api_key_ciphertext: null, api_key_key_id: null, base_url: null, api_mode: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const config = await tdb.db
    .insertInto('chat_model_configs')
    .values({ provider_id: llm.id, model: 'gpt-test', context_limit: 100_000, options: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  modelConfigId = config.id;
});

afterAll(async () => {
  await tdb.drop();
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-provisioning-'));
  await chmod(dir, 0o711); // sandboxes run as their workspace's uid, which must reach the workspaces
  provider = new LocalWorkspaceProvider({
    baseDir: path.join(dir, 'workspaces'),
    templates: [EMPTY_TEMPLATE, greeter],
  });
  workspaces = new ChatWorkspaces({ db: tdb.db, provider });
  registry = buildToolRegistry([...createWorkspaceTools(), ...createProvisioningTools({ workspaces })]);
});

afterEach(async () => {
  await provider.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function newUser(): Promise<string> {
  const user = await tdb.db
    .insertInto('users')
    .values({ username: `u${randomBytes(4).toString('hex')}`, chat_spend_limit_micros: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return user.id;
}

async function newChat(ownerId?: string): Promise<string> {
  const chat = await tdb.db
    .insertInto('chats')
    .values({ owner_id: ownerId ?? (await newUser()), last_model_config_id: modelConfigId, labels: '{}' })
    .returning('id')
    .executeTakeFirstOrThrow();
  return chat.id;
}

let calls = 0;

/** Calls a tool as the tool step does: the chat's workspace is resolved first, through `forChat`. */
async function call(chatId: string, name: string, input: Record<string, unknown> = {}): Promise<ToolOutput> {
  return registry.execute(
    { id: `call-${++calls}`, name, input },
    {
      chatId,
      toolCallId: `call-${calls}`,
      signal: new AbortController().signal,
      workspace: await workspaces.forChat(chatId),
      heartbeat: () => undefined,
    },
  );
}

const chatRow = (chatId: string) =>
  tdb.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow();

const workspaceRow = (id: string) =>
  tdb.db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function createFor(chatId: string, input: Record<string, unknown> = { template_id: 'empty' }) {
  const output = await call(chatId, 'create_workspace', input);
  expect(output).toMatchObject({ isError: false, result: { created: true } });
  const workspaceId = resultOf(output).workspace_id as string;
  return { workspaceId, ref: (await workspaceRow(workspaceId)).provider_ref };
}

describe('list_templates and read_template', () => {
  it('lists the configured templates and narrows them by name', async () => {
    const chatId = await newChat();
    const all = await call(chatId, 'list_templates');
    expect(all.isError).toBe(false);
    expect(resultOf(all)).toMatchObject({ count: 2 });
    expect((resultOf(all).templates as Array<{ id: string }>).map((t) => t.id)).toEqual(['empty', 'greeter']);

    const some = await call(chatId, 'list_templates', { query: 'GREET project' });
    expect(resultOf(some)).toEqual({
      count: 1,
      templates: [
        {
          id: 'greeter',
          name: 'greeter',
          display_name: 'Greeter project',
          description: greeter.description,
          parameter_count: 2,
        },
      ],
    });
    const none = await call(chatId, 'list_templates', { query: 'rust' });
    expect(resultOf(none)).toMatchObject({ count: 0, note: expect.stringContaining('without a query') });
  });

  it('shows a template with its parameters, and an error result for an unknown id', async () => {
    const chatId = await newChat();
    const shown = await call(chatId, 'read_template', { template_id: 'greeter' });
    expect(shown.isError).toBe(false);
    expect(resultOf(shown)).toMatchObject({
      id: 'greeter',
      display_name: 'Greeter project',
      parameters: [
        { name: 'greeting', type: 'string', required: true, description: 'What the file says' },
        { name: 'times', type: 'number', required: false, default: '1' },
      ],
    });
    const missing = await call(chatId, 'read_template', { template_id: 'nope' });
    expect(missing.isError).toBe(true);
    expect(resultOf(missing).error).toMatch(/not found.*list_templates/);
  });
});

describe('create_workspace', () => {
  it('builds the workspace, links it to the chat row, and makes the workspace tools act in its root', async () => {
    const ownerId = await newUser();
    const chatId = await newChat(ownerId);
    expect(await workspaces.forChat(chatId)).toBeNull();
    const before = await call(chatId, 'execute', { command: 'pwd' });
    expect(before.isError).toBe(true);
    expect(resultOf(before).error).toMatch(/create_workspace/);

    const output = await call(chatId, 'create_workspace', {
      template_id: 'greeter',
      name: 'hello',
      parameters: { greeting: 'hi', times: 2 },
    });
    expect(output.isError).toBe(false);
    expect(resultOf(output)).toMatchObject({
      created: true,
      workspace_name: 'hello',
      template_id: 'greeter',
      status: 'running',
    });
    const workspaceId = resultOf(output).workspace_id as string;

    expect((await chatRow(chatId)).workspace_id).toBe(workspaceId);
    const row = await workspaceRow(workspaceId);
    expect(row).toMatchObject({
      owner_id: ownerId,
      provider: 'local',
      template_id: 'greeter',
      name: 'hello',
      status: 'running',
    });
    expect((await provider.get(row.provider_ref))?.status).toBe('running');

    const workspace = await workspaces.forChat(chatId);
    expect(workspace).not.toBeNull();
    const pwd = await workspace!.exec({ command: 'pwd; cat greeting.txt', timeoutMs: 5_000 });
    expect(pwd.output).toBe(`${workspace!.root}\nhi\nhi\n`);

    const viaTool = await call(chatId, 'execute', { command: 'pwd' });
    expect(viaTool.isError).toBe(false);
    expect(resultOf(viaTool).output).toBe(`${workspace!.root}\n`);
  });

  it('refuses a second workspace for the same chat and keeps the first', async () => {
    const chatId = await newChat();
    const { workspaceId } = await createFor(chatId);

    const again = await call(chatId, 'create_workspace', { template_id: 'empty' });
    expect(again.isError).toBe(true);
    expect(resultOf(again)).toMatchObject({
      code: 'already_exists',
      created: false,
      workspace_id: workspaceId,
      status: 'running',
    });
    expect((await chatRow(chatId)).workspace_id).toBe(workspaceId);
    const owner = (await chatRow(chatId)).owner_id;
    const rows = await tdb.db.selectFrom('workspaces').select('id').where('owner_id', '=', owner).execute();
    expect(rows.map((r) => r.id)).toEqual([workspaceId]);
  });

  // The model may call create_workspace twice in one step: the calls run concurrently.
  it('builds one workspace when two creates for a chat run at the same time', async () => {
    const chatId = await newChat();
    const outputs = await Promise.all([
      call(chatId, 'create_workspace', { template_id: 'empty' }),
      call(chatId, 'create_workspace', { template_id: 'empty' }),
    ]);
    expect(outputs.map((o) => o.isError).sort()).toEqual([false, true]);
    const winner = outputs.find((o) => !o.isError)!;
    const loser = outputs.find((o) => o.isError)!;
    expect(resultOf(loser)).toMatchObject({ code: 'already_exists', workspace_id: resultOf(winner).workspace_id });
    const owner = (await chatRow(chatId)).owner_id;
    expect(await tdb.db.selectFrom('workspaces').select('id').where('owner_id', '=', owner).execute()).toHaveLength(1);
  });

  // Two workers (two ChatWorkspaces) racing for one chat: the row lock decides, and the loser removes the
  // workspace it built instead of leaking it.
  it('keeps one workspace when two instances create for the same chat at once', async () => {
    const chatId = await newChat();
    const ownerId = (await chatRow(chatId)).owner_id;
    // Both builds start only once both instances have seen the chat without a workspace.
    let arrived = 0;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const gated = (): WorkspaceProvider =>
      Object.assign(Object.create(provider) as WorkspaceProvider, {
        create: async (request: CreateWorkspaceRequest) => {
          if (++arrived === 2) open();
          await gate;
          return provider.create(request);
        },
      });
    const first = new ChatWorkspaces({ db: tdb.db, provider: gated() });
    const second = new ChatWorkspaces({ db: tdb.db, provider: gated() });
    const settled = await Promise.allSettled([
      first.create(chatId, ownerId, 'empty'),
      second.create(chatId, ownerId, 'empty'),
    ]);
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: 'already_exists' });

    const rows = await tdb.db.selectFrom('workspaces').selectAll().where('owner_id', '=', ownerId).execute();
    expect(rows).toHaveLength(1);
    expect((await chatRow(chatId)).workspace_id).toBe(rows[0]!.id);
    const metaDir = path.join(dir, 'workspaces', '.chatd', 'meta');
    const statuses = await Promise.all(
      (await readdir(metaDir)).map(
        async (f) => (JSON.parse(await readFile(path.join(metaDir, f), 'utf8')) as WorkspaceInfo).status,
      ),
    );
    expect(statuses.sort()).toEqual(['deleted', 'running']);
  });

  it('reports template and parameter mistakes as error results and links nothing', async () => {
    const chatId = await newChat();
    const unknown = await call(chatId, 'create_workspace', { template_id: 'nope' });
    expect(resultOf(unknown)).toMatchObject({ code: 'template_not_found' });
    const missing = await call(chatId, 'create_workspace', { template_id: 'greeter' });
    expect(missing.isError).toBe(true);
    expect(resultOf(missing)).toMatchObject({ code: 'invalid_parameters' });
    expect(resultOf(missing).error).toMatch(/missing required parameter "greeting"/);
    expect((await chatRow(chatId)).workspace_id).toBeNull();
  });

  it('refuses a chat owner that does not own the chat', async () => {
    const chatId = await newChat();
    const stranger = await newUser();
    const err = await workspaces.create(chatId, stranger, 'empty').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'chat_not_found' });
    expect((await chatRow(chatId)).workspace_id).toBeNull();
  });
});

describe('start_workspace', () => {
  it('starts a stopped workspace so the tools work again', async () => {
    const chatId = await newChat();
    const { workspaceId, ref } = await createFor(chatId);
    await call(chatId, 'write_file', { path: 'kept.txt', content: 'still here' });

    // Stopped outside ChatWorkspaces (the API, a TTL): the row catches up on the next read.
    await provider.stop(ref);
    expect(await workspaces.forChat(chatId)).toBeNull();
    expect((await workspaceRow(workspaceId)).status).toBe('stopped');
    const blocked = await call(chatId, 'read_file', { path: 'kept.txt' });
    expect(blocked.isError).toBe(true);

    const refused = await call(chatId, 'create_workspace', { template_id: 'empty' });
    expect(resultOf(refused)).toMatchObject({ code: 'already_exists', status: 'stopped' });
    expect(resultOf(refused).error).toMatch(/start_workspace/);

    const started = await call(chatId, 'start_workspace');
    expect(started.isError).toBe(false);
    expect(resultOf(started)).toMatchObject({
      started: true,
      already_running: false,
      workspace_id: workspaceId,
      status: 'running',
    });
    expect((await workspaceRow(workspaceId)).status).toBe('running');
    const read = await call(chatId, 'read_file', { path: 'kept.txt' });
    expect(read.isError).toBe(false);
    expect(String(resultOf(read).content)).toContain('still here');

    const again = await call(chatId, 'start_workspace');
    expect(resultOf(again)).toMatchObject({ started: true, already_running: true });
  });

  it('stop through ChatWorkspaces records the status and start undoes it', async () => {
    const chatId = await newChat();
    const { workspaceId } = await createFor(chatId);
    expect(await workspaces.stop(chatId)).toMatchObject({ id: workspaceId, status: 'stopped' });
    expect(await workspaces.get(chatId)).toMatchObject({ id: workspaceId, status: 'stopped' });
    expect(await workspaces.start(chatId)).toMatchObject({ wasRunning: false, workspace: { status: 'running' } });
    expect(await workspaces.forChat(chatId)).not.toBeNull();
  });

  it('tells the model to create a workspace when the chat has none', async () => {
    const chatId = await newChat();
    const output = await call(chatId, 'start_workspace');
    expect(output.isError).toBe(true);
    expect(resultOf(output)).toMatchObject({ code: 'no_workspace' });
    expect(resultOf(output).error).toMatch(/use create_workspace first/);
  });

  it('gives an error result for a deleted workspace, and create_workspace replaces it', async () => {
    const chatId = await newChat();
    const { workspaceId, ref } = await createFor(chatId);
    await provider.delete(ref);

    expect(await workspaces.forChat(chatId)).toBeNull();
    expect((await workspaceRow(workspaceId)).status).toBe('deleted');
    const output = await call(chatId, 'start_workspace');
    expect(output.isError).toBe(true);
    expect(resultOf(output)).toMatchObject({ code: 'deleted' });
    expect(resultOf(output).error).toMatch(/deleted.*create_workspace/);
    await expect(workspaces.start(chatId)).rejects.toBeInstanceOf(WorkspaceError);

    const replacement = await createFor(chatId);
    expect(replacement.workspaceId).not.toBe(workspaceId);
    expect((await chatRow(chatId)).workspace_id).toBe(replacement.workspaceId);
    expect(await workspaces.forChat(chatId)).not.toBeNull();
  });

  it('treats a workspace the provider no longer knows as deleted', async () => {
    const chatId = await newChat();
    const { workspaceId } = await createFor(chatId);
    await rm(path.join(dir, 'workspaces', '.chatd', 'meta'), { recursive: true, force: true });
    expect(await workspaces.get(chatId)).toMatchObject({ id: workspaceId, status: 'deleted' });
    expect(resultOf(await call(chatId, 'start_workspace'))).toMatchObject({ code: 'deleted' });
  });
});

describe('isolation between chats', () => {
  it("does not let another chat reach a chat's workspace", async () => {
    const ownerId = await newUser();
    const chatA = await newChat(ownerId);
    const chatB = await newChat(ownerId);
    const other = await newChat();
    await createFor(chatA);
    await call(chatA, 'write_file', { path: 'secret.txt', content: 'a' });

    for (const chatId of [chatB, other]) {
      expect(await workspaces.forChat(chatId)).toBeNull();
      const read = await call(chatId, 'read_file', { path: 'secret.txt' });
      expect(read.isError).toBe(true);
      expect(resultOf(read).error).toMatch(/no running workspace/);
      expect(resultOf(await call(chatId, 'start_workspace'))).toMatchObject({ code: 'no_workspace' });
    }
  });

  // A link can only come from create (or inheritance by a sub-agent of the same owner); a row pointing at
  // another user's workspace must still not expose it.
  it("ignores a link to another user's workspace", async () => {
    const chatA = await newChat();
    const { workspaceId } = await createFor(chatA);
    const intruder = await newChat();
    await tdb.db.updateTable('chats').set({ workspace_id: workspaceId }).where('id', '=', intruder).execute();
    expect(await workspaces.forChat(intruder)).toBeNull();
    expect(await workspaces.get(intruder)).toBeNull();
    expect(resultOf(await call(intruder, 'start_workspace'))).toMatchObject({ code: 'no_workspace' });
  });

  it('shares the workspace between chats of the same owner linked to it (sub-agents)', async () => {
    const ownerId = await newUser();
    const parent = await newChat(ownerId);
    const child = await newChat(ownerId);
    const { workspaceId } = await createFor(parent);
    await tdb.db.updateTable('chats').set({ workspace_id: workspaceId }).where('id', '=', child).execute();
    await call(parent, 'write_file', { path: 'shared.txt', content: 'from parent' });
    const read = await call(child, 'read_file', { path: 'shared.txt' });
    expect(String(resultOf(read).content)).toContain('from parent');
  });
});

describe('workspaces schema', () => {
  it('unlinks chats when their workspace row is removed, and rejects links to nothing', async () => {
    const chatId = await newChat();
    const { workspaceId } = await createFor(chatId);
    await tdb.db.deleteFrom('workspaces').where('id', '=', workspaceId).execute();
    expect((await chatRow(chatId)).workspace_id).toBeNull();
    await expect(
      tdb.db
        .updateTable('chats')
        .set({ workspace_id: '00000000-0000-4000-8000-000000000000' })
        .where('id', '=', chatId)
        .execute(),
    ).rejects.toThrow(/foreign key/);
  });

  it('accepts only the three statuses', async () => {
    const ownerId = await newUser();
    await expect(
      tdb.db
        .insertInto('workspaces')
        .values({
          owner_id: ownerId,
          provider: 'local',
          template_id: 'empty',
          name: 'x',
          provider_ref: 'r',
          status: 'building' as never,
        })
        .execute(),
    ).rejects.toThrow(/check constraint/);
  });
});

describe("a step's read of the linked workspace", () => {
  const linkedOf = async (chatId: string) => (await readToolStep(tdb.db, chatId, 'no-such-step'))!.workspace;

  it('reaches the running workspace without a lookup, and reflects a stop behind our back', async () => {
    const chatId = await newChat();
    const { workspaceId, ref } = await createFor(chatId);
    const linked = await linkedOf(chatId);
    expect(linked).toEqual({ id: workspaceId, provider: 'local', provider_ref: ref, status: 'running', host_id: null });
    const workspace = await workspaces.forChat(chatId, linked);
    expect(workspace?.root).toBe((await workspaces.forChat(chatId))?.root);

    await provider.stop(ref);
    expect(await workspaces.forChat(chatId, linked)).toBeNull();
    expect((await workspaceRow(workspaceId)).status).toBe('stopped');
    expect(await linkedOf(chatId)).toMatchObject({ id: workspaceId, status: 'stopped' });
  });

  it("is null for a chat without a workspace and for a link to another user's workspace", async () => {
    const plain = await newChat();
    expect(await linkedOf(plain)).toBeNull();
    expect(await workspaces.forChat(plain, null)).toBeNull();

    const { workspaceId } = await createFor(await newChat());
    const intruder = await newChat();
    await tdb.db.updateTable('chats').set({ workspace_id: workspaceId }).where('id', '=', intruder).execute();
    expect(await linkedOf(intruder)).toBeNull();
  });
});
