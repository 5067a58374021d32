/**
 * MCP servers end to end, over HTTP on real PostgreSQL and Temporal with the fake LLM: admins configure
 * servers, members choose them per chat, the scripted model calls `<slug>__<tool>` on the reference
 * server (streamable HTTP and SSE) and sees the result; a dead server becomes a note and the turn still
 * completes; a member connects an OAuth server through the real authorization code flow, and a revoked
 * token is refreshed. Bad input gets a 4xx and changes nothing.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { createTestUser, type TestUser } from '../support/users';
import { startEverythingServer, startOAuthMcpServer, type ChildServer } from '../support/mcp/servers';
import { until } from '../support/wait';

describe('MCP servers', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;
  const children: Array<{ stop(): Promise<void> }> = [];

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    member = await createTestUser(app);
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
    await Promise.all(children.map((c) => c.stop()));
  });

  const slug = () => `t${randomUUID().slice(0, 8)}`;
  const asMember = (method: string, path: string, body?: unknown) => app.request(method, path, body, member.token);

  async function everything(transport: 'streamable_http' | 'sse'): Promise<ChildServer<{ url: string }>> {
    const server = await startEverythingServer(transport);
    children.push(server);
    return server;
  }

  async function addServer(body: Record<string, unknown>): Promise<{ id: string; slug: string }> {
    const res = await app.request('POST', '/admin/mcp-servers', { slug: slug(), display_name: 'Everything', ...body });
    expect(res.status).toBe(201);
    return res.body;
  }

  /** The turn's model requests of one chat (side calls such as titles left out). */
  const requestsOf = (chatId: string) =>
    fake.requests.filter((r) => r.headers['x-chatd-chat-id'] === chatId && r.model === 'fake-model');

  async function settled(chatId: string): Promise<void> {
    await until(
      async () => {
        const { body } = await asMember('GET', `/chats/${chatId}`);
        return body.status === 'waiting' || body.status === 'error' ? body.status : undefined;
      },
      'the turn to end',
      60_000,
    );
    const { body } = await asMember('GET', `/chats/${chatId}`);
    expect(body).toMatchObject({ status: 'waiting', last_error: null });
  }

  async function toolResults(chatId: string) {
    const { body } = await asMember('GET', `/chats/${chatId}/messages`);
    return body.messages
      .filter((m: { role: string }) => m.role === 'tool')
      .map((m: { content: Array<{ tool_name: string; result: unknown; is_error: boolean }> }) => m.content[0]!);
  }

  const count = async (table: 'mcp_servers' | 'chats') =>
    (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(app.deps.db)).rows[0]!.n;

  describe('admin configuration', () => {
    it('creates, reads, updates and deletes a server without ever returning its secrets', async () => {
      const s = slug();
      const created = await app.request('POST', '/admin/mcp-servers', {
        slug: s,
        display_name: 'Docs',
        url: 'https://docs.example.com/mcp',
        auth: { type: 'api_key', header: 'X-Api-Key', value: 'very-secret-key' },
        availability: 'default_off',
        tool_deny_list: ['delete'],
        approval: 'ask',
        tool_approval: { search: 'auto' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        slug: s,
        transport: 'streamable_http',
        auth: { type: 'api_key', header: 'X-Api-Key', has_api_key: true },
        approval: 'ask',
        tool_approval: { search: 'auto' },
        enabled: true,
      });
      const id: string = created.body.id;
      const read = await app.request('GET', `/admin/mcp-servers/${id}`);
      expect(read.body).toEqual(created.body);

      // A new URL without the key keeps the key (re-bound to the new URL).
      const moved = await app.request('PATCH', `/admin/mcp-servers/${id}`, { url: 'https://docs2.example.com/mcp' });
      expect(moved.status).toBe(200);
      expect(moved.body.auth).toMatchObject({ type: 'api_key', has_api_key: true });
      const all = await app.request('GET', '/admin/mcp-servers');
      expect(JSON.stringify([created.body, moved.body, all.body])).not.toContain('very-secret-key');
      const row = await app.deps.db
        .selectFrom('mcp_servers')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(row.secrets_ciphertext!.toString('latin1')).not.toContain('very-secret-key');

      const duplicate = await app.request('PATCH', `/admin/mcp-servers/${id}`, {
        slug: (await addServer({ url: 'https://x.example/mcp' })).slug,
      });
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe('mcp_server_slug_taken');

      expect((await app.request('DELETE', `/admin/mcp-servers/${id}`)).status).toBe(204);
      expect((await app.request('GET', `/admin/mcp-servers/${id}`)).status).toBe(404);
    });

    it.each([
      ['a slug providers cannot prefix tools with', { slug: 'Bad_Slug', url: 'https://a.example/mcp' }],
      ['a slug too long for 64-character tool names', { slug: 'a'.repeat(32), url: 'https://a.example/mcp' }],
      ['a URL that is not http(s)', { slug: 'ok', url: 'ftp://a.example/mcp' }],
      ['an API key server without its key', { slug: 'ok', url: 'https://a.example/mcp', auth: { type: 'api_key' } }],
      [
        'a header the transport sets',
        { slug: 'ok', url: 'https://a.example/mcp', auth: { type: 'headers', headers: { 'Mcp-Session-Id': 'x' } } },
      ],
      ['an unknown transport', { slug: 'ok', url: 'https://a.example/mcp', transport: 'websocket' }],
      [
        'both an allow and a deny list',
        { slug: 'ok', url: 'https://a.example/mcp', tool_allow_list: ['a'], tool_deny_list: ['b'] },
      ],
    ])('refuses %s with a 400 and creates nothing', async (_what, body) => {
      const before = await count('mcp_servers');
      const res = await app.request('POST', '/admin/mcp-servers', { display_name: 'Bad', ...body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toMatch(/^(validation_failed|invalid_mcp_tool_lists)$/);
      expect(await count('mcp_servers')).toBe(before);
    });

    it('keeps the admin routes from members, who list the enabled servers only', async () => {
      expect(
        (
          await asMember('POST', '/admin/mcp-servers', {
            slug: slug(),
            display_name: 'x',
            url: 'https://a.example/mcp',
          })
        ).status,
      ).toBe(403);
      expect((await asMember('GET', '/admin/mcp-servers')).status).toBe(403);
      const on = await addServer({ url: 'https://on.example/mcp' });
      const off = await addServer({ url: 'https://off.example/mcp', enabled: false });
      const { status, body } = await asMember('GET', '/mcp-servers');
      expect(status).toBe(200);
      const ids = body.map((s: { id: string }) => s.id);
      expect(ids).toContain(on.id);
      expect(ids).not.toContain(off.id);
      expect(body.find((s: { id: string }) => s.id === on.id)).toEqual({
        id: on.id,
        slug: on.slug,
        display_name: 'Everything',
        description: '',
        auth_type: 'none',
        availability: 'default_off',
        connected: null,
      });
    });
  });

  describe('per chat', () => {
    it('preselects default_on servers, always adds force_on ones, and refuses unknown ids without writing', async () => {
      const forced = await addServer({ url: 'https://forced.example/mcp', availability: 'force_on' });
      const preselected = await addServer({ url: 'https://default.example/mcp', availability: 'default_on' });
      const optional = await addServer({ url: 'https://optional.example/mcp' });
      const disabled = await addServer({ url: 'https://disabled.example/mcp', enabled: false });
      fake.enqueue(text('Fine.'), text('Fine.'));
      try {
        const plain = await asMember('POST', '/chats', { content: [{ type: 'text', text: 'hi' }] });
        expect(plain.status).toBe(201);
        expect(plain.body.mcp_server_ids).toEqual(expect.arrayContaining([preselected.id, forced.id]));
        expect(plain.body.mcp_server_ids).not.toContain(optional.id);

        const chosen = await asMember('POST', '/chats', {
          content: [{ type: 'text', text: 'hi' }],
          mcp_server_ids: [optional.id],
        });
        expect(chosen.body.mcp_server_ids).toEqual([optional.id, forced.id]);

        const chats = await count('chats');
        for (const ids of [[randomUUID()], [disabled.id], ['not-a-uuid']]) {
          const refused = await asMember('POST', '/chats', {
            content: [{ type: 'text', text: 'hi' }],
            mcp_server_ids: ids,
          });
          expect(refused.status).toBe(400);
          expect(refused.body.error.code).toMatch(/^(mcp_server_not_found|validation_failed)$/);
        }
        expect(await count('chats')).toBe(chats);

        const chatId: string = chosen.body.id;
        const bad = await asMember('PATCH', `/chats/${chatId}`, { mcp_server_ids: [disabled.id], title: 'New title' });
        expect(bad.status).toBe(400);
        expect(bad.body.error).toMatchObject({
          code: 'mcp_server_not_found',
          details: { mcp_server_ids: [disabled.id] },
        });
        const unchanged = await asMember('GET', `/chats/${chatId}`);
        expect(unchanged.body.mcp_server_ids).toEqual([optional.id, forced.id]);
        expect(unchanged.body.title).not.toBe('New title');

        const cleared = await asMember('PATCH', `/chats/${chatId}`, { mcp_server_ids: [] });
        expect(cleared.body.mcp_server_ids).toEqual([forced.id]);

        // Deleting a server removes it from every chat.
        await app.request('DELETE', `/admin/mcp-servers/${forced.id}`);
        expect((await asMember('GET', `/chats/${chatId}`)).body.mcp_server_ids).toEqual([]);
        await settled(plain.body.id);
        await settled(chatId);
      } finally {
        for (const server of [preselected, optional, disabled])
          await app.request('DELETE', `/admin/mcp-servers/${server.id}`);
      }
    });
  });

  describe.each(['streamable_http', 'sse'] as const)('a turn over %s', (transport) => {
    it('offers <slug>__echo, runs the model’s call and shows it the result', async () => {
      const server = await everything(transport);
      const added = await addServer({ url: server.info.url, transport });
      fake.enqueue(
        toolCalls([{ id: 'call_echo', name: `${added.slug}__echo`, args: { message: 'from the model' } }]),
        text('The server echoed it.'),
      );
      const created = await asMember('POST', '/chats', {
        content: [{ type: 'text', text: 'Echo something' }],
        mcp_server_ids: [added.id],
      });
      expect(created.status).toBe(201);
      await settled(created.body.id);

      const [first, second] = requestsOf(created.body.id);
      expect(JSON.stringify((first!.body as { tools: unknown }).tools)).toContain(`"${added.slug}__echo"`);
      expect(await toolResults(created.body.id)).toEqual([
        expect.objectContaining({ tool_name: `${added.slug}__echo`, result: 'Echo: from the model', is_error: false }),
      ]);
      expect(JSON.stringify(second!.body)).toContain('Echo: from the model');
      await app.request('DELETE', `/admin/mcp-servers/${added.id}`);
    });
  });

  it('tells the model a dead server is unavailable, answers a call to it with an error, and completes the turn', async () => {
    const server = await everything('streamable_http');
    const added = await addServer({ url: server.info.url, display_name: 'Flaky' });
    await server.stop();
    fake.enqueue(
      toolCalls([{ id: 'call_dead', name: `${added.slug}__echo`, args: { message: 'anyone?' } }]),
      text('It is down.'),
    );
    const created = await asMember('POST', '/chats', {
      content: [{ type: 'text', text: 'Use the flaky server' }],
      mcp_server_ids: [added.id],
    });
    await settled(created.body.id);
    const [first] = requestsOf(created.body.id);
    const body = JSON.stringify(first!.body);
    expect(body).toContain('Flaky');
    expect(body).toContain('cannot be used right now');
    expect(JSON.stringify((first!.body as { tools: unknown }).tools)).not.toContain(`${added.slug}__`);
    expect(await toolResults(created.body.id)).toEqual([
      expect.objectContaining({ tool_name: `${added.slug}__echo`, is_error: true }),
    ]);
    await app.request('DELETE', `/admin/mcp-servers/${added.id}`);
  });

  it('asks the member before a call of an `ask` server runs, and runs the tool its policy lets through at once', async () => {
    const server = await everything('streamable_http');
    // The server asks for every tool but echo.
    const added = await addServer({ url: server.info.url, approval: 'ask', tool_approval: { echo: 'auto' } });
    fake.enqueue(
      toolCalls([
        { id: 'call_sum', name: `${added.slug}__get-sum`, args: { a: 2, b: 3 } },
        { id: 'call_echo', name: `${added.slug}__echo`, args: { message: 'no approval needed' } },
      ]),
      text('Both ran.'),
    );
    const created = await asMember('POST', '/chats', {
      content: [{ type: 'text', text: 'Add and echo' }],
      mcp_server_ids: [added.id],
    });
    const chatId: string = created.body.id;
    const pending = await until(
      async () => {
        const { body } = await asMember('GET', `/chats/${chatId}/tool-approvals?pending=true`);
        return body.approvals.length > 0 ? body.approvals : undefined;
      },
      'the call to wait for approval',
      60_000,
    );
    expect(pending).toEqual([expect.objectContaining({ call_id: 'call_sum', tool_name: `${added.slug}__get-sum` })]);
    // The auto call ran while the other one waited.
    await until(async () => ((await toolResults(chatId)).length === 1 ? true : undefined), 'the echo result', 30_000);
    expect(await toolResults(chatId)).toEqual([
      expect.objectContaining({ tool_name: `${added.slug}__echo`, result: 'Echo: no approval needed' }),
    ]);
    expect((await asMember('GET', `/chats/${chatId}`)).body.status).toBe('requires_action');

    const decided = await asMember('POST', `/chats/${chatId}/tool-calls/call_sum/decision`, { decision: 'approve' });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ decision: 'approved', decided_by: member.id });
    await settled(chatId);
    expect(JSON.stringify(await toolResults(chatId))).toContain('The sum of 2 and 3 is 5');
    await app.request('DELETE', `/admin/mcp-servers/${added.id}`);
  });

  it('connects a member’s account with OAuth, calls the server with the token and refreshes a revoked one', async () => {
    const oauthServer = await startOAuthMcpServer();
    children.push(oauthServer);
    const added = await addServer({
      url: oauthServer.info.mcpUrl,
      display_name: 'Tracker',
      auth: { type: 'oauth2', client_id: 'chatd', scopes: ['read'] },
    });
    const listed = async () =>
      (await asMember('GET', '/mcp-servers')).body.find((s: { id: string }) => s.id === added.id).connected;
    expect(await listed()).toBe(false);

    // Not connected yet: the model is told so and gets none of the server's tools.
    fake.enqueue(text('Please connect Tracker first.'));
    const chat = await asMember('POST', '/chats', {
      content: [{ type: 'text', text: 'What is in my tracker?' }],
      mcp_server_ids: [added.id],
    });
    const chatId: string = chat.body.id;
    await settled(chatId);
    expect(JSON.stringify(requestsOf(chatId)[0]!.body)).toContain('has not connected their account');

    // Connect: the authorization URL, the authorization server's redirect, the public callback.
    expect((await app.request('POST', `/mcp-servers/${randomUUID()}/oauth/connect`)).status).toBe(404);
    const connect = await asMember('POST', `/mcp-servers/${added.id}/oauth/connect`);
    expect(connect.status).toBe(200);
    const authorization = new URL(connect.body.authorization_url);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('redirect_uri')).toBe(`${app.url}/api/v1/mcp-servers/oauth/callback`);
    const redirect = await fetch(authorization, { redirect: 'manual' });
    const callbackUrl = redirect.headers.get('location')!;
    const callback = await fetch(callbackUrl);
    expect(callback.status).toBe(200);
    expect(await callback.text()).toContain('connected to Tracker');
    expect(await listed()).toBe(true);
    const replay = await fetch(callbackUrl);
    expect(replay.status).toBe(400);
    expect(((await replay.json()) as any).error.code).toBe('mcp_oauth_state_invalid');

    const ask = async (message: string) => {
      fake.enqueue(toolCalls([{ name: `${added.slug}__echo`, args: { message } }]), text('Done.'));
      const sent = await asMember('POST', `/chats/${chatId}/messages`, { content: [{ type: 'text', text: message }] });
      expect(sent.status).toBe(200);
      await settled(chatId);
      return (await toolResults(chatId)).at(-1);
    };
    expect(await ask('first')).toMatchObject({ result: 'Echo: first (as johndoe)', is_error: false });

    // The server stops accepting the token: chatd refreshes it on the 401 and the call goes through.
    const before = await oauthServer.stats();
    await oauthServer.revokeSeenTokens();
    expect(await ask('second')).toMatchObject({ result: 'Echo: second (as johndoe)', is_error: false });
    const after = await oauthServer.stats();
    expect(after.grants.refresh_token).toBe((before.grants.refresh_token ?? 0) + 1);
    expect(after.unauthorized).toBeGreaterThan(before.unauthorized);

    // Tokens now live 2 s; once one has expired, the next turn refreshes it before use: no 401.
    await oauthServer.setTokenTtl(2);
    await oauthServer.revokeSeenTokens();
    expect(await ask('third')).toMatchObject({ result: 'Echo: third (as johndoe)', is_error: false });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const expired = await oauthServer.stats();
    expect(await ask('fourth')).toMatchObject({ result: 'Echo: fourth (as johndoe)', is_error: false });
    const refreshed = await oauthServer.stats();
    expect(refreshed.unauthorized).toBe(expired.unauthorized);
    expect(refreshed.grants.refresh_token).toBeGreaterThan(expired.grants.refresh_token!);

    // Disconnecting forgets the tokens.
    expect((await asMember('DELETE', `/mcp-servers/${added.id}/oauth`)).status).toBe(204);
    expect(await listed()).toBe(false);
    expect((await asMember('DELETE', `/mcp-servers/${added.id}/oauth`)).status).toBe(404);
  });

  it('appears typed in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as any;
    const create = doc.paths['/admin/mcp-servers'].post;
    const body = create.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(expect.arrayContaining(['slug', 'display_name', 'url']));
    // The response is the named McpServer component.
    const created = create.responses['201'].content['application/json'].schema;
    expect(created).toEqual({ $ref: '#/components/schemas/McpServer' });
    expect(doc.components.schemas.McpServer.properties.auth).toBeDefined();
    expect(doc.paths['/mcp-servers/oauth/callback'].get.security).toEqual([]);
    const chat = doc.paths['/chats'].post.requestBody.content['application/json'].schema;
    expect(chat.properties.mcp_server_ids.items).toMatchObject({ type: 'string', format: 'uuid' });
  });
});
