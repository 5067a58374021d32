/**
 * Workspace awareness and the git diff of a chat's workspace, over HTTP and SSE on real Temporal and
 * PostgreSQL: the model-only awareness message (what the fake LLM received, and what the API does not
 * show), attaching a workspace at creation (only the caller's own), `last_used_at` moving once a
 * minute at most, and a tool step that changes files producing GET /chats/{id}/diff and one
 * `diff_status_change` event, while a step that changes nothing publishes none.
 */
import { sql } from 'kysely';
import { startTestApp, textBody, turnRequests, waitForChat, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { SseClient } from '../support/sse';
import { createTestUser } from '../support/users';

describe('workspace awareness and diffs', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  /** The body of the first turn request that mentions `marker` (the chat's first user message). */
  const requestWith = (marker: string): string => {
    const found = turnRequests(fake).find((r) => JSON.stringify(r.body).includes(marker));
    if (!found) throw new Error(`no request mentions ${marker}`);
    return JSON.stringify(found.body);
  };

  /** Everything the API shows of a chat's messages. */
  const visibleMessages = async (chatId: string, token?: string): Promise<string> =>
    JSON.stringify((await app.request('GET', `/chats/${chatId}/messages`, undefined, token)).body);

  let workspaceId: string;
  let editedChatId: string;

  it('tells the model of a chat without a workspace to create one, and hides that from the API', async () => {
    fake.enqueue(text('Sure.'));
    const created = await app.request('POST', '/chats', textBody('no workspace here'));
    expect(created.status).toBe(201);
    expect(created.body.workspace_id).toBeNull();
    await waitForChat(app, created.body.id, (c) => c.status === 'waiting');

    const body = requestWith('no workspace here');
    expect(body).toContain('No workspace is attached to this chat yet');
    expect(body).toContain('create_workspace');
    // Before the user's request, so the model reads it first.
    expect(body.indexOf('No workspace is attached')).toBeLessThan(body.indexOf('no workspace here'));
    expect(await visibleMessages(created.body.id)).not.toContain('No workspace is attached');

    const stream = SseClient.open(`${app.url}/api/v1/chats/${created.body.id}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'queue_update', 10_000);
    stream.close();
    expect(JSON.stringify(stream.events)).not.toContain('No workspace is attached');

    const diff = await app.request('GET', `/chats/${created.body.id}/diff`);
    expect(diff.status).toBe(200);
    expect(diff.body).toEqual({
      chat_id: created.body.id,
      workspace_id: null,
      git_repository: false,
      files: [],
      files_truncated: false,
      additions: 0,
      deletions: 0,
      diff: '',
      truncated: false,
      computed_at: null,
    });
  });

  it('a step that writes files in a git repository stores the diff and announces it once', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty', name: 'diff-ws' } }]),
      toolCalls([
        {
          id: 'call_git',
          name: 'execute',
          args: { command: "git init -q . && printf 'one\\ntwo\\n' > 'hello world.txt'" },
        },
      ]),
      toolCalls([{ id: 'call_noop', name: 'execute', args: { command: 'true' } }]),
      text('Done.'),
    );
    const created = await app.request('POST', '/chats', textBody('make a repository'));
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting', 60_000);
    stream.close();

    const results = JSON.parse(await visibleMessages(chatId))
      .messages.filter((m: { role: string }) => m.role === 'tool')
      .map((m: any) => m.content[0]);
    expect(results.map((r: any) => [r.tool_call_id, r.is_error])).toEqual([
      ['call_ws', false],
      ['call_git', false],
      ['call_noop', false],
    ]);

    const diff = await app.request('GET', `/chats/${chatId}/diff`);
    expect(diff.status).toBe(200);
    expect(diff.body).toMatchObject({
      chat_id: chatId,
      git_repository: true,
      files: [{ path: 'hello world.txt', status: 'added', additions: 2, deletions: 0 }],
      additions: 2,
      deletions: 0,
      truncated: false,
      computed_at: expect.any(String),
    });
    expect(diff.body.diff).toContain('+one\n+two\n');

    // One event: after the step that wrote the file; the create step (not a repository yet, the
    // same as no diff) and the step that changed nothing published none.
    const changes = stream.events.filter((e) => e.event === 'diff_status_change');
    expect(changes.map((e) => e.data)).toEqual([
      {
        type: 'diff_status_change',
        chat_id: chatId,
        diff_status: {
          git_repository: true,
          changed_files: 1,
          additions: 2,
          deletions: 0,
          truncated: false,
          computed_at: diff.body.computed_at,
        },
      },
    ]);
    expect(changes[0]!.id).toEqual(expect.any(String));

    // The workspace was used by the tool steps: last_used_at moved once (throttled to once a minute).
    const listed = await app.request('GET', '/workspaces');
    expect(listed.status).toBe(200);
    const workspace = listed.body.workspaces.find((w: { name: string }) => w.name === 'diff-ws');
    expect(workspace).toMatchObject({
      id: expect.any(String),
      template_id: 'empty',
      status: 'running',
      created_at: expect.any(String),
      last_used_at: expect.any(String),
    });
    workspaceId = workspace.id;
    editedChatId = chatId;
  });

  it('throttles last_used_at to once a minute per workspace', async () => {
    const before = (await app.request('GET', '/workspaces')).body.workspaces.find((w: any) => w.id === workspaceId);
    fake.enqueue(toolCalls([{ id: 'call_again', name: 'execute', args: { command: 'true' } }]), text('Again.'));
    await app.request('POST', `/chats/${editedChatId}/messages`, textBody('once more'));
    await waitForChat(app, editedChatId, (c) => c.status === 'waiting');
    const after = (await app.request('GET', '/workspaces')).body.workspaces.find((w: any) => w.id === workspaceId);
    expect(after.last_used_at).toBe(before.last_used_at);

    // Once the minute has passed, the next tool step moves it.
    await sql`update workspaces set last_used_at = now() - interval '2 minutes' where id = ${workspaceId}`.execute(
      app.deps.db,
    );
    const aged = (await app.request('GET', '/workspaces')).body.workspaces.find((w: any) => w.id === workspaceId);
    fake.enqueue(toolCalls([{ id: 'call_later', name: 'execute', args: { command: 'true' } }]), text('Later.'));
    await app.request('POST', `/chats/${editedChatId}/messages`, textBody('a minute later'));
    await waitForChat(app, editedChatId, (c) => c.status === 'waiting');
    const moved = (await app.request('GET', '/workspaces')).body.workspaces.find((w: any) => w.id === workspaceId);
    expect(Date.parse(moved.last_used_at)).toBeGreaterThan(Date.parse(aged.last_used_at) + 60_000);
  });

  it('attaches the caller’s own workspace at creation and tells the model its name and template', async () => {
    fake.enqueue(text('I see it.'));
    const created = await app.request('POST', '/chats', { ...textBody('attached here'), workspace_id: workspaceId });
    expect(created.status).toBe(201);
    expect(created.body.workspace_id).toBe(workspaceId);
    await waitForChat(app, created.body.id, (c) => c.status === 'waiting');

    const body = requestWith('attached here');
    expect(body).toContain('attached to the workspace \\"diff-ws\\", built from the template \\"empty\\"');
    expect(body).not.toContain('No workspace is attached');
    expect(await visibleMessages(created.body.id)).not.toContain('attached to the workspace');
  });

  it('refuses another user’s, an unknown or a deleted workspace and creates nothing', async () => {
    const member = await createTestUser(app);
    const chatsOf = async (ownerId: string) =>
      Number(
        (
          await sql<{ n: number }>`select count(*)::int as n from chats where owner_id = ${ownerId}`.execute(
            app.deps.db,
          )
        ).rows[0]!.n,
      );
    const messages = async () =>
      Number((await sql<{ n: number }>`select count(*)::int as n from chat_messages`.execute(app.deps.db)).rows[0]!.n);
    const before = await messages();

    const foreign = await app.request('POST', '/chats', { ...textBody('hi'), workspace_id: workspaceId }, member.token);
    expect(foreign.status).toBe(400);
    expect(foreign.body).toEqual({ error: { code: 'workspace_not_found', message: 'Workspace not found.' } });

    const unknown = await app.request(
      'POST',
      '/chats',
      { ...textBody('hi'), workspace_id: '00000000-0000-4000-8000-000000000000' },
      member.token,
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('workspace_not_found');

    const malformed = await app.request('POST', '/chats', { ...textBody('hi'), workspace_id: 'x' }, member.token);
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('validation_failed');

    expect(await chatsOf(member.id)).toBe(0);
    expect(await messages()).toBe(before);
    // The member sees neither the admin's workspaces nor the admin's chat diff.
    expect((await app.request('GET', '/workspaces', undefined, member.token)).body).toEqual({ workspaces: [] });
    const diff = await app.request('GET', `/chats/${editedChatId}/diff`, undefined, member.token);
    expect(diff.status).toBe(404);
    expect(diff.body.error.code).toBe('chat_not_found');

    // A deleted workspace of one's own is refused with its own code.
    await sql`update workspaces set status = 'deleted' where id = ${workspaceId}`.execute(app.deps.db);
    try {
      const deleted = await app.request('POST', '/chats', { ...textBody('hi'), workspace_id: workspaceId });
      expect(deleted.status).toBe(400);
      expect(deleted.body.error.code).toBe('workspace_deleted');
      expect((await app.request('GET', '/workspaces')).body.workspaces.map((w: any) => w.id)).not.toContain(
        workspaceId,
      );
    } finally {
      await sql`update workspaces set status = 'running' where id = ${workspaceId}`.execute(app.deps.db);
    }
  });
});
