/**
 * The first vertical slice over HTTP and SSE: creating a chat starts its turn workflow
 * (`chat-<id>`) on real Temporal, the assistant's answer streams from the fake OpenAI server and is
 * persisted in real PostgreSQL, and the stream delivers status, message_part and message events.
 */
import { startTestApp, TEST_TITLE, turnRequests, type TestApp } from '../support/app';
import { waitUntil } from '../support/wait';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { hang, text } from '../../src/dev/fake-llm/script';
import { SseClient } from '../support/sse';
import { captureHistory } from '../support/temporal';

describe('a chat turn over HTTP and SSE', () => {
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

  it('streams the answer, persists both messages and runs the turn as workflow chat-<id>', async () => {
    fake.enqueue(text('Hello! I can help with that.', { firstTokenDelayMs: 400, tokensPerSecond: 40 }));

    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'Can you help me?' }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'pending', title: 'Can you help me?', root_chat_id: created.body.id });
    const chatId: string = created.body.id;

    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    const assistant = await stream.waitFor((e) => e.event === 'message' && e.data.message.role === 'assistant');
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting');
    stream.close();

    // The snapshot starts with the status, then the persisted user message, then live deltas.
    expect(stream.events[0]!.event).toBe('status');
    expect(stream.events[1]).toMatchObject({ event: 'message', data: { message: { role: 'user' } } });
    const streamed = stream.events
      .filter((e) => e.event === 'message_part')
      .map((e) => e.data.part.text as string)
      .join('');
    expect(streamed).toBe('Hello! I can help with that.');
    expect(assistant.data.message.content).toEqual([{ type: 'text', text: 'Hello! I can help with that.' }]);

    // Event ids are integers that only grow.
    const ids = stream.events.map((e) => Number(e.id));
    expect(ids.every((id, i) => Number.isSafeInteger(id) && (i === 0 || id > ids[i - 1]!))).toBe(true);

    const messages = await app.request('GET', `/chats/${chatId}/messages`);
    expect(messages.status).toBe(200);
    expect(messages.body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant']);
    expect(messages.body.messages[1].usage.output_tokens).toBeGreaterThan(0);
    expect(messages.body.has_more).toBe(false);

    const chat = await app.request('GET', `/chats/${chatId}`);
    expect(chat.body.status).toBe('waiting');

    // The provider saw the user's message, with chatd's user agent.
    const [request] = turnRequests(fake);
    expect(turnRequests(fake)).toHaveLength(1);
    expect(JSON.stringify(request!.body)).toContain('Can you help me?');
    expect(String(request!.headers['user-agent'])).toMatch(/^chatd\//);

    // The first turn also named the chat with the provider's cheap model.
    await waitUntil(async () => (await app.request('GET', `/chats/${chatId}`)).body.title === TEST_TITLE);

    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    const result = await handle.result();
    expect(result).toEqual({ outcome: 'completed', steps: 1 });
    const description = await handle.describe();
    expect(description.type).toBe('chatWorkflow');

    await captureHistory(handle, 'chat-workflow.plain');
  });

  it('keeps the partial answer when interrupted mid-stream', async () => {
    fake.enqueue(hang({ afterText: 'Working on it' }));
    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'Take your time' }] });
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'message_part' && String(e.data.part.text).includes('Working'));

    const interrupted = await app.request('POST', `/chats/${chatId}/interrupt`);
    expect(interrupted.status).toBe(200);
    expect(interrupted.body.status).toBe('waiting');
    const partial = await stream.waitFor((e) => e.event === 'message' && e.data.message.role === 'assistant');
    stream.close();
    expect(partial.data.message.content).toEqual([{ type: 'text', text: 'Working on it' }]);

    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    expect((await handle.result()).outcome).toBe('interrupted');
    // The provider request was aborted, not left running.
    expect(turnRequests(fake).at(-1)!.aborted).toBe(true);
    expect((await app.request('GET', `/chats/${chatId}`)).body.status).toBe('waiting');
    await captureHistory(handle, 'chat-workflow.interrupted');
  });

  it('rejects a chat without content and writes nothing', async () => {
    const before = await app.deps.db
      .selectFrom('chats')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    const res = await app.request('POST', '/chats', { content: [{ type: 'text', text: '   ' }] });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('content_required');
    const after = await app.deps.db
      .selectFrom('chats')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toEqual(before.n);
  });

  it('answers 401 without a token', async () => {
    const res = await fetch(`${app.url}/api/v1/chats`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });
});
