/**
 * The MCP tool catalog and the tool step against real MCP servers: the reference server
 * (@modelcontextprotocol/server-everything) over streamable HTTP and SSE, killed mid-call for the crash
 * case, and an in-process server for progress and list changes. Server configs live in a real PostgreSQL
 * database, written by the admin service, so secrets and policies take the same path as in production.
 */
import { randomUUID } from 'node:crypto';
import { createMcpServer, type CreateMcpServerInput } from '../../../src/admin/mcp-servers.service';
import { insertMessages } from '../../../src/db/repositories/messages.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { McpToolCatalog, type McpCatalogOptions } from '../../../src/mcp/catalog';
import { McpClientPool } from '../../../src/mcp/client-pool';
import { McpOAuth } from '../../../src/mcp/oauth';
import { messageRow, stepKey } from '../../../src/messages/rows';
import { SecretBox } from '../../../src/security/secrets';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import { buildToolRegistry, INTERRUPTED_RESULT } from '../../../src/tools/registry';
import type { ToolContext } from '../../../src/tools/types';
import type { ChatForTools } from '../../../src/turn/chat-tools';
import { INTERRUPT } from '../../../src/turn/deps';
import { runToolStep } from '../../../src/turn/tool-step';
import { spawnSubagent } from '../../../src/turn/subagent-chats';
import { createLogger } from '../../../src/log';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';
import { waitUntil } from '../../support/wait';
import {
  startEverythingServer,
  startTestMcpServer,
  type ChildServer,
  type TestMcpServer,
} from '../../support/mcp/servers';

