/**
 * The happy path through the typed client (src/client) against the real stack: create a chat,
 * stream its answer to the end of the turn, list its messages, send a follow-up on the same stream
 * a later connection, and an API error surfacing as ChatdApiError with the envelope's code.
 */
import { ChatdApiError, createChatdClient, IDLE_STATUSES, unwrap, type ChatdClient } from '../../src/client';
import { ask } from '../../src/client/example';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { startTestApp, type TestApp } from '../support/app';

describe('the typed client', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let chatd: ChatdClient;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    chatd = createChatdClient({ baseUrl: app.url, token: app.token });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  /**
   * The answer of the chat's running turn, read until the turn is over: the stored assistant message's
   * text, or what was streamed. A quick answer may be stored before the stream connects (the turn's
   * first step starts as the message commits); the stream's catch-up then sends the stored message.
   */
  async function answer(chatId: string, afterMessageId?: number): Promise<{ text: string; status: string }> {
    let streamed = '';
    let stored: string | null = null;
    for await (const event of chatd.streamChat(chatId, { afterMessageId })) {
      if (event.type === 'message_part' && event.part.type === 'text') streamed += event.part.text ?? '';
      if (event.type === 'message' && event.message.role === 'assistant') {
        stored = event.message.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
        expect(stored.startsWith(streamed)).toBe(true);
      }
      if (event.type === 'status' && IDLE_STATUSES.includes(event.status))
        return { text: stored ?? streamed, status: event.status };
    }
    throw new Error('the stream ended before the turn did');
  }

  it('creates a chat, streams the answer to the end and lists the messages', async () => {
    fake.enqueue(text('Hello from the client test.', { tokensPerSecond: 200 }));
    const chat = unwrap(
      await chatd.api.POST('/chats', { body: { content: [{ type: 'text', text: 'Hi, typed client' }] } }),
    );
    expect(chat.status).toBe('pending');

    expect(await answer(chat.id)).toEqual({ text: 'Hello from the client test.', status: 'waiting' });

    const page = unwrap(await chatd.api.GET('/chats/{id}/messages', { params: { path: { id: chat.id } } }));
    expect(page.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(page.messages[1]!.content).toEqual([{ type: 'text', text: 'Hello from the client test.' }]);

    // A follow-up, streamed from after the messages already held.
    fake.enqueue(text('Second answer.'));
    const sent = unwrap(
      await chatd.api.POST('/chats/{id}/messages', {
        params: { path: { id: chat.id } },
        body: { content: [{ type: 'text', text: 'More?' }] },
      }),
    );
    if (sent.queued) throw new Error('an idle chat queued the message');
    expect((await answer(chat.id, page.messages[1]!.id)).text).toBe('Second answer.');

    const chats = unwrap(await chatd.api.GET('/chats', { params: { query: {} } }));
    expect(chats.chats.map((c) => c.id)).toContain(chat.id);
  });

  it('runs the README example', async () => {
    fake.enqueue(text('The example works.'));
    const written: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const messages = await ask(app.url, app.token, 'Does the example work?');
      expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    } finally {
      write.mockRestore();
    }
    expect(written.join('')).toBe('The example works.');
  });

  it('reports API errors as ChatdApiError, also on a stream', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const result = await chatd.api.GET('/chats/{id}', { params: { path: { id: missing } } });
    expect(() => unwrap(result)).toThrow(ChatdApiError);
    expect(() => unwrap(result)).toThrow(expect.objectContaining({ status: 404, code: 'chat_not_found' }));

    const stream = chatd.streamChat(missing);
    await expect(stream.next()).rejects.toMatchObject({ status: 404, code: 'chat_not_found' });
  });
});
