/**
 * Spend limits over HTTP. Without a worker (chats stay `pending`, so a send queues): which limit applies
 * (the user's own, else the lowest of their groups', else the default; none while disabled), the 409
 * `usage_limit_exceeded` of create, send, queue, edit and promote with nothing written, the status
 * endpoint, what counts as spend (deleted messages, sub-agent chats, side calls) and the period
 * boundaries. With a worker: a turn that crosses its limit stops before its next model call, a sub-agent
 * spawn over the limit is a tool error, and a message queued before the limit changed is still promoted
 * after an interrupt, its turn then stopping at its first model call. Spend is made by writing costed
 * rows (an assistant message or a usage record) in the user's chats, or by priced model steps.
 */
import { startTestApp, textBody, turnRequests, type TestApp } from '../support/app';
import { createTestUser, type TestUser } from '../support/users';
import { until } from '../support/wait';
import { hang, toolCalls } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

/** Makes `chatId` cost `micros`, at `createdAt` (default now): a usage record, or a (deleted) assistant message. */
async function addSpend(
  app: TestApp,
  chatId: string,
  micros: number,
  opts: { createdAt?: Date; as?: 'record' | 'message' | 'deleted message' } = {},
): Promise<void> {
  const createdAt = opts.createdAt ?? new Date();
  if ((opts.as ?? 'record') === 'record') {
    await app.deps.db
      .insertInto('chat_usage_records')
      .values({
        chat_id: chatId,
        kind: 'compaction',
        model: 'fake-model',
        total_cost_micros: micros,
        created_at: createdAt,
      })
      .execute();
    return;
  }
  await app.deps.db
    .insertInto('chat_messages')
    .values({
      chat_id: chatId,
      role: 'assistant',
      content: '[]',
      total_cost_micros: micros,
      created_at: createdAt,
      deleted: opts.as === 'deleted message',
    } as never)
    .execute();
}

async function setDefault(app: TestApp, body: Record<string, unknown>): Promise<void> {
  const res = await app.request('PUT', '/usage-limits', body);
  expect(res.status).toBe(200);
}

async function limitUser(app: TestApp, userId: string, micros: number): Promise<void> {
  const res = await app.request('PUT', `/usage-limits/users/${userId}`, { spend_limit_micros: micros });
  expect(res.status).toBe(200);
}