describe('MCP tools in a turn', () => {
  let database: TestDatabase;
  let secrets: SecretBox;
  let pool: McpClientPool;
  let ownerId: string;
  let modelConfigId: string;
  const children: Array<ChildServer<unknown>> = [];
  const inProcess: TestMcpServer[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    secrets = new SecretBox(SecretBox.generateKeyEntry('k1'));
    pool = new McpClientPool({ connectTimeoutMs: 5_000, idleMs: 60_000, version: 'test' });
    ownerId = (await insertUser(database.db, { username: 'mcp-owner', role: 'member' })).id;
    modelConfigId = (await insertUnusedModelConfig(database.db)).id;
  });

  afterAll(async () => {
    await pool?.close();
    await Promise.all(children.map((c) => c.stop()));
    await Promise.all(inProcess.map((s) => s.close()));
    await database?.drop();
  });

  const catalog = (options: Partial<McpCatalogOptions> = {}) =>
    new McpToolCatalog({
      db: database.db,
      secrets,
      pool,
      oauth: new McpOAuth({ db: database.db, secrets }),
      toolsTtlMs: 60_000,
      callTimeoutMs: 5_000,
      maxCallMs: 60_000,
      heartbeatMs: 100,
      ...options,
    });

  /** A server row with a fresh slug; returns its id and slug. */
  async function addServer(input: Partial<CreateMcpServerInput> & { url: string }) {
    const slug = `s${randomUUID().slice(0, 8)}`;
    const dto = await createMcpServer(
      { db: database.db, secrets },
      { id: ownerId, role: 'admin' },
      { slug, display_name: `Server ${slug}`, ...input },
    );
    return { id: dto.id, slug };
  }

  const chat = (ids: string[]): ChatForTools => ({
    id: randomUUID(),
    owner_id: ownerId,
    parent_chat_id: null,
    mcp_server_ids: ids,
  });

  function context(signal = new AbortController().signal): ToolContext & { beats: number } {
    const ctx = {
      chatId: randomUUID(),
      toolCallId: 'call',
      signal,
      workspace: null,
      beats: 0,
      heartbeat: () => {
        ctx.beats++;
      },
    };
    return ctx;
  }

  async function everything(transport: 'streamable_http' | 'sse') {
    const server = await startEverythingServer(transport);
    children.push(server);
    return server;
  }

  describe.each(['streamable_http', 'sse'] as const)('over %s', (transport) => {
    it('offers the server’s tools as <slug>__<tool> with their schemas and policies, and runs calls', async () => {
      const server = await everything(transport);
      const { id, slug } = await addServer({
        url: server.info.url,
        transport,
        approval: 'ask',
        tool_approval: { echo: 'auto' },
      });
      const tools = await catalog().toolsFor(chat([id]));
      expect(tools.notes).toEqual([]);
      const echo = tools.specs.find((s) => s.name === `${slug}__echo`);
      expect(echo).toMatchObject({
        description: expect.stringContaining('Echoes back the input string'),
        inputSchema: { type: 'object', properties: { message: { type: 'string' } } },
      });
      expect(tools.specs.map((s) => s.name)).toContain(`${slug}__trigger-long-running-operation`);
      expect(tools.approval(`${slug}__echo`)).toBe('auto');
      expect(tools.approval(`${slug}__get-sum`)).toBe('ask');
      expect(tools.approval('read_file')).toBeUndefined();

      const call = (name: string, input: Record<string, unknown> = {}) =>
        tools.execute({ id: 'c1', name: `${slug}__${name}`, input }, context());
      expect(await call('echo', { message: 'hello' })).toEqual({ result: 'Echo: hello', isError: false });
      const image = await call('get-tiny-image');
      expect(image.isError).toBe(false);
      expect(image.result).toMatchObject({
        content: [
          { type: 'text', text: "Here's the image you requested:" },
          { type: 'image', media_type: 'image/png', note: expect.stringMatching(/an image \(image\/png, \d+ bytes\)/) },
          { type: 'text' },
        ],
      });
      expect(JSON.stringify(image.result)).not.toContain('iVBOR');
      const reference = await call('get-resource-reference');
      expect(reference.result).toMatchObject({
        content: expect.arrayContaining([
          {
            type: 'resource',
            uri: 'demo://resource/dynamic/text/1',
            media_type: 'text/plain',
            text: expect.any(String),
          },
        ]),
      });
      const links = await call('get-resource-links', { count: 2 });
      expect(links.result).toMatchObject({
        content: expect.arrayContaining([expect.objectContaining({ type: 'resource_link', name: 'Blob Resource 1' })]),
      });
      const structured = await call('get-structured-content', { location: 'New York' });
      expect(structured.result).toMatchObject({ structured_content: { temperature: expect.any(Number) } });
      // Arguments the server's schema refuses come back as an error result, not a thrown error.
      const refused = await call('get-sum', { a: 'not a number' });
      expect(refused.isError).toBe(true);
    });

    it('gives a call whose server is killed mid-call an error result, and the turn goes on', async () => {
      const server = await everything(transport);
      const { id, slug } = await addServer({ url: server.info.url, transport });
      const tools = await catalog({ callTimeoutMs: 30_000 }).toolsFor(chat([id]));
      const ctx = context();
      const started = Date.now();
      const pending = tools.execute(
        { id: 'c1', name: `${slug}__trigger-long-running-operation`, input: { duration: 30, steps: 30 } },
        ctx,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      server.kill();
      const output = await pending;
      expect(output.isError).toBe(true);
      expect((output.result as { error: string }).error).toMatch(/MCP server/);
      // Failed by the dead connection, long before the 30 s call timeout.
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(ctx.beats).toBeGreaterThan(0);

      // The next step leaves the dead server out with a note instead of failing.
      const next = await catalog().toolsFor(chat([id]));
      expect(next.specs).toEqual([]);
      expect(next.notes).toEqual([expect.stringContaining('cannot be used right now')]);
    });
  });

  it('leaves an unreachable server out with a note naming it', async () => {
    const { id, slug } = await addServer({ url: 'http://127.0.0.1:9/mcp', display_name: 'Gone' });
    const tools = await catalog().toolsFor(chat([id]));
    expect(tools.specs).toEqual([]);
    expect(tools.notes).toEqual([expect.stringContaining(`"Gone" (tools named ${slug}__*) cannot be used right now`)]);
    const output = await tools.execute({ id: 'c', name: `${slug}__echo`, input: {} }, context());
    expect(output).toMatchObject({ isError: true, result: { error: expect.stringContaining('not available') } });
  });

  it('applies the allow and deny lists', async () => {
    const server = await startTestMcpServer();
    inProcess.push(server);
    const allowed = await addServer({ url: server.url, tool_allow_list: ['slow'] });
    const denied = await addServer({ url: server.url, tool_deny_list: ['slow'] });
    const tools = await catalog().toolsFor(chat([allowed.id, denied.id]));
    expect(tools.specs.map((s) => s.name).sort()).toEqual([`${allowed.slug}__slow`, `${denied.slug}__echo`].sort());
  });

  it('keeps a call alive while it reports progress, heartbeating, and ends it at once on interrupt', async () => {
    const server = await startTestMcpServer();
    inProcess.push(server);
    const { id, slug } = await addServer({ url: server.url });
    // 600 ms without progress would time out; the call takes 1.2 s but reports progress every 200 ms.
    const tools = await catalog({ callTimeoutMs: 600, heartbeatMs: 60_000 }).toolsFor(chat([id]));
    const ctx = context();
    const output = await tools.execute({ id: 'c', name: `${slug}__slow`, input: { steps: 6 } }, ctx);
    expect(output).toEqual({ result: 'slow finished 6 steps', isError: false });
    expect(ctx.beats).toBeGreaterThanOrEqual(5);

    const abort = new AbortController();
    const started = Date.now();
    const pending = tools.execute({ id: 'c2', name: `${slug}__slow`, input: { steps: 50 } }, context(abort.signal));
    setTimeout(() => abort.abort(INTERRUPT), 300);
    expect(await pending).toEqual({ result: { ...INTERRUPTED_RESULT }, isError: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    // The server is told the request was cancelled.
    await waitUntil(() => server.methods.includes('notifications/cancelled'), 5_000, 'the cancellation');
  });

  it('reads the tool list again after notifications/tools/list_changed', async () => {
    const server = await startTestMcpServer();
    inProcess.push(server);
    const { id, slug } = await addServer({ url: server.url });
    const names = async () => (await catalog().toolsFor(chat([id]))).specs.map((s) => s.name);
    expect(await names()).not.toContain(`${slug}__added`);
    const listed = server.methods.filter((m) => m === 'tools/list').length;
    // Cached: the list is not asked for again within its TTL.
    await names();
    expect(server.methods.filter((m) => m === 'tools/list').length).toBe(listed);
    server.addTool('added');
    await waitUntil(async () => (await names()).includes(`${slug}__added`), 5_000, 'the added tool');
  });

  it('tells the model an OAuth server needs the user to connect, and offers none of its tools', async () => {
    const server = await startTestMcpServer();
    inProcess.push(server);
    const { id, slug } = await addServer({
      url: server.url,
      display_name: 'Tracker',
      auth: { type: 'oauth2', client_id: 'chatd' },
    });
    const tools = await catalog().toolsFor(chat([id]));
    expect(tools.specs).toEqual([]);
    expect(tools.notes).toEqual([
      expect.stringContaining(`"Tracker" (tools named ${slug}__*) is selected for this chat, but the user has not`),
    ]);
  });

  it('gives a sub-agent its parent’s MCP servers', async () => {
    const { id } = await addServer({ url: 'http://127.0.0.1:9/mcp' });
    const parent = await database.db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        last_model_config_id: modelConfigId,
        labels: '{}',
        status: 'running',
        turn: 1,
        mcp_server_ids: [id],
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await insertMessages(database.db, [
      messageRow({
        chatId: parent.id,
        turn: 1,
        role: 'assistant',
        stepKey: stepKey(1, 0, 'assistant'),
        content: [
          { type: 'tool-call', tool_call_id: 'spawn', tool_name: 'spawn_agent', args: { prompt: 'Look it up' } },
        ],
      }),
    ]);
    const spawned = await spawnSubagent(
      {
        db: database.db,
        bus: new MemoryStreamBus(),
        log: createLogger('silent', 'test'),
        turns: {
          requestTurn: async () => undefined,
          interrupt: async () => undefined,
          notifySubagentFinished: async () => undefined,
          decideToolCall: async () => 'not_waiting' as const,
        },
      },
      { chatId: parent.id, turn: 1, step: 0, callId: 'spawn' },
    );
    expect('child' in spawned).toBe(true);
    const child = await database.db
      .selectFrom('chats')
      .select('mcp_server_ids')
      .where('parent_chat_id', '=', parent.id)
      .executeTakeFirstOrThrow();
    expect(child.mcp_server_ids).toEqual([id]);
  });

  it('runs the tool step’s MCP calls beside built-in ones and persists their results in call order', async () => {
    const server = await everything('streamable_http');
    const { id, slug } = await addServer({ url: server.info.url });
    const chatRow = await database.db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        last_model_config_id: modelConfigId,
        labels: '{}',
        status: 'running',
        turn: 1,
        mcp_server_ids: [id],
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await insertMessages(database.db, [
      messageRow({
        chatId: chatRow.id,
        turn: 1,
        role: 'assistant',
        stepKey: stepKey(1, 0, 'assistant'),
        content: [
          { type: 'tool-call', tool_call_id: 'a', tool_name: `${slug}__echo`, args: { message: 'one' } },
          { type: 'tool-call', tool_call_id: 'b', tool_name: 'no_such_builtin', args: {} },
          { type: 'tool-call', tool_call_id: 'c', tool_name: `${slug}__get-sum`, args: { a: 2, b: 3 } },
        ],
      }),
    ]);
    const summary = await runToolStep(
      {
        db: database.db,
        bus: new MemoryStreamBus(),
        tools: buildToolRegistry([]),
        externalTools: catalog(),
        workspaceFor: async () => null,
      },
      { chatId: chatRow.id, turn: 1, step: 0 },
      new Set(),
      { signal: new AbortController().signal, heartbeat: () => undefined },
    );
    expect(summary).toEqual({ status: 'ok', results: 3 });
    const rows = await database.db
      .selectFrom('chat_messages')
      .select('content')
      .where('chat_id', '=', chatRow.id)
      .where('role', '=', 'tool')
      .orderBy('id')
      .execute();
    const parts = rows.map(
      (r) => (r.content as Array<{ tool_call_id: string; result: unknown; is_error: boolean }>)[0]!,
    );
    expect(parts.map((p) => p.tool_call_id)).toEqual(['a', 'b', 'c']);
    expect(parts[0]).toMatchObject({ result: 'Echo: one', is_error: false });
    expect(parts[1]).toMatchObject({ is_error: true });
    expect(parts[2]).toMatchObject({ result: expect.stringContaining('5'), is_error: false });
  });
});
