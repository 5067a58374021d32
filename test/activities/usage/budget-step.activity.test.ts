/**
 * The spend limit inside a turn, through the activities against a real database and the fake provider:
 * a model step over the owner's limit fails with a non-retryable `usage_limit` failure before the
 * provider is called; a lookup that fails lets the step run (fail-open); compaction summaries and titles
 * are costed as usage records (a title on the cheap model is priced by that model's config when the
 * deployment has one, else recorded unpriced) and count towards the owner's spend.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps } from '../../../activities';
import { messageRow } from '../../../src/messages/rows';
import { createLogger } from '../../../src/log';
import { SecretBox } from '../../../src/security/secrets';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import { titleModelFor } from '../../../src/llm/registry';
import { putLimitSetting, readSpend } from '../../../src/db/repositories/usage.repository';
import { pgUsageStore, type UsageStore } from '../../../src/usage/store';
import { TurnBudget } from '../../../src/usage/turn-budget';
import { periodBounds } from '../../../src/usage/period';
import { createTestDatabase, insertFakeProvider, type TestDatabase } from '../../support/db';
import { text } from '../../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../../src/dev/fake-llm/server';
import { testActivityDeps } from '../../support/activity-deps';

const TITLE_MODEL = titleModelFor('openai')!;
/** $1 per million input tokens and $2 per million output tokens: 1 and 2 micro-dollars per token. */
const PRICES = { cost: { input_price_per_million_tokens: 1, output_price_per_million_tokens: 2 } };

