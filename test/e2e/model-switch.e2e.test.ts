/**
 * A model per message: `model_config_id` on send, edit and promote runs that turn — and the chat from
 * then on — on the named model config; a queued message keeps the model it was sent with until it is
 * promoted (by the worker or the user); usage and cost are recorded against the model that answered;
 * a disabled, deleted or unknown config is a 400 that writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, startWorkerFor, textBody, type TestApp } from '../support/app';
import { until } from '../support/wait';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

describe('switching models per message', () => {
  let fake: FakeLlmServer;
  let api: TestApp;
  let worker: TestApp | undefined;
  let providerId: string;

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    api = await startTestApp({ fake, roles: { api: true, worker: false } });
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
    await fake?.close();
  });

  /** A second model config on the same provider, priced so its cost cannot be mistaken for the default's. */
  async function newModel(overrides: Record<string, unknown> = {}): Promise<{ id: string; model: string }> {
    const model = `switch-${randomUUID().slice(0, 8)}`;
    const res = await api.request('POST', '/model-configs', {
      provider_id: providerId,
      model,
      context_limit: 100_000,
      options: { cost: { input_price_per_million_tokens: 1_000, output_price_per_million_tokens: 2_000 } },
      ...overrides,
    });
    expect(res.status).toBe(201);
    return { id: res.body.id, model };
  }

  async function createChat(t: string): Promise<string> {
    const res = await api.request('POST', '/chats', textBody(t));
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /** Waits until the chat's turn `turn` has ended in `waiting` (the turn number is not in the API's chat). */
  async function answeredTurns(chatId: string, turn: number): Promise<any> {
    await until(async () => {
      const row = await api.deps.db
        .selectFrom('chats')
        .select(['turn', 'status'])
        .where('id', '=', chatId)
        .executeTakeFirstOrThrow();
      return row.turn === turn && row.status === 'waiting' ? row : undefined;
    }, `turn ${turn} of the chat answered`);
    return (await api.request('GET', `/chats/${chatId}`)).body;
  }

  async function assistantRows(chatId: string) {
    return api.deps.db
      .selectFrom('chat_messages')
      .select(['turn', 'model_config_id', 'input_tokens', 'output_tokens', 'total_cost_micros'])
      .where('chat_id', '=', chatId)
      .where('role', '=', 'assistant')
      .where('deleted', '=', false)
      .orderBy('id')
      .execute();
  }

  /** The model names of the turn requests the fake received, in order (title calls aside). */
  const requestedModels = (...models: string[]) =>
    fake.requests.map((r) => (r.body as any).model).filter((m: string) => models.includes(m));

  it('runs a sent message, and the chat after it, on the named model; cost follows the model that answered', async () => {
    const other = await newModel();
    fake.respondTo(other.model, () =>
      text('from the other model', { usage: { inputTokens: 1000, outputTokens: 500 } }),
    );
    fake.respondTo('fake-model', () =>
      text('from the default model', { usage: { inputTokens: 1000, outputTokens: 500 } }),
    );
    worker = await startWorkerFor(api, fake);

    const chatId = await createChat('first');
    await answeredTurns(chatId, 1);
    const sent = await api.request('POST', `/chats/${chatId}/messages`, {
      ...textBody('second'),
      model_config_id: other.id,
    });
    expect(sent.status).toBe(200);
    const chat = await answeredTurns(chatId, 2);
    expect(chat.last_model_config_id).toBe(other.id);
    // No model named: the chat stays on the model it switched to.
    await api.request('POST', `/chats/${chatId}/messages`, textBody('third'));
    await answeredTurns(chatId, 3);

    expect(requestedModels('fake-model', other.model)).toEqual(['fake-model', other.model, other.model]);
    const rows = await assistantRows(chatId);
    expect(rows.map((r) => [r.turn, r.model_config_id])).toEqual([
      [1, api.modelConfigId],
      [2, other.id],
      [3, other.id],
    ]);
    // 1000 input tokens at $1000/M + 500 output tokens at $2000/M = $2 = 2,000,000 micros.
    expect(rows[1]!.total_cost_micros).toBe(2_000_000);
    const userTurn2 = await api.deps.db
      .selectFrom('chat_messages')
      .select('model_config_id')
      .where('chat_id', '=', chatId)
      .where('role', '=', 'user')
      .where('turn', '=', 2)
      .executeTakeFirstOrThrow();
    expect(userTurn2.model_config_id).toBe(other.id);
  });

  it('keeps the model of a queued message until the worker promotes it', async () => {
    const other = await newModel();
    fake.respondTo(other.model, () => text('other'));
    fake.respondTo('fake-model', () => text('default'));
    const chatId = await createChat('first');
    // No worker yet: the chat is busy, so both messages queue.
    const queued = await api.request('POST', `/chats/${chatId}/messages`, {
      ...textBody('second'),
      model_config_id: other.id,
    });
    expect(queued.body).toMatchObject({ queued: true, queued_message: { model_config_id: other.id } });
    const third = await api.request('POST', `/chats/${chatId}/messages`, textBody('third'));
    expect(third.body.queued).toBe(true);

    worker = await startWorkerFor(api, fake);
    await answeredTurns(chatId, 3);
    expect(requestedModels('fake-model', other.model)).toEqual(['fake-model', other.model, other.model]);
    expect((await assistantRows(chatId)).map((r) => r.model_config_id)).toEqual([
      api.modelConfigId,
      other.id,
      other.id,
    ]);
    const users = await api.deps.db
      .selectFrom('chat_messages')
      .select(['turn', 'model_config_id'])
      .where('chat_id', '=', chatId)
      .where('role', '=', 'user')
      .orderBy('id')
      .execute();
    expect(users.map((u) => [u.turn, u.model_config_id])).toEqual([
      [1, api.modelConfigId],
      [2, other.id],
      [3, other.id],
    ]);
  });

  it('runs an edited message and a promoted one on the model named with it', async () => {
    const other = await newModel();
    const third = await newModel();
    fake.respondTo(other.model, () => text('other'));
    fake.respondTo(third.model, () => text('third'));
    fake.respondTo('fake-model', () => text('default'));
    const chatId = await createChat('first');
    const queued = await api.request('POST', `/chats/${chatId}/messages`, textBody('queued'));
    const promoted = await api.request('POST', `/chats/${chatId}/queue/${queued.body.queued_message.id}/promote`, {
      model_config_id: third.id,
    });
    expect(promoted.status).toBe(200);
    worker = await startWorkerFor(api, fake);
    let chat = await answeredTurns(chatId, 2);
    expect(chat.last_model_config_id).toBe(third.id);

    const page = await api.request('GET', `/chats/${chatId}/messages`);
    const firstUser = (page.body.messages as any[]).filter((m) => m.role === 'user').at(-1);
    const edited = await api.request('PATCH', `/chats/${chatId}/messages/${firstUser.id}`, {
      ...textBody('first, edited'),
      model_config_id: other.id,
    });
    expect(edited.status).toBe(200);
    chat = await answeredTurns(chatId, 3);
    expect(chat.last_model_config_id).toBe(other.id);
    expect((await assistantRows(chatId)).map((r) => [r.turn, r.model_config_id])).toEqual([[3, other.id]]);
  });

  it.each([
    ['an unknown config', async () => randomUUID()],
    ['a disabled config', async () => (await newModel({ enabled: false })).id],
    [
      'a deleted config',
      async () => {
        const gone = await newModel();
        expect((await api.request('DELETE', `/model-configs/${gone.id}`)).status).toBe(204);
        return gone.id;
      },
    ],
  ])('refuses %s with 400 model_config_not_found on send, edit and promote, writing nothing', async (_n, make) => {
    const bad = await make();
    const chatId = await createChat('first');
    const queued = await api.request('POST', `/chats/${chatId}/messages`, textBody('queued'));
    const snapshot = async () => ({
      chat: await api.deps.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow(),
      messages: await api.deps.db.selectFrom('chat_messages').selectAll().where('chat_id', '=', chatId).execute(),
      queued: await api.deps.db.selectFrom('chat_queued_messages').selectAll().where('chat_id', '=', chatId).execute(),
    });
    const before = await snapshot();
    const userMessage = before.messages.find((m) => m.role === 'user')!;
    for (const [method, path, body] of [
      ['POST', `/chats/${chatId}/messages`, { ...textBody('x'), model_config_id: bad }],
      ['PATCH', `/chats/${chatId}/messages/${userMessage.id}`, { ...textBody('x'), model_config_id: bad }],
      ['POST', `/chats/${chatId}/queue/${queued.body.queued_message.id}/promote`, { model_config_id: bad }],
    ] as const) {
      const res = await api.request(method, path, body);
      expect([path, res.status, res.body.error?.code]).toEqual([path, 400, 'model_config_not_found']);
    }
    expect(await snapshot()).toEqual(before);
  });
});
