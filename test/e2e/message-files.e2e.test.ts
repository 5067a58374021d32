/**
 * Files in messages, end to end: an uploaded image attached to a message reaches the model in each
 * protocol's own wire shape (read from PostgreSQL inside the model step; only ids pass through Temporal),
 * a file the provider would refuse or that is gone becomes a text note while the turn completes, and a
 * message naming a file its sender does not own is refused with 400 before anything is written.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { lastUserText } from '../../src/dev/fake-llm/request';
import { hang, text } from '../../src/dev/fake-llm/script';
import { TITLE_PROMPT } from '../../src/turn/title';
import { createTestUser, type TestUser } from '../support/users';
import { until } from '../support/wait';

// A real 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);
const PNG_DATA_URL = `data:image/png;base64,${PNG.toString('base64')}`;

/** A PNG signature and IHDR chunk declaring `width`×`height`, padded with zeros to `size` bytes. */
function pngOf(width: number, height: number, size = 64): Buffer {
  const out = Buffer.alloc(size);
  PNG.copy(out, 0, 0, 16);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  return out;
}

const RESPONSES_MODEL = 'fake-model';
const CHAT_MODEL = 'vision-chat';
const ANTHROPIC_MODEL = 'vision-anthropic';

describe('files in messages', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;
  let other: TestUser;
  const configs: Record<string, string> = {};

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    for (const model of [RESPONSES_MODEL, CHAT_MODEL, ANTHROPIC_MODEL]) {
      // "Please wait" keeps a turn running until it is interrupted; anything else is answered at once.
      fake.respondTo(model, (req) =>
        lastUserText(req) === 'Please wait' ? hang({ afterText: 'Thinking' }) : text('I see it.'),
      );
    }
    app = await startTestApp({ fake });
    configs[RESPONSES_MODEL] = app.modelConfigId;
    for (const [model, provider] of [
      // One live provider per hosted kind: Chat Completions runs on an OpenAI-compatible provider.
      [CHAT_MODEL, { provider: 'openai-compat', base_url: fake.openaiBaseUrl }],
      [ANTHROPIC_MODEL, { provider: 'anthropic', api_key: 'k', base_url: fake.anthropicBaseUrl }],
    ] as const) {
      const created = await app.request('POST', '/chat-providers', { ...provider, display_name: model });
      expect(created.status).toBe(201);
      const config = await app.request('POST', '/model-configs', {
        provider_id: created.body.id,
        model,
        context_limit: 128_000,
      });
      expect(config.status).toBe(201);
      configs[model] = config.body.id;
    }
    member = await createTestUser(app);
    other = await createTestUser(app);
  });

  // Every request was answered, none refused as malformed by the fake (it checks the wire format).
  afterEach(() => fake.assertAllConsumed());

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  async function upload(token: string, body: Buffer, name: string): Promise<string> {
    const res = await fetch(`${app.url}/api/v1/files`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': 'image/png',
        'Content-Disposition': `attachment; filename="${name}"`,
      },
      body,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  const withFile = (words: string, fileId: string) => ({
    content: [
      { type: 'text', text: words },
      { type: 'file', file_id: fileId },
    ],
  });

  /** Waits until the chat is idle with `answers` assistant messages; returns its messages. */
  async function answered(chatId: string, answers: number, token = member.token): Promise<any[]> {
    return until(async () => {
      const chat = await app.request('GET', `/chats/${chatId}`, undefined, token);
      if (chat.body.status === 'error') throw new Error(`turn failed: ${JSON.stringify(chat.body.last_error)}`);
      if (chat.body.status !== 'waiting') return undefined;
      const page = await app.request('GET', `/chats/${chatId}/messages`, undefined, token);
      const messages: any[] = page.body.messages;
      return messages.filter((m) => m.role === 'assistant').length >= answers ? messages : undefined;
    }, `chat ${chatId} to answer ${answers} time(s)`);
  }

  /**
   * The body of the newest turn request to `model`. Title calls are left out: on hosted providers they use
   * a cheap model, but an OpenAI-compatible chat asks its own model, beside the turn's first step.
   */
  const lastRequest = (model: string): any =>
    fake.requests
      .filter((r) => r.model === model && !JSON.stringify(r.body).includes(TITLE_PROMPT.slice(0, 40)))
      .at(-1)!.body;

  async function startChat(body: object, model: string): Promise<string> {
    const res = await app.request('POST', '/chats', { ...body, model_config_id: configs[model] }, member.token);
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function counts() {
    const n = async (table: 'chats' | 'chat_messages' | 'chat_queued_messages' | 'chat_file_links') =>
      (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(app.deps.db)).rows[0]!.n;
    return {
      chats: await n('chats'),
      messages: await n('chat_messages'),
      queued: await n('chat_queued_messages'),
      links: await n('chat_file_links'),
    };
  }

  describe('the image reaches the model in the wire shape of each protocol', () => {
    it('OpenAI Responses: an input_image with a data URL', async () => {
      const fileId = await upload(member.token, PNG, 'pixel.png');
      const chatId = await startChat(withFile('What is this?', fileId), RESPONSES_MODEL);
      const messages = await answered(chatId, 1);

      const input: any[] = lastRequest(RESPONSES_MODEL).input;
      expect(input.filter((item) => item.role === 'user')).toEqual([
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: PNG_DATA_URL, detail: 'auto' },
          ],
        },
      ]);

      // Stored: the id plus the file's name and type, never its bytes; the chat is linked to the file.
      expect(messages[0].content).toEqual([
        { type: 'text', text: 'What is this?' },
        { type: 'file', file_id: fileId, file_name: 'pixel.png', media_type: 'image/png' },
      ]);
      const links = await app.deps.db.selectFrom('chat_file_links').selectAll().where('chat_id', '=', chatId).execute();
      expect(links).toEqual([{ chat_id: chatId, file_id: fileId }]);
    });

    it('Chat Completions: an image_url part with a data URL', async () => {
      const fileId = await upload(member.token, PNG, 'pixel.png');
      const chatId = await startChat(withFile('What is this?', fileId), CHAT_MODEL);
      await answered(chatId, 1);

      const sent: any[] = lastRequest(CHAT_MODEL).messages;
      expect(sent.filter((m) => m.role === 'user')).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: PNG_DATA_URL } },
          ],
        },
      ]);
    });

    it('Anthropic: an image block with a base64 source', async () => {
      const fileId = await upload(member.token, PNG, 'pixel.png');
      const chatId = await startChat(withFile('What is this?', fileId), ANTHROPIC_MODEL);
      await answered(chatId, 1);

      const sent: any[] = lastRequest(ANTHROPIC_MODEL).messages;
      expect(sent).toEqual([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            {
              type: 'image',
              source: { type: 'base64', media_type: 'image/png', data: PNG.toString('base64') },
              // The last block of the conversation carries the prompt-cache breakpoint.
              cache_control: { type: 'ephemeral' },
            },
          ],
        },
      ]);
    });
  });

  it('a message queued behind a running turn is checked and linked when sent, and its file reaches the model when promoted', async () => {
    const chatId = await startChat({ content: [{ type: 'text', text: 'Please wait' }] }, RESPONSES_MODEL);
    await until(
      async () =>
        (await app.request('GET', `/chats/${chatId}`, undefined, member.token)).body.status === 'running'
          ? true
          : undefined,
      'the first turn to run',
    );
    const before = await counts();
    const refused = await app.request(
      'POST',
      `/chats/${chatId}/messages`,
      withFile('Queued look', randomUUID()),
      member.token,
    );
    expect(refused.status).toBe(400);
    expect(await counts()).toEqual(before);

    const fileId = await upload(member.token, PNG, 'queued.png');
    const queued = await app.request(
      'POST',
      `/chats/${chatId}/messages`,
      withFile('Queued look', fileId),
      member.token,
    );
    expect(queued.status).toBe(200);
    expect(queued.body.queued).toBe(true);
    expect(queued.body.queued_message.content[1]).toEqual({
      type: 'file',
      file_id: fileId,
      file_name: 'queued.png',
      media_type: 'image/png',
    });
    const link = await app.deps.db.selectFrom('chat_file_links').selectAll().where('file_id', '=', fileId).execute();
    expect(link).toEqual([{ chat_id: chatId, file_id: fileId }]);

    // The interrupt ends the running turn; the worker promotes the queued message into the next one.
    expect((await app.request('POST', `/chats/${chatId}/interrupt`, undefined, member.token)).status).toBe(200);
    await answered(chatId, 2);
    const userItems = (lastRequest(RESPONSES_MODEL).input as any[]).filter((item) => item.role === 'user');
    expect(userItems.at(-1).content).toEqual([
      { type: 'input_text', text: 'Queued look' },
      { type: 'input_image', image_url: PNG_DATA_URL, detail: 'auto' },
    ]);
  });

  describe('a file the provider cannot take becomes a note, and the turn completes', () => {
    const noteBlocks = (model: string): string[] =>
      (lastRequest(model).messages as any[])
        .filter((m) => m.role === 'user')
        .flatMap((m) => m.content as any[])
        .filter((b) => b.type === 'text' && b.text.startsWith('[image'))
        .map((b) => b.text);
    const imageBlocks = (model: string): unknown[] =>
      (lastRequest(model).messages as any[]).flatMap((m) =>
        Array.isArray(m.content) ? m.content.filter((b: any) => b.type === 'image') : [],
      );

    it('an image over Anthropic’s 5 MB limit', async () => {
      const fileId = await upload(member.token, pngOf(64, 64, 4 * 1024 * 1024), 'huge.png');
      const chatId = await startChat(withFile('Look at this', fileId), ANTHROPIC_MODEL);
      await answered(chatId, 1);
      expect(noteBlocks(ANTHROPIC_MODEL)).toEqual([
        '[image huge.png could not be sent: it is larger than the 3.9 MB this model provider accepts per image]',
      ]);
      expect(imageBlocks(ANTHROPIC_MODEL)).toEqual([]);
    });

    it('an image wider than Anthropic’s 8000 pixels, sent to an existing chat', async () => {
      const chatId = await startChat({ content: [{ type: 'text', text: 'Hello' }] }, ANTHROPIC_MODEL);
      await answered(chatId, 1);
      const fileId = await upload(member.token, pngOf(9000, 200), 'panorama.png');
      const sent = await app.request('POST', `/chats/${chatId}/messages`, withFile('And this?', fileId), member.token);
      expect(sent.status).toBe(200);
      await answered(chatId, 2);
      expect(noteBlocks(ANTHROPIC_MODEL)).toEqual([
        '[image panorama.png could not be sent: it is larger than 8000×8000 pixels]',
      ]);
      expect(imageBlocks(ANTHROPIC_MODEL)).toEqual([]);
    });

    it('a file deleted after it was sent', async () => {
      const fileId = await upload(member.token, PNG, 'gone.png');
      const chatId = await startChat(withFile('Keep this', fileId), RESPONSES_MODEL);
      await answered(chatId, 1);
      await app.deps.db.deleteFrom('chat_files').where('id', '=', fileId).execute();

      const sent = await app.request(
        'POST',
        `/chats/${chatId}/messages`,
        { content: [{ type: 'text', text: 'Still there?' }] },
        member.token,
      );
      expect(sent.status).toBe(200);
      await answered(chatId, 2);
      const userItems = (lastRequest(RESPONSES_MODEL).input as any[]).filter((item) => item.role === 'user');
      expect(userItems[0].content).toEqual([
        { type: 'input_text', text: 'Keep this' },
        { type: 'input_text', text: '[image gone.png could not be sent: it is no longer stored]' },
      ]);
    });
  });

  describe('a file id the sender does not own is a 400 that writes nothing', () => {
    it.each([
      ['another user’s file', async () => upload(other.token, PNG, 'theirs.png')],
      ['a file that does not exist', async () => randomUUID()],
    ])('POST /chats with %s', async (_what, fileIdOf) => {
      const fileId = await fileIdOf();
      const before = await counts();
      const res = await app.request('POST', '/chats', withFile('Look', fileId), member.token);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'file_not_found', details: { file_id: fileId } });
      expect(await counts()).toEqual(before);
    });

    it('POST /chats/:id/messages and PATCH of a message', async () => {
      const chatId = await startChat({ content: [{ type: 'text', text: 'Hello' }] }, RESPONSES_MODEL);
      const [first] = await answered(chatId, 1);
      const theirs = await upload(other.token, PNG, 'theirs.png');
      const before = await counts();

      for (const fileId of [theirs, randomUUID()]) {
        const sent = await app.request('POST', `/chats/${chatId}/messages`, withFile('Look', fileId), member.token);
        expect(sent.status).toBe(400);
        expect(sent.body.error.code).toBe('file_not_found');
        const edited = await app.request(
          'PATCH',
          `/chats/${chatId}/messages/${first.id}`,
          withFile('Look', fileId),
          member.token,
        );
        expect(edited.status).toBe(400);
        expect(edited.body.error.code).toBe('file_not_found');
      }
      expect(await counts()).toEqual(before);
      // The edit deleted nothing and started no turn.
      const chat = await app.request('GET', `/chats/${chatId}`, undefined, member.token);
      expect(chat.body).toMatchObject({ status: 'waiting' });
      const page = await app.request('GET', `/chats/${chatId}/messages`, undefined, member.token);
      expect(page.body.messages.map((m: any) => m.id)).toContain(first.id);
    });
  });
});