describe('the spend limit in a turn', () => {
  let database: TestDatabase;
  let fake: FakeLlmServer;
  let base: ActivityDeps;
  let providerId: string;
  let modelConfigId: string;
  const secrets = new SecretBox(SecretBox.generateKeyEntry('t'));
  const log = createLogger('silent', 'test');

  beforeAll(async () => {
    database = await createTestDatabase();
    fake = await FakeLlmServer.start();
    const { db } = database;
    providerId = await insertFakeProvider(db, secrets, fake.openaiBaseUrl);
    modelConfigId = await newModelConfig('fake-model', PRICES);
    await putLimitSetting(db, { enabled: true, default_limit_micros: null, period: 'month' });
    base = testActivityDeps(db, new MemoryStreamBus(), secrets, { log });
  });

  afterEach(() => {
    try {
      fake.assertAllConsumed();
    } finally {
      fake.reset();
    }
  });

  afterAll(async () => {
    await fake?.close();
    await database?.drop();
  });

  async function newModelConfig(model: string, options: Record<string, unknown>): Promise<string> {
    const config = await database.db
      .insertInto('chat_model_configs')
      .values({
        provider_id: providerId,
        model,
        context_limit: 100_000,
        options: JSON.stringify(options),
        created_by: null,
        updated_by: null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return config.id;
  }

  /** A user with a spend limit (or none) and a chat of theirs waiting for its first step. */
  async function newOwnerChat(limitMicros: number | null): Promise<{ ownerId: string; chatId: string }> {
    const { db } = database;
    const ownerId = (
      await db
        .insertInto('users')
        .values({ username: `u-${Math.random().toString(36).slice(2)}`, chat_spend_limit_micros: limitMicros })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    const chat = await db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        last_model_config_id: modelConfigId,
        status: 'pending',
        turn: 1,
        title: '',
        labels: '{}',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('chat_messages')
      .values(
        messageRow({
          chatId: chat.id,
          turn: 1,
          role: 'user',
          content: [{ type: 'text', text: 'please fix the flaky login test' }],
          modelConfigId,
          createdBy: ownerId,
        }),
      )
      .execute();
    return { ownerId, chatId: chat.id };
  }

  const withBudget = (store: UsageStore = pgUsageStore(database.db)): ActivityDeps => ({
    ...base,
    budget: new TurnBudget(store, log, { refreshMs: 60_000 }),
  });

  async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    if (err instanceof ApplicationFailure) return err;
    throw new Error(`expected an ApplicationFailure, got ${String(err)}`);
  }

  const spendOf = (ownerId: string) => readSpend(database.db, ownerId, new Date(0), new Date(Date.now() + 60_000));

  it('stops the step after the one that crossed the limit, before calling the provider', async () => {
    const { ownerId, chatId } = await newOwnerChat(1_000);
    const activities = createActivities(withBudget());
    // 600 input + 300 output tokens: 600 + 600 = 1,200 micro-dollars, over the 1,000 limit.
    fake.enqueue(text('Looking into it.', { usage: { inputTokens: 600, outputTokens: 300 } }));
    const first = await new MockActivityEnvironment().run(activities.runModelStep, { chatId, turn: 1, step: 0 });
    expect(first).toMatchObject({ status: 'ok' });

    const failure = await failureOf(
      new MockActivityEnvironment().run(activities.runModelStep, { chatId, turn: 1, step: 1 }),
    );
    expect(failure.type).toBe('UsageLimit.Exceeded');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.details?.[0]).toMatchObject({ kind: 'usage_limit', retryable: false, provider: null });
    expect((failure.details?.[0] as { message: string }).message).toMatch(/\$0\.0012 of \$0\.001 spent/);
    // One provider request (the first step); the first step's message is kept.
    expect(fake.requests).toHaveLength(1);
    const assistants = await database.db
      .selectFrom('chat_messages')
      .select('total_cost_micros')
      .where('chat_id', '=', chatId)
      .where('role', '=', 'assistant')
      .execute();
    expect(assistants).toEqual([{ total_cost_micros: 1_200 }]);
    expect(await spendOf(ownerId)).toBe(1_200);
  });

  it('lets the step run when the limit lookup fails (fail-open)', async () => {
    const { chatId } = await newOwnerChat(1);
    const broken: UsageStore = {
      loadLimits: () => Promise.reject(new Error('limits unavailable')),
      readSpend: () => Promise.reject(new Error('spend unavailable')),
      chatOwnedBy: async () => true,
    };
    fake.enqueue(text('Still answering.', { usage: { inputTokens: 10, outputTokens: 10 } }));
    const result = await new MockActivityEnvironment().run(createActivities(withBudget(broken)).runModelStep, {
      chatId,
      turn: 1,
      step: 0,
    });
    expect(result).toMatchObject({ status: 'ok' });
    expect(fake.requests).toHaveLength(1);
  });

  it('records a compaction summary’s cost at the chat’s prices, and it counts towards the limit', async () => {
    const { ownerId, chatId } = await newOwnerChat(2_000);
    const activities = createActivities(withBudget());
    fake.enqueue(text('Handoff notes.', { usage: { inputTokens: 1_500, outputTokens: 250 } }));
    const trigger = { thresholdPercent: 70, usagePercent: 80, contextTokens: 80_000, contextLimit: 100_000 };
    expect(
      await new MockActivityEnvironment().run(activities.compactChat, { chatId, turn: 1, step: 0, trigger }),
    ).toEqual({ status: 'compacted' });
    const records = await database.db
      .selectFrom('chat_usage_records')
      .selectAll()
      .where('chat_id', '=', chatId)
      .execute();
    expect(records).toEqual([
      expect.objectContaining({
        kind: 'compaction',
        model: 'fake-model',
        model_config_id: modelConfigId,
        input_tokens: 1_500,
        output_tokens: 250,
        total_cost_micros: 2_000,
      }),
    ]);
    expect(await spendOf(ownerId)).toBe(2_000);
    // The limit is reached: the next step does not call the provider.
    const failure = await failureOf(
      new MockActivityEnvironment().run(activities.runModelStep, { chatId, turn: 1, step: 1 }),
    );
    expect(failure.type).toBe('UsageLimit.Exceeded');
    expect(fake.requests).toHaveLength(1);
  });

  it('records an unpriced title when no config prices the title model, and prices it by one that does', async () => {
    const activities = createActivities(withBudget());
    fake.respondTo(TITLE_MODEL, () => text('Fix flaky login test', { usage: { inputTokens: 100, outputTokens: 5 } }));

    const unpriced = await newOwnerChat(null);
    expect(await new MockActivityEnvironment().run(activities.generateChatTitle, { chatId: unpriced.chatId })).toEqual({
      title: 'Fix flaky login test',
    });
    const titleConfigId = await newModelConfig(TITLE_MODEL, {
      cost: { input_price_per_million_tokens: '0.15', output_price_per_million_tokens: '0.6' },
    });
    const priced = await newOwnerChat(null);
    await new MockActivityEnvironment().run(activities.generateChatTitle, { chatId: priced.chatId });

    const records = await database.db
      .selectFrom('chat_usage_records')
      .select(['chat_id', 'kind', 'model', 'model_config_id', 'input_tokens', 'output_tokens', 'total_cost_micros'])
      .where('chat_id', 'in', [unpriced.chatId, priced.chatId])
      .execute();
    const common = { kind: 'title', model: TITLE_MODEL, input_tokens: 100, output_tokens: 5 };
    expect(records).toEqual(
      expect.arrayContaining([
        { ...common, chat_id: unpriced.chatId, model_config_id: null, total_cost_micros: null },
        // 100 × 0.15 + 5 × 0.6 = 18 micro-dollars.
        { ...common, chat_id: priced.chatId, model_config_id: titleConfigId, total_cost_micros: 18 },
      ]),
    );
    expect(records).toHaveLength(2);
    await database.db
      .updateTable('chat_model_configs')
      .set({ deleted: true })
      .where('id', '=', titleConfigId)
      .execute();
  });

  it('skips the title of a chat whose owner is over the limit (no provider call)', async () => {
    const { ownerId, chatId } = await newOwnerChat(500);
    await database.db
      .insertInto('chat_usage_records')
      .values({
        chat_id: chatId,
        kind: 'compaction',
        model: 'fake-model',
        model_config_id: modelConfigId,
        total_cost_micros: 500,
      } as never)
      .execute();
    expect(await spendOf(ownerId)).toBe(500);
    const title = await new MockActivityEnvironment().run(createActivities(withBudget()).generateChatTitle, { chatId });
    expect(title).toEqual({ title: null });
    expect(fake.requests).toHaveLength(0);
  });

  it('counts spend in the owner’s current period only', async () => {
    const { ownerId, chatId } = await newOwnerChat(1_000);
    const lastMonth = new Date(periodBounds('month', new Date()).start.getTime() - 1);
    await database.db
      .insertInto('chat_messages')
      .values({
        chat_id: chatId,
        role: 'assistant',
        content: '[]',
        total_cost_micros: 5_000,
        created_at: lastMonth,
      } as never)
      .execute();
    fake.enqueue(text('Fresh month.', { usage: { inputTokens: 1, outputTokens: 1 } }));
    const result = await new MockActivityEnvironment().run(createActivities(withBudget()).runModelStep, {
      chatId,
      turn: 1,
      step: 0,
    });
    expect(result).toMatchObject({ status: 'ok' });
    expect(await spendOf(ownerId)).toBe(5_003);
  });
});