describe('spend limits', () => {
  describe('over HTTP (no worker)', () => {
    let fake: FakeLlmServer;
    let app: TestApp;

    beforeAll(async () => {
      fake = await FakeLlmServer.start();
      app = await startTestApp({ fake, roles: { api: true, worker: false } });
    });

    afterAll(async () => {
      await app?.stop();
      await fake?.close();
    });

    afterEach(async () => {
      await setDefault(app, { enabled: false, period: 'month' });
    });

    const status = async (user: TestUser) => {
      const res = await app.request('GET', '/usage-limits/status', undefined, user.token);
      expect(res.status).toBe(200);
      return res.body;
    };

    async function newGroup(limit: number | null): Promise<string> {
      const res = await app.request('POST', '/groups', { name: `g-${Math.random().toString(36).slice(2, 10)}` });
      expect(res.status).toBe(201);
      if (limit !== null) {
        const put = await app.request('PUT', `/usage-limits/groups/${res.body.id}`, { spend_limit_micros: limit });
        expect(put.status).toBe(200);
      }
      return res.body.id;
    }

    const join = (groupId: string, user: TestUser) => app.request('PUT', `/groups/${groupId}/members/${user.id}`);

    async function createChat(user: TestUser, message = 'hello'): Promise<string> {
      const res = await app.request('POST', '/chats', textBody(message), user.token);
      expect(res.status).toBe(201);
      return res.body.id;
    }

    it('applies the user’s own limit, else the lowest of their groups’, else the default; none while disabled', async () => {
      await setDefault(app, { enabled: true, period: 'week', spend_limit_micros: 9_000 });
      const [plain, grouped, own] = await Promise.all([createTestUser(app), createTestUser(app), createTestUser(app)]);
      const high = await newGroup(5_000);
      const low = await newGroup(3_000);
      const unlimited = await newGroup(null);
      for (const g of [high, low, unlimited]) await join(g, grouped);
      await join(low, own);
      await limitUser(app, own.id, 7_000);

      expect(await status(plain)).toMatchObject({
        is_limited: true,
        spend_limit_micros: 9_000,
        limit_source: 'default',
        period: 'week',
      });
      expect(await status(grouped)).toMatchObject({
        is_limited: true,
        spend_limit_micros: 3_000,
        limit_source: 'group',
      });
      // The user's own limit wins even over a lower group limit.
      expect(await status(own)).toMatchObject({ is_limited: true, spend_limit_micros: 7_000, limit_source: 'user' });

      const config = await app.request('GET', '/usage-limits');
      expect(config.body).toMatchObject({ enabled: true, period: 'week', spend_limit_micros: 9_000 });
      expect(config.body.overrides).toContainEqual({
        user_id: own.id,
        username: own.username,
        name: expect.any(String),
        spend_limit_micros: 7_000,
      });
      expect(config.body.group_overrides).toContainEqual(
        expect.objectContaining({ group_id: low, member_count: 2, spend_limit_micros: 3_000 }),
      );

      // Removing overrides falls back: the user to their group, the group's members to the default.
      expect((await app.request('DELETE', `/usage-limits/users/${own.id}`)).status).toBe(204);
      expect(await status(own)).toMatchObject({ spend_limit_micros: 3_000, limit_source: 'group' });
      expect((await app.request('DELETE', `/usage-limits/groups/${low}`)).status).toBe(204);
      expect(await status(grouped)).toMatchObject({ spend_limit_micros: 5_000, limit_source: 'group' });
      expect(await status(own)).toMatchObject({ spend_limit_micros: 9_000, limit_source: 'default' });

      // Disabled: nobody is limited, whatever the limits say.
      await limitUser(app, own.id, 1);
      await setDefault(app, { enabled: false, period: 'week', spend_limit_micros: 9_000 });
      for (const user of [plain, grouped, own]) {
        expect(await status(user)).toMatchObject({ is_limited: false, spend_limit_micros: null, period_end: null });
      }
    });

    it('refuses create, send, queue, edit and promote with 409 and the numbers, writing nothing', async () => {
      const user = await createTestUser(app);
      await setDefault(app, { enabled: true, period: 'day', spend_limit_micros: 1_000 });
      const busy = await createChat(user, 'first');
      const queued = await app.request('POST', `/chats/${busy}/messages`, textBody('queued'), user.token);
      expect(queued.body.queued).toBe(true);
      const idle = await createChat(user, 'idle');
      expect((await app.request('POST', `/chats/${idle}/interrupt`, undefined, user.token)).body.status).toBe(
        'waiting',
      );
      const firstMessage = (await app.request('GET', `/chats/${busy}/messages`, undefined, user.token)).body
        .messages[0];

      await addSpend(app, busy, 600);
      await addSpend(app, idle, 400, { as: 'message' });
      const snapshot = async () => ({
        chats: await app.deps.db
          .selectFrom('chats')
          .select(['id', 'status', 'turn'])
          .where('owner_id', '=', user.id)
          .orderBy('id')
          .execute(),
        messages: await app.deps.db
          .selectFrom('chat_messages')
          .select(['id', 'deleted'])
          .where('chat_id', 'in', [busy, idle])
          .orderBy('id')
          .execute(),
        queued: await app.deps.db
          .selectFrom('chat_queued_messages')
          .select('id')
          .where('chat_id', 'in', [busy, idle])
          .execute(),
      });
      const before = await snapshot();

      const now = new Date();
      const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1)).toISOString();
      const refusals = {
        create: await app.request('POST', '/chats', textBody('one more'), user.token),
        queue: await app.request('POST', `/chats/${busy}/messages`, textBody('queue me'), user.token),
        send: await app.request('POST', `/chats/${idle}/messages`, textBody('start a turn'), user.token),
        edit: await app.request('PATCH', `/chats/${busy}/messages/${firstMessage.id}`, textBody('edited'), user.token),
        promote: await app.request(
          'POST',
          `/chats/${busy}/queue/${queued.body.queued_message.id}/promote`,
          {},
          user.token,
        ),
      };
      for (const [what, res] of Object.entries(refusals)) {
        expect({ what, status: res.status, error: res.body.error }).toEqual({
          what,
          status: 409,
          error: {
            code: 'usage_limit_exceeded',
            message: `Chat usage limit exceeded: $0.001 of $0.001 spent; it resets at ${tomorrow}.`,
            details: { spent_micros: 1_000, limit_micros: 1_000, resets_at: tomorrow },
          },
        });
      }
      expect(await snapshot()).toEqual(before);

      // Someone else's chat is still a 404, limit or not; a blank message still a 400.
      const other = await createTestUser(app);
      const foreign = await createChat(other);
      expect((await app.request('POST', `/chats/${foreign}/messages`, textBody('x'), user.token)).status).toBe(404);
      expect((await app.request('POST', '/chats', textBody('  '), user.token)).status).toBe(400);

      // A higher limit lets the same requests through.
      await limitUser(app, user.id, 1_001);
      expect((await app.request('POST', `/chats/${busy}/messages`, textBody('queue me'), user.token)).status).toBe(200);
    });

    it('counts deleted messages, sub-agent chats and side calls as spend, and no one else’s', async () => {
      const user = await createTestUser(app);
      const other = await createTestUser(app);
      await limitUser(app, user.id, 1_000_000);
      await setDefault(app, { enabled: true, period: 'month' });
      const root = await createChat(user);
      const child = await app.deps.db
        .insertInto('chats')
        .values({
          owner_id: user.id,
          parent_chat_id: root,
          root_chat_id: root,
          last_model_config_id: app.modelConfigId,
          labels: '{}',
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await addSpend(app, root, 100, { as: 'deleted message' });
      await addSpend(app, root, 20, { as: 'message' });
      await addSpend(app, child.id, 3_000, { as: 'message' });
      await addSpend(app, root, 400);
      await addSpend(app, await createChat(other), 50_000, { as: 'message' });
      expect(await status(user)).toMatchObject({
        is_limited: true,
        current_spend: 3_520,
        spend_limit_micros: 1_000_000,
      });
    });

    it.each(['day', 'week', 'month'] as const)(
      'starts each %s at the UTC period boundary: spend just before it no longer counts',
      async (period) => {
        const user = await createTestUser(app);
        await setDefault(app, { enabled: true, period, spend_limit_micros: 500 });
        const chatId = await createChat(user);
        const first = await status(user);
        const start = new Date(first.period_start);
        const end = new Date(first.period_end);
        expect(start.getTime()).toBeLessThanOrEqual(Date.now());
        expect(end.getTime()).toBeGreaterThan(Date.now());
        expect(start.getUTCHours() + start.getUTCMinutes() + start.getUTCSeconds() + start.getUTCMilliseconds()).toBe(
          0,
        );
        if (period === 'week') expect(start.getUTCDay()).toBe(1);
        if (period === 'month') expect(start.getUTCDate()).toBe(1);

        // Over the limit, but the last millisecond of the previous period: allowed.
        await addSpend(app, chatId, 500, { createdAt: new Date(start.getTime() - 1), as: 'message' });
        expect(await status(user)).toMatchObject({ current_spend: 0 });
        expect((await app.request('POST', '/chats', textBody('allowed'), user.token)).status).toBe(201);

        // The same spend moved to the period's first millisecond: refused until the period ends.
        await app.deps.db
          .updateTable('chat_messages')
          .set({ created_at: start })
          .where('chat_id', '=', chatId)
          .where('total_cost_micros', '=', 500)
          .execute();
        expect(await status(user)).toMatchObject({ current_spend: 500 });
        const refused = await app.request('POST', '/chats', textBody('refused'), user.token);
        expect(refused.status).toBe(409);
        expect(refused.body.error.details).toEqual({
          spent_micros: 500,
          limit_micros: 500,
          resets_at: end.toISOString(),
        });
      },
    );

    it('reports unlimited users as such, with their spend', async () => {
      const user = await createTestUser(app);
      const chatId = await createChat(user);
      await addSpend(app, chatId, 42);
      expect(await status(user)).toEqual({
        is_limited: false,
        period: null,
        spend_limit_micros: null,
        limit_source: null,
        current_spend: 42,
        period_start: null,
        period_end: null,
      });
    });

    it('validates admin input with 4xx and changes nothing', async () => {
      const member = await createTestUser(app);
      await limitUser(app, member.id, 700);
      const before = (await app.request('GET', '/usage-limits')).body;
      const missing = '00000000-0000-4000-8000-000000000000';
      const cases: Array<[string, string, unknown, number, string]> = [
        ['PUT', '/usage-limits', { enabled: true, period: 'year' }, 400, 'validation_failed'],
        ['PUT', '/usage-limits', { enabled: true, period: 'day', spend_limit_micros: 0 }, 400, 'validation_failed'],
        ['PUT', '/usage-limits', { period: 'day' }, 400, 'validation_failed'],
        ['PUT', '/usage-limits', { enabled: true, period: 'day', extra: 1 }, 400, 'validation_failed'],
        ['PUT', `/usage-limits/users/${member.id}`, { spend_limit_micros: 0 }, 400, 'validation_failed'],
        ['PUT', `/usage-limits/users/${member.id}`, { spend_limit_micros: 1.5 }, 400, 'validation_failed'],
        ['PUT', `/usage-limits/users/${member.id}`, { spend_limit_micros: '100' }, 400, 'validation_failed'],
        ['PUT', `/usage-limits/users/${missing}`, { spend_limit_micros: 10 }, 404, 'user_not_found'],
        ['DELETE', `/usage-limits/users/${missing}`, undefined, 404, 'user_not_found'],
        ['PUT', `/usage-limits/groups/${missing}`, { spend_limit_micros: 10 }, 404, 'group_not_found'],
        ['DELETE', `/usage-limits/groups/${missing}`, undefined, 404, 'group_not_found'],
        ['PUT', '/usage-limits/users/not-a-uuid', { spend_limit_micros: 10 }, 400, 'validation_failed'],
      ];
      for (const [method, path, body, statusCode, code] of cases) {
        const res = await app.request(method, path, body);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
          method,
          path,
          status: statusCode,
          code,
        });
      }
      const message = (await app.request('PUT', `/usage-limits/users/${member.id}`, { spend_limit_micros: -5 })).body
        .error;
      expect(JSON.stringify(message.details)).toContain('Spend limit must be greater than 0.');
      // Members may read their status, nothing else.
      for (const [method, path, body] of [
        ['GET', '/usage-limits', undefined],
        ['PUT', '/usage-limits', { enabled: false, period: 'day' }],
        ['PUT', `/usage-limits/users/${member.id}`, { spend_limit_micros: 1_000_000 }],
        ['DELETE', `/usage-limits/users/${member.id}`, undefined],
      ] as const) {
        expect((await app.request(method, path, body, member.token)).status).toBe(403);
      }
      expect((await app.request('GET', '/usage-limits')).body).toEqual(before);
      expect((await app.request('GET', '/usage-limits/status', undefined, member.token)).status).toBe(200);
    });
  });

  describe('in a running turn', () => {
    let fake: FakeLlmServer;
    let app: TestApp;
    let user: TestUser;

    beforeAll(async () => {
      fake = await FakeLlmServer.start();
      app = await startTestApp({ fake });
      // $1 per million tokens in and out: one micro-dollar per token.
      const priced = await app.request('PATCH', `/model-configs/${app.modelConfigId}`, {
        options: { cost: { input_price_per_million_tokens: 1, output_price_per_million_tokens: 1 } },
      });
      expect(priced.status).toBe(200);
      await setDefault(app, { enabled: true, period: 'month' });
    });

    beforeEach(async () => {
      user = await createTestUser(app);
    });

    afterEach(() => {
      try {
        fake.assertAllConsumed();
      } finally {
        fake.reset();
      }
    });

    afterAll(async () => {
      await app?.stop();
      await fake?.close();
    });

    const chatOf = (chatId: string, predicate: (chat: any) => boolean, what: string) =>
      until(async () => {
        const res = await app.request('GET', `/chats/${chatId}`, undefined, user.token);
        return predicate(res.body) ? res.body : undefined;
      }, what);

    const messagesOf = async (chatId: string) =>
      (await app.request('GET', `/chats/${chatId}/messages`, undefined, user.token)).body;

    it('stops a turn that crossed the limit before its next model call, keeping its steps', async () => {
      await limitUser(app, user.id, 1_000);
      // Step 0 costs 1,500 (1,400 in + 100 out) and calls a tool; step 1 is never requested.
      fake.enqueue(
        toolCalls([{ id: 'call_list', name: 'list_templates', args: {} }], {
          usage: { inputTokens: 1_400, outputTokens: 100 },
        }),
      );
      const created = await app.request(
        'POST',
        '/chats',
        textBody('list the templates, then explain them'),
        user.token,
      );
      expect(created.status).toBe(201);
      const chat = await chatOf(created.body.id, (c) => c.status === 'error', 'the turn to stop');
      expect(chat.last_error_kind).toBe('usage_limit');
      expect(chat.last_error).toMatch(/^Chat usage limit exceeded: \$0\.0015 of \$0\.001 spent; it resets at /);
      expect(turnRequests(fake)).toHaveLength(1);
      const { messages } = await messagesOf(created.body.id);
      expect(messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool']);
      expect(messages[1].total_cost_micros).toBe(1_500);
      const status = (await app.request('GET', '/usage-limits/status', undefined, user.token)).body;
      expect(status.current_spend).toBe(1_500);
    });

    it('answers a sub-agent spawn over the limit with a tool error; the turn goes on to its next model call', async () => {
      await limitUser(app, user.id, 1_000);
      fake.enqueue(
        toolCalls([{ id: 'call_spawn', name: 'spawn_agent', args: { prompt: 'count to three' } }], {
          usage: { inputTokens: 1_000, outputTokens: 0 },
        }),
      );
      const created = await app.request('POST', '/chats', textBody('delegate the counting'), user.token);
      const chat = await chatOf(created.body.id, (c) => c.status === 'error', 'the turn to stop');
      const { messages } = await messagesOf(created.body.id);
      const result = messages.find((m: any) => m.role === 'tool')?.content[0];
      expect(result).toMatchObject({ tool_name: 'spawn_agent', is_error: true });
      expect(JSON.stringify(result.result)).toContain('Chat usage limit exceeded');
      // No child chat; the refusal did not fail the turn: its next model step did, at the limit check.
      const children = await app.deps.db
        .selectFrom('chats')
        .select('id')
        .where('parent_chat_id', '=', created.body.id)
        .execute();
      expect(children).toEqual([]);
      expect(chat.last_error_kind).toBe('usage_limit');
      expect(turnRequests(fake)).toHaveLength(1);
    });

    it('still promotes a message queued before the limit changed after an interrupt; its turn stops at its first model call', async () => {
      fake.enqueue(hang({ afterText: 'Working on' }));
      const created = await app.request('POST', '/chats', textBody('take your time'), user.token);
      const chatId: string = created.body.id;
      await chatOf(chatId, (c) => c.status === 'running', 'the first turn to run');
      await fake.waitForRequests(1, 30_000);
      const queued = await app.request('POST', `/chats/${chatId}/messages`, textBody('and then this'), user.token);
      expect(queued.body.queued).toBe(true);

      // Meanwhile the user's limit drops below what they already spent.
      await addSpend(app, chatId, 10);
      await limitUser(app, user.id, 10);
      expect((await app.request('POST', `/chats/${chatId}/interrupt`, undefined, user.token)).status).toBe(200);

      const chat = await chatOf(chatId, (c) => c.status === 'error', 'the promoted turn to stop');
      expect(chat.last_error_kind).toBe('usage_limit');
      const page = await messagesOf(chatId);
      expect(page.queued_messages).toEqual([]);
      const users = page.messages.filter((m: any) => m.role === 'user').map((m: any) => m.content[0].text);
      expect(users).toEqual(['take your time', 'and then this']);
      // Only the interrupted turn reached the provider.
      expect(turnRequests(fake)).toHaveLength(1);
    });
  });
});
