/**
 * The runModelStep activity against a real database and the fake provider over HTTP: retryable
 * failures carry Temporal's next delay (Retry-After wins) and announce a `retry` event first;
 * non-retryable ones are marked so; a retried step never stores its message twice; a cancellation
 * requested by the workflow keeps the partial answer.
 */
import { ActivityCancellationDetails, ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps } from '../../activities';
import { messageRow } from '../../src/messages/rows';
import { SecretBox } from '../../src/security/secrets';
import type { StreamEvent } from '../../src/stream/events';
import { MemoryStreamBus } from '../../src/stream/memory-stream-bus';
import { createTestDatabase, insertFakeProvider, type TestDatabase } from '../support/db';
import { error, hang, text, toolCalls } from '../../src/dev/fake-llm/script';
import { insertQueuedMessage } from '../../src/db/repositories/messages.repository';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { testActivityDeps } from '../support/activity-deps';

describe('runModelStep', () => {
  let database: TestDatabase;
  let fake: FakeLlmServer;
  let deps: ActivityDeps;
  let bus: MemoryStreamBus;
  let providerId: string;
  let modelConfigId: string;
  let ownerId: string;
  const secrets = new SecretBox(SecretBox.generateKeyEntry('t'));

  beforeAll(async () => {
    database = await createTestDatabase();
    fake = await FakeLlmServer.start();
    bus = new MemoryStreamBus();
    const { db } = database;
    ownerId = (
      await db
        .insertInto('users')
        .values({ username: 'owner', chat_spend_limit_micros: null })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    providerId = await insertFakeProvider(db, secrets, fake.openaiBaseUrl);
    modelConfigId = await newModelConfig({
      cost: { input_price_per_million_tokens: 3, output_price_per_million_tokens: 15 },
    });
    deps = testActivityDeps(db, bus, secrets);
  });

  afterAll(async () => {
    await fake?.close();
    await database?.drop();
  });

  /** A model config of the test provider ('fake-model', 1000 tokens of context) with `options`. */
  async function newModelConfig(options: Record<string, unknown>): Promise<string> {
    const config = await database.db
      .insertInto('chat_model_configs')
      .values({
        provider_id: providerId,
        model: 'fake-model',
        context_limit: 1000,
        options: JSON.stringify(options),
        created_by: null,
        updated_by: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return config.id;
  }

  async function newChat(): Promise<string> {
    const chat = await database.db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        workspace_id: null,
        parent_chat_id: null,
        root_chat_id: null,
        last_model_config_id: modelConfigId,
        status: 'pending',
        turn: 1,
        last_error: null,
        last_error_kind: null,
        labels: '{}',
        mode: null,
        last_read_message_id: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await database.db
      .insertInto('chat_messages')
      .values(
        messageRow({
          chatId: chat.id,
          turn: 1,
          role: 'user',
          content: [{ type: 'text', text: 'hello' }],
          modelConfigId: modelConfigId,
          createdBy: ownerId,
        }),
      )
      .execute();
    return chat.id;
  }

  function collect(chatId: string): StreamEvent[] {
    const events: StreamEvent[] = [];
    bus.subscribe(chatId, (e) => events.push(e));
    return events;
  }

  async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
    try {
      await promise;
    } catch (err) {
      if (err instanceof ApplicationFailure) return err;
      throw err;
    }
    throw new Error('expected the activity to fail');
  }

  it('classifies a 429 as retryable, with Retry-After as the next delay, and announces the retry', async () => {
    const chatId = await newChat();
    const events = collect(chatId);
    fake.enqueue(error(429, { retryAfterSeconds: 7 }));
    const env = new MockActivityEnvironment({ attempt: 1 });
    const failure = await failureOf(env.run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 }));
    expect(failure.type).toBe('LlmError.RateLimit');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.nextRetryDelay).toBe(7000);
    expect(failure.details?.[0]).toMatchObject({ kind: 'rate_limit', retryable: true, status_code: 429 });
    const retry = events.find((e) => e.type === 'retry');
    expect(retry).toMatchObject({ type: 'retry', attempt: 1, delay_ms: 7000, error: { kind: 'rate_limit' } });
  });

  it('backs off 1 s doubling with the attempt when the provider gives no Retry-After', async () => {
    const chatId = await newChat();
    fake.enqueue(error(500));
    const env = new MockActivityEnvironment({ attempt: 3 });
    const failure = await failureOf(env.run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 }));
    expect(failure.type).toBe('LlmError.Server');
    expect(failure.nextRetryDelay).toBe(4000);
  });

  it('marks an authentication failure non-retryable and publishes no retry', async () => {
    const chatId = await newChat();
    const events = collect(chatId);
    fake.enqueue(error(401));
    const failure = await failureOf(
      new MockActivityEnvironment().run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 }),
    );
    expect(failure.type).toBe('LlmError.Auth');
    expect(failure.nonRetryable).toBe(true);
    expect(events.some((e) => e.type === 'retry')).toBe(false);
  });

  it('stores the step once even when the activity runs again (retry after a lost completion)', async () => {
    const chatId = await newChat();
    fake.enqueue(text('Hi!', { usage: { inputTokens: 100, outputTokens: 10 } }), text('Hi!'));
    const run = () =>
      new MockActivityEnvironment().run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 });
    expect(await run()).toMatchObject({ status: 'ok', continue: false });
    await run();
    const rows = await database.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('chat_id', '=', chatId)
      .where('role', '=', 'assistant')
      .execute();
    expect(rows).toHaveLength(1);
    // 100 × $3/M + 10 × $15/M = 300 + 150 micro-dollars.
    expect(rows[0]!.total_cost_micros).toBe(450);
    expect(rows[0]!.input_tokens).toBe(100);
    expect(rows[0]!.context_limit).toBe(1000);
    const chat = await database.db
      .selectFrom('chats')
      .select('status')
      .where('id', '=', chatId)
      .executeTakeFirstOrThrow();
    expect(chat.status).toBe('running');
  });

  describe('a step asked to finish the turn', () => {
    const chatRow = (chatId: string) =>
      database.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow();
    const run = (chatId: string) =>
      new MockActivityEnvironment().run(createActivities(deps).runModelStep, {
        chatId,
        turn: 1,
        step: 0,
        finish: true,
      });

    it('ends the turn with its last message and announces it after the message', async () => {
      const chatId = await newChat();
      const events = collect(chatId);
      fake.enqueue(text('Done.'));
      expect(await run(chatId)).toMatchObject({
        status: 'ok',
        continue: false,
        finished: { status: 'waiting', nextTurn: null },
      });
      expect((await chatRow(chatId)).status).toBe('waiting');
      const types = events.map((e) => (e.type === 'status' ? `status:${e.status}` : e.type));
      expect(types.filter((t) => t !== 'message_part')).toEqual(['status:running', 'message', 'status:waiting']);
    });

    it('promotes a queued message into the next turn in the same commit', async () => {
      const chatId = await newChat();
      await database.db.transaction().execute((trx) =>
        insertQueuedMessage(trx, {
          chat_id: chatId,
          content: '[{"type":"text","text":"next"}]',
          created_by: ownerId,
        }),
      );
      fake.enqueue(text('First answer.'));
      expect(await run(chatId)).toMatchObject({ status: 'ok', finished: { status: 'pending', nextTurn: 2 } });
      const chat = await chatRow(chatId);
      expect(chat).toMatchObject({ status: 'pending', turn: 2 });
      const users = await database.db
        .selectFrom('chat_messages')
        .select('turn')
        .where('chat_id', '=', chatId)
        .where('role', '=', 'user')
        .orderBy('id')
        .execute();
      expect(users.map((u) => u.turn)).toEqual([1, 2]);
    });

    it('leaves the turn open when the step called a tool', async () => {
      const chatId = await newChat();
      fake.enqueue(toolCalls([{ id: 'call_1', name: 'list_templates', args: {} }]));
      const summary = await run(chatId);
      expect(summary).toMatchObject({ status: 'ok', toolCalls: [{ id: 'call_1', name: 'list_templates' }] });
      expect(summary).not.toHaveProperty('finished');
      expect((await chatRow(chatId)).status).toBe('running');
    });
  });

  it('keeps the partial answer when the workflow cancels the step (interrupt)', async () => {
    const chatId = await newChat();
    const events = collect(chatId);
    fake.enqueue(hang({ afterText: 'Partial answer' }));
    const env = new MockActivityEnvironment();
    const running = env.run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 });
    await new Promise<void>((resolve) => {
      const check = (): void =>
        events.some((e) => e.type === 'message_part') ? resolve() : void setTimeout(check, 20);
      check();
    });
    env.cancel('CANCELLED', new ActivityCancellationDetails({ cancelRequested: true }));
    expect(await running).toEqual({ status: 'interrupted' });
    const rows = await database.db
      .selectFrom('chat_messages')
      .select('content')
      .where('chat_id', '=', chatId)
      .where('role', '=', 'assistant')
      .execute();
    expect(rows.map((r) => r.content)).toEqual([[{ type: 'text', text: 'Partial answer' }]]);
  });

  it('does not store anything for a turn an edit superseded (fence)', async () => {
    const chatId = await newChat();
    await database.db.updateTable('chats').set({ turn: 2 }).where('id', '=', chatId).execute();
    expect(
      await new MockActivityEnvironment().run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 }),
    ).toEqual({ status: 'fenced' });
  });

  it('chains to the stored response with only the new user message, and falls back to the full history', async () => {
    const { db } = database;
    await db.updateTable('chat_providers').set({ api_mode: 'responses' }).where('id', '=', providerId).execute();
    const storedConfigId = await newModelConfig({ call_options: { store: true } });
    const chatId = await newChat();
    await db.updateTable('chats').set({ last_model_config_id: storedConfigId }).where('id', '=', chatId).execute();
    const step = (turn: number) =>
      new MockActivityEnvironment().run(createActivities(deps).runModelStep, { chatId, turn, step: 0 });

    fake.enqueue(text('First answer'));
    await step(1);
    const first = await db
      .selectFrom('chat_messages')
      .select('provider_response_id')
      .where('chat_id', '=', chatId)
      .where('role', '=', 'assistant')
      .executeTakeFirstOrThrow();
    expect(first.provider_response_id).toMatch(/^resp_/);

    await db.updateTable('chats').set({ turn: 2, status: 'pending' }).where('id', '=', chatId).execute();
    await db
      .insertInto('chat_messages')
      .values(
        messageRow({
          chatId: chatId,
          turn: 2,
          role: 'user',
          content: [{ type: 'text', text: 'second question' }],
          modelConfigId: storedConfigId,
          createdBy: ownerId,
        }),
      )
      .execute();
    fake.enqueue(
      error(400, {
        type: 'invalid_request_error',
        code: 'previous_response_not_found',
        param: 'previous_response_id',
        message: 'Previous response with id not found.',
      }),
      text('Second answer'),
    );
    const before = fake.requests.length;
    expect(await step(2)).toMatchObject({ status: 'ok' });
    const [chained, full] = fake.requests.slice(before).map((r) => r.body as Record<string, unknown>);
    expect(chained!.previous_response_id).toBe(first.provider_response_id);
    expect(JSON.stringify(chained!.input)).not.toContain('First answer');
    expect(JSON.stringify(chained!.input)).toContain('second question');
    // Rejected chain: the same step resends the whole conversation without previous_response_id.
    expect(full!.previous_response_id).toBeUndefined();
    expect(JSON.stringify(full!.input)).toContain('hello');
  });

  it('offers provider-executed web search when the model config enables it', async () => {
    const searchingConfigId = await newModelConfig({
      web_search: { enabled: true, allowed_domains: ['example.com'] },
    });
    const chatId = await newChat();
    await database.db
      .updateTable('chats')
      .set({ last_model_config_id: searchingConfigId })
      .where('id', '=', chatId)
      .execute();
    fake.enqueue(text('Found it.'));
    const before = fake.requests.length;
    await new MockActivityEnvironment().run(createActivities(deps).runModelStep, { chatId, turn: 1, step: 0 });
    expect(JSON.stringify(fake.requests[before]!.body)).toMatch(/web_search/);
    expect(JSON.stringify(fake.requests[before]!.body)).toContain('example.com');
  });
});
