/**
 * The message queue and the status machine around it. Determinism
 * without timing: the API runs alone first, so a new chat stays `pending` (busy) for as long as a
 * test needs; a worker on the same database and task queue is started only when the test wants
 * the turns to run. Then the queue drains after a turn that ends in `waiting`, and stays after
 * one that ends in `error`.
 */
import { startTestApp, startWorkerFor, textBody, turnRequests, waitForChat, type TestApp } from '../support/app';
import { until } from '../support/wait';
import { error, text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { SseClient, textOf } from '../support/sse';

/** The last user text the model was sent in the turn's request `i` (title generation aside). */
function lastUserText(fake: FakeLlmServer, i: number): string {
  const request = turnRequests(fake)[i]!;
  const input = (request.body as any).input ?? (request.body as any).messages;
  const users = (input as any[]).filter((m) => m.role === 'user');
  const content = users[users.length - 1].content;
  return typeof content === 'string' ? content : content.map((c: any) => c.text).join('');
}

describe('the message queue', () => {
  let fake: FakeLlmServer;
  let api: TestApp;
  let worker: TestApp | undefined;

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    api = await startTestApp({ fake, roles: { api: true, worker: false } });
  });

  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await api?.stop();
    await fake?.close();
  });

  /** Starts the worker role, as a separate process would: now the requested turns run. */
  async function startWorker(): Promise<void> {
    worker = await startWorkerFor(api, fake);
  }

  async function createChat(t: string): Promise<string> {
    const res = await api.request('POST', '/chats', textBody(t));
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function messages(chatId: string): Promise<any> {
    return (await api.request('GET', `/chats/${chatId}/messages`)).body;
  }

  it('queues a message sent while a turn is pending or running, without a new user message', async () => {
    const chatId = await createChat('first');
    const stream = SseClient.open(`${api.url}/api/v1/chats/${chatId}/stream`, api.token);
    await stream.waitFor((e) => e.event === 'queue_update');
    const res = await api.request('POST', `/chats/${chatId}/messages`, textBody('second'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ queued: true, queued_message: { chat_id: chatId } });
    expect(res.body.message).toBeUndefined();
    const update = await stream.waitFor((e) => e.event === 'queue_update' && e.data.queued_messages.length === 1);
    expect(textOf(update.data.queued_messages[0])).toBe('second');
    stream.close();

    const page = await messages(chatId);
    expect(page.messages.map(textOf)).toEqual(['first']);
    expect(page.queued_messages.map(textOf)).toEqual(['second']);
    const chat = await api.request('GET', `/chats/${chatId}`);
    expect(chat.body.status).toBe('pending');
  });

  it('refuses the 21st queued message with 429 queue_full and writes nothing', async () => {
    const chatId = await createChat('busy');
    for (let i = 0; i < 20; i++) {
      const res = await api.request('POST', `/chats/${chatId}/messages`, textBody(`q${i}`));
      expect(res.body.queued).toBe(true);
    }
    const res = await api.request('POST', `/chats/${chatId}/messages`, textBody('one too many'));
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('queue_full');
    const page = await messages(chatId);
    expect(page.queued_messages.map(textOf)).toEqual(Array.from({ length: 20 }, (_, i) => `q${i}`));
  });

  it('queues on an idle chat that still has a backlog, so messages stay in order', async () => {
    const chatId = await createChat('first');
    await api.request('POST', `/chats/${chatId}/messages`, textBody('A'));
    const interrupted = await api.request('POST', `/chats/${chatId}/interrupt`);
    expect(interrupted.body.status).toBe('waiting');
    const res = await api.request('POST', `/chats/${chatId}/messages`, textBody('B'));
    expect(res.body.queued).toBe(true);
    const page = await messages(chatId);
    expect(page.messages.map(textOf)).toEqual(['first']);
    expect(page.queued_messages.map(textOf)).toEqual(['A', 'B']);
  });

  it('deletes one queued message and publishes the new queue', async () => {
    const chatId = await createChat('first');
    const a = (await api.request('POST', `/chats/${chatId}/messages`, textBody('A'))).body.queued_message;
    await api.request('POST', `/chats/${chatId}/messages`, textBody('B'));
    const stream = SseClient.open(`${api.url}/api/v1/chats/${chatId}/stream`, api.token);
    await stream.waitFor((e) => e.event === 'queue_update' && e.data.queued_messages.length === 2);

    const res = await api.request('DELETE', `/chats/${chatId}/queue/${a.id}`);
    expect(res.status).toBe(204);
    const update = await stream.waitFor((e) => e.event === 'queue_update' && e.data.queued_messages.length === 1);
    expect(textOf(update.data.queued_messages[0])).toBe('B');
    stream.close();
    expect((await messages(chatId)).queued_messages.map(textOf)).toEqual(['B']);

    const again = await api.request('DELETE', `/chats/${chatId}/queue/${a.id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('queued_message_not_found');
  });

  it('does not touch a queued message through another chat', async () => {
    const one = await createChat('one');
    const two = await createChat('two');
    const queued = (await api.request('POST', `/chats/${one}/messages`, textBody('mine'))).body.queued_message;
    expect((await api.request('DELETE', `/chats/${two}/queue/${queued.id}`)).status).toBe(404);
    expect((await api.request('POST', `/chats/${two}/queue/${queued.id}/promote`)).status).toBe(404);
    expect((await messages(one)).queued_messages.map(textOf)).toEqual(['mine']);
  });

  it('promotes a queued message into a new turn ahead of the rest of the queue', async () => {
    const chatId = await createChat('first');
    const before = await api.deps.db
      .selectFrom('chats')
      .select('turn')
      .where('id', '=', chatId)
      .executeTakeFirstOrThrow();
    await api.request('POST', `/chats/${chatId}/messages`, textBody('A'));
    const b = (await api.request('POST', `/chats/${chatId}/messages`, textBody('B'))).body.queued_message;

    const res = await api.request('POST', `/chats/${chatId}/queue/${b.id}/promote`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ role: 'user', chat_id: chatId, created_by: expect.any(String) });
    expect(textOf(res.body)).toBe('B');

    const page = await messages(chatId);
    expect(page.messages.map(textOf)).toEqual(['first', 'B']);
    expect(page.queued_messages.map(textOf)).toEqual(['A']);
    const after = await api.deps.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow();
    expect(after).toMatchObject({ status: 'pending', turn: before.turn + 1 });
  });

  it('drains the queue in order after each turn that ends in waiting', async () => {
    const chatId = await createChat('first');
    await api.request('POST', `/chats/${chatId}/messages`, textBody('second'));
    await api.request('POST', `/chats/${chatId}/messages`, textBody('third'));
    fake.enqueue(text('answer one'), text('answer two'), text('answer three'));

    await startWorker();
    const page = await until(
      async () => {
        const p = await messages(chatId);
        return p.messages.length === 6 && p.queued_messages.length === 0 ? p : undefined;
      },
      'three turns',
      60_000,
    );
    await waitForChat(api, chatId, (c) => c.status === 'waiting');
    expect(page.messages.map((m: any) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:first',
      'assistant:answer one',
      'user:second',
      'assistant:answer two',
      'user:third',
      'assistant:answer three',
    ]);
    // Each turn answered its own message, oldest first; the promoted ones are authored by the owner.
    expect([0, 1, 2].map((i) => lastUserText(fake, i))).toEqual(['first', 'second', 'third']);
    expect(page.messages[2].created_by).toBe(page.messages[0].created_by);
    fake.assertAllConsumed();
  });

  it('keeps the queue when a turn ends in error, until the user promotes from it', async () => {
    const chatId = await createChat('first');
    await api.request('POST', `/chats/${chatId}/messages`, textBody('queued before the failure'));
    fake.enqueue(error(401));

    await startWorker();
    const failed = await waitForChat(api, chatId, (c) => c.status === 'error', 'the turn to fail', 60_000);
    expect(failed.last_error).toEqual(expect.any(String));
    expect(failed.last_error_kind).toBe('auth');
    let page = await messages(chatId);
    expect(page.queued_messages.map(textOf)).toEqual(['queued before the failure']);
    expect(page.messages.map(textOf)).toEqual(['first']);

    // A new message queues behind the backlog instead of jumping it.
    const later = await api.request('POST', `/chats/${chatId}/messages`, textBody('sent after the failure'));
    expect(later.body.queued).toBe(true);

    fake.enqueue(text('recovered'), text('and the rest'));
    const promoted = await api.request('POST', `/chats/${chatId}/queue/${page.queued_messages[0].id}/promote`);
    expect(promoted.status).toBe(200);
    const recovered = await api.request('GET', `/chats/${chatId}`);
    expect(recovered.body).toMatchObject({ last_error: null });

    page = await until(
      async () => {
        const p = await messages(chatId);
        return p.messages.length === 5 && p.queued_messages.length === 0 ? p : undefined;
      },
      'the promoted turn and the drained one',
      60_000,
    );
    expect(page.messages.map((m: any) => `${m.role}:${textOf(m)}`)).toEqual([
      'user:first',
      'user:queued before the failure',
      'assistant:recovered',
      'user:sent after the failure',
      'assistant:and the rest',
    ]);
    await waitForChat(api, chatId, (c) => c.status === 'waiting');
  });
});
