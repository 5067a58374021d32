/**
 * Cost reports over HTTP: a user's summary (totals, priced and unpriced messages, side calls, tokens,
 * per model config and per root chat with sub-agents rolled up), the default 30-day window and explicit
 * dates, costs that survive the deletion of their model config, who may see what (members only
 * themselves: another user is a 404, everyone a 403), and the admin's per-user roll-up with its filter
 * and pages. One real priced turn (with its priced title) shows persisted steps land in the reports; the
 * other costed rows are written directly, at chosen times and prices.
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, TEST_TITLE, textBody, type TestApp } from '../support/app';
import { until } from '../support/wait';
import { titleModelFor } from '../../src/llm/registry';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

interface User {
  id: string;
  username: string;
  token: string;
}

const DAY_MS = 86_400_000;

describe('cost reports', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  /** Usernames of this file's users start with it, so the roll-up can be filtered to them. */
  const prefix = `cost${randomUUID().slice(0, 6)}`;
  let alice: User;
  let bob: User;
  let modelB: string;
  let titleConfig: string;
  let chat1: string;
  let chat2: string;

  async function newUser(name: string): Promise<User> {
    const user = await app.request('POST', '/users', { username: `${prefix}-${name}`, role: 'member' });
    const token = await app.request('POST', `/users/${user.body.id}/tokens`, {});
    return { id: user.body.id, username: user.body.username, token: token.body.token };
  }

  async function newConfig(model: string, displayName: string, cost: Record<string, number>): Promise<string> {
    const current = await app.request('GET', `/model-configs`);
    const providerId = current.body.find((c: any) => c.id === app.modelConfigId).provider_id;
    const res = await app.request('POST', '/model-configs', {
      provider_id: providerId,
      model,
      display_name: displayName,
      context_limit: 100_000,
      options: { cost },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /** A chat of `ownerId` written directly (no turn runs for it). */
  async function insertChat(ownerId: string, title: string, parent?: string): Promise<string> {
    const row = await app.deps.db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        title,
        parent_chat_id: parent ?? null,
        root_chat_id: parent ?? null,
        last_model_config_id: app.modelConfigId,
        labels: '{}',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async function insertAssistant(
    chatId: string,
    cost: number | null,
    opts: { modelConfigId?: string; input?: number; output?: number; deleted?: boolean; at?: Date } = {},
  ): Promise<void> {
    await app.deps.db
      .insertInto('chat_messages')
      .values({
        chat_id: chatId,
        role: 'assistant',
        content: '[]',
        model_config_id: opts.modelConfigId ?? app.modelConfigId,
        total_cost_micros: cost,
        input_tokens: opts.input ?? null,
        output_tokens: opts.output ?? null,
        deleted: opts.deleted ?? false,
        created_at: opts.at ?? new Date(),
      } as never)
      .execute();
  }

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    const priced = await app.request('PATCH', `/model-configs/${app.modelConfigId}`, {
      display_name: 'Model A',
      options: { cost: { input_price_per_million_tokens: 2, output_price_per_million_tokens: 4 } },
    });
    expect(priced.status).toBe(200);
    modelB = await newConfig('model-b', 'Model B', { output_price_per_million_tokens: 10 });
    // The cheap model titles are generated with: priced by its own config on the same provider.
    titleConfig = await newConfig(titleModelFor('openai')!, 'Title model', {
      input_price_per_million_tokens: 1,
      output_price_per_million_tokens: 1,
    });
    fake.respondTo(titleModelFor('openai')!, () => text(TEST_TITLE, { usage: { inputTokens: 50, outputTokens: 5 } }));
    alice = await newUser('alice');
    bob = await newUser('bob');

    // A real turn: 1,000 in × $2/M + 500 out × $4/M = 4,000; its title 50 + 5 = 55.
    fake.enqueue(text('Here is the plan.', { usage: { inputTokens: 1_000, outputTokens: 500 } }));
    const created = await app.request('POST', '/chats', textBody('plan the migration'), alice.token);
    chat1 = created.body.id;
    await until(async () => {
      const chat = (await app.request('GET', `/chats/${chat1}`, undefined, alice.token)).body;
      return chat.status === 'waiting' && chat.title === TEST_TITLE ? chat : undefined;
    }, 'the turn and its title');
    // A message of model B, with a cost chosen here (not computed from its tokens).
    await insertAssistant(chat1, 1_000, { modelConfigId: modelB, input: 100, output: 50 });
    // A sub-agent of chat1: rolls up into chat1.
    const child = await insertChat(alice.id, 'sub-agent', chat1);
    await insertAssistant(child, 500);

    chat2 = await insertChat(alice.id, 'second chat');
    await insertAssistant(chat2, 300, { deleted: true });
    await insertAssistant(chat2, null, { input: 10, output: 10 });
    await insertAssistant(chat2, 0, { input: 5, output: 5 });
    await app.deps.db
      .insertInto('chat_usage_records')
      .values({
        chat_id: chat2,
        kind: 'compaction',
        model: 'fake-model',
        model_config_id: app.modelConfigId,
        input_tokens: 20,
        total_cost_micros: 200,
      })
      .execute();
    // Outside the default window.
    await insertAssistant(chat2, 7_000, { at: new Date(Date.now() - 40 * DAY_MS) });

    await insertAssistant(await insertChat(bob.id, 'bob’s chat'), 9_000);
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const summary = async (who: string, token: string, query = '') =>
    app.request('GET', `/cost/${who}/summary${query}`, undefined, token);

  const totals = (micros: number) => expect.objectContaining({ total_cost_micros: micros });

  it('sums the caller’s last 30 days: messages (deleted ones too), side calls, tokens, per model and root chat', async () => {
    const res = await summary('me', alice.token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      user_id: alice.id,
      total_cost_micros: 6_055,
      priced_message_count: 4,
      unpriced_message_count: 2,
      side_call_count: 2,
      total_input_tokens: 1_000 + 100 + 10 + 5 + 50 + 20,
      total_output_tokens: 500 + 50 + 10 + 5 + 5,
      chat_count: 2,
    });
    const window = new Date(res.body.end_date).getTime() - new Date(res.body.start_date).getTime();
    expect(window).toBe(30 * DAY_MS);
    expect(res.body.by_model).toEqual([
      expect.objectContaining({
        model_config_id: app.modelConfigId,
        display_name: 'Model A',
        provider: 'openai',
        model: 'fake-model',
        deleted: false,
        total_cost_micros: 5_000,
        priced_message_count: 3,
        unpriced_message_count: 2,
        side_call_count: 1,
      }),
      expect.objectContaining({ model_config_id: modelB, display_name: 'Model B', total_cost_micros: 1_000 }),
      expect.objectContaining({ model_config_id: titleConfig, display_name: 'Title model', total_cost_micros: 55 }),
    ]);
    expect(res.body.by_chat).toEqual([
      expect.objectContaining({ root_chat_id: chat1, chat_title: TEST_TITLE, total_cost_micros: 5_555 }),
      expect.objectContaining({ root_chat_id: chat2, chat_title: 'second chat', total_cost_micros: 500 }),
    ]);
  });

  it('filters by start_date (inclusive) and end_date (exclusive), dates or timestamps', async () => {
    const start = new Date(Date.now() - 60 * DAY_MS).toISOString().slice(0, 10);
    const wide = await summary('me', alice.token, `?start_date=${start}`);
    expect(wide.body.total_cost_micros).toBe(6_055 + 7_000);
    const old = await summary(
      'me',
      alice.token,
      `?start_date=${start}&end_date=${new Date(Date.now() - 35 * DAY_MS).toISOString()}`,
    );
    expect(old.body).toMatchObject({ total_cost_micros: 7_000, priced_message_count: 1, chat_count: 1 });
    expect(old.body.start_date).toBe(`${start}T00:00:00.000Z`);
    const empty = await summary(
      'me',
      alice.token,
      `?start_date=${new Date(Date.now() + DAY_MS).toISOString()}&end_date=${new Date(Date.now() + 2 * DAY_MS).toISOString()}`,
    );
    expect(empty.body).toMatchObject({ total_cost_micros: 0, priced_message_count: 0, by_model: [], by_chat: [] });
  });

  it('keeps the costs and the name of a deleted model config', async () => {
    const before = await summary('me', alice.token);
    expect((await app.request('DELETE', `/model-configs/${modelB}`)).status).toBe(204);
    const after = await summary('me', alice.token);
    expect(after.body.total_cost_micros).toBe(before.body.total_cost_micros);
    expect(after.body.by_model).toContainEqual(
      expect.objectContaining({
        model_config_id: modelB,
        display_name: 'Model B',
        deleted: true,
        total_cost_micros: 1_000,
      }),
    );
  });

  it('shows members only their own costs; admins any user’s and everyone’s', async () => {
    expect((await summary(alice.id, alice.token)).body).toEqual(totals(6_055));
    const foreign = await summary(bob.id, alice.token);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error.code).toBe('user_not_found');
    expect((await summary('all', alice.token)).status).toBe(403);

    expect((await summary(bob.id, app.token)).body).toEqual(totals(9_000));
    const everyone = await summary('all', app.token);
    expect(everyone.body.user_id).toBeNull();
    expect(everyone.body.total_cost_micros).toBeGreaterThanOrEqual(15_055);
    expect((await summary(randomUUID(), app.token)).status).toBe(404);
  });

  it('rejects bad input with 400', async () => {
    for (const query of [
      '?start_date=yesterday',
      '?end_date=2026-13-01',
      `?start_date=${new Date().toISOString()}&end_date=${new Date(Date.now() - DAY_MS).toISOString()}`,
      '?start_date=2020-01-01T00:00:00',
    ]) {
      const res = await summary('me', alice.token, query);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
    }
    expect((await summary('nobody', alice.token)).status).toBe(400);
    expect((await app.request('GET', '/cost/users?limit=0')).status).toBe(400);
  });

  it('rolls costs up per user for admins: costliest first, filtered by username, in pages', async () => {
    const all = await app.request('GET', `/cost/users?username=${prefix}`);
    expect(all.status).toBe(200);
    expect(all.body.count).toBe(2);
    expect(all.body.users).toEqual([
      expect.objectContaining({
        user_id: bob.id,
        username: bob.username,
        total_cost_micros: 9_000,
        message_count: 1,
        chat_count: 1,
      }),
      expect.objectContaining({ user_id: alice.id, total_cost_micros: 6_055, message_count: 6, chat_count: 3 }),
    ]);
    const second = await app.request('GET', `/cost/users?username=${prefix.toUpperCase()}&limit=1&offset=1`);
    expect(second.body).toMatchObject({ count: 2, users: [expect.objectContaining({ user_id: alice.id })] });
    const past = await app.request('GET', `/cost/users?username=${prefix}&limit=1&offset=5`);
    expect(past.body).toMatchObject({ count: 2, users: [] });
    const one = await app.request('GET', `/cost/users?username=${encodeURIComponent(alice.username)}`);
    expect(one.body.users.map((u: any) => u.user_id)).toEqual([alice.id]);
    expect((await app.request('GET', '/cost/users', undefined, alice.token)).status).toBe(403);
  });
});
