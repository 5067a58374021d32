/**
 * Provider failover: a model config may name a fallback config; when the provider keeps answering
 * overloaded or rate-limited, the step's attempts after FAILOVER_AFTER_ATTEMPTS run on the fallback,
 * the `retry` event names the model the next attempt uses, and usage is recorded against the
 * config that answered. An invalid fallback (itself, unknown, one with a fallback of its own, or
 * one making a chain) is a 400.
 */
import { randomUUID } from 'node:crypto';
import { pgBus, startTestApp, textBody, type TestApp } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { until } from '../support/wait';
import { error, text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { FAILOVER_AFTER_ATTEMPTS } from '../../activities/llm.activities';
import type { StreamEvent } from '../../src/stream/events';

describe('model failover', () => {
  let fake: FakeLlmServer;
  let database: TestDatabase;
  let taskQueue: string;
  let api: TestApp;
  let worker: TestApp | undefined;
  let providerId: string;

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    database = await createTestDatabase();
    taskQueue = `chatd-test-${randomUUID()}`;
    // Separate API and worker roles whose buses meet in PostgreSQL, so the test sees the worker's events.
    api = await startTestApp({ fake, database, taskQueue, roles: { api: true, worker: false }, bus: pgBus(database) });
    const seeded = await api.deps.db
      .selectFrom('chat_model_configs')
      .select('provider_id')
      .where('id', '=', api.modelConfigId)
      .executeTakeFirstOrThrow();
    providerId = seeded.provider_id;
  });

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await api?.stop();
    await database?.drop();
    await fake?.close();
  });

  async function newModel(overrides: Record<string, unknown> = {}): Promise<{ id: string; model: string }> {
    const model = `failover-${randomUUID().slice(0, 8)}`;
    const res = await api.request('POST', '/model-configs', {
      provider_id: providerId,
      model,
      context_limit: 100_000,
      ...overrides,
    });
    expect(res.status).toBe(201);
    return { id: res.body.id, model };
  }

  it('runs the step on the fallback after the primary stays rate-limited', async () => {
    const fallback = await newModel();
    const primary = await newModel({ fallback_model_config_id: fallback.id });
    fake.respondTo(primary.model, () => error(429, { retryAfterSeconds: 0 }));
    fake.respondTo(fallback.model, () => text('from the fallback', { usage: { inputTokens: 10, outputTokens: 5 } }));

    const created = await api.request('POST', '/chats', { ...textBody('hello'), model_config_id: primary.id });
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const events: StreamEvent[] = [];
    const subscription = api.deps.bus.subscribeWithPartial(chatId, { event: (e) => events.push(e) });
    await subscription.partial;
    try {
      worker = await startTestApp({
        fake,
        database,
        taskQueue,
        roles: { api: false, worker: true },
        bus: pgBus(database),
      });
      await until(async () => {
        const row = await api.deps.db
          .selectFrom('chats')
          .select('status')
          .where('id', '=', chatId)
          .executeTakeFirstOrThrow();
        return row.status === 'waiting' ? row : undefined;
      }, 'the turn answered by the fallback');
    } finally {
      subscription.unsubscribe();
    }

    const requested = fake.requests.map((r) => (r.body as any).model as string);
    expect(requested.filter((m) => m === primary.model)).toHaveLength(FAILOVER_AFTER_ATTEMPTS);
    expect(requested.filter((m) => m === fallback.model)).toHaveLength(1);
    const assistant = await api.deps.db
      .selectFrom('chat_messages')
      .select(['model_config_id', 'content', 'output_tokens'])
      .where('chat_id', '=', chatId)
      .where('role', '=', 'assistant')
      .executeTakeFirstOrThrow();
    expect(assistant.model_config_id).toBe(fallback.id);
    expect(JSON.stringify(assistant.content)).toContain('from the fallback');
    expect(assistant.output_tokens).toBe(5);

    // Each failed attempt's `retry` names the next attempt's model; each later attempt that calls a
    // model again also publishes one (kind `retry`), naming the model it runs on.
    const retries = events.filter((e): e is Extract<StreamEvent, { type: 'retry' }> => e.type === 'retry');
    const primaryRetry = ['rate_limit', primary.model];
    const primaryRerun = ['retry', primary.model];
    expect(retries.map((e) => [e.error.kind, e.model])).toEqual([
      ...Array.from({ length: FAILOVER_AFTER_ATTEMPTS - 1 }, () => [primaryRetry, primaryRerun]).flat(),
      ['rate_limit', fallback.model],
      ['retry', fallback.model],
    ]);
  }, 120_000);

  it('refuses an invalid fallback with 400 invalid_fallback', async () => {
    const plain = await newModel();
    const withFallback = await newModel({ fallback_model_config_id: plain.id });
    const other = await newModel();
    const deleted = await newModel();
    expect((await api.request('DELETE', `/model-configs/${deleted.id}`)).status).toBe(204);

    const cases: Array<[string, string, Record<string, unknown>]> = [
      ['itself', `/model-configs/${other.id}`, { fallback_model_config_id: other.id }],
      ['an unknown config', `/model-configs/${other.id}`, { fallback_model_config_id: randomUUID() }],
      ['a deleted config', `/model-configs/${other.id}`, { fallback_model_config_id: deleted.id }],
      // withFallback already fails over to plain: a chain other → withFallback → plain.
      ['a chain', `/model-configs/${other.id}`, { fallback_model_config_id: withFallback.id }],
      // plain is withFallback's fallback: withFallback → plain → other.
      ['a fallback that gains one', `/model-configs/${plain.id}`, { fallback_model_config_id: other.id }],
    ];
    for (const [name, path, body] of cases) {
      const res = await api.request('PATCH', path, body);
      expect([name, res.status, res.body.error?.code]).toEqual([name, 400, 'invalid_fallback']);
    }
    const created = await api.request('POST', '/model-configs', {
      provider_id: providerId,
      model: 'chained',
      context_limit: 100_000,
      fallback_model_config_id: withFallback.id,
    });
    expect([created.status, created.body.error?.code]).toEqual([400, 'invalid_fallback']);

    // A valid one is stored and shown; null clears it.
    const set = await api.request('PATCH', `/model-configs/${other.id}`, { fallback_model_config_id: plain.id });
    expect([set.status, set.body.fallback_model_config_id]).toEqual([200, plain.id]);
    const cleared = await api.request('PATCH', `/model-configs/${other.id}`, { fallback_model_config_id: null });
    expect([cleared.status, cleared.body.fallback_model_config_id]).toEqual([200, null]);
  });
});
