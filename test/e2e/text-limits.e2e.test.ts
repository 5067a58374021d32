/**
 * Text PostgreSQL cannot hold and the message size limit, over HTTP: a NUL in a first message is
 * stored (escaped) and never reaches the title; a NUL in a title, a label or a label filter is a 400
 * that writes nothing; CHATD_MAX_MESSAGE_BYTES is exact, in UTF-8 bytes of the message's text, on
 * create, send and edit. The API runs without a worker: chats stay `pending`, no model is called.
 */
import { startTestApp, textBody, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { createTestUser, type TestUser } from '../support/users';

/** A small limit keeps the boundary cases cheap; the check is the same at the default. */
const LIMIT = 4096;

describe('text limits over HTTP', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({
      fake,
      roles: { api: true, worker: false },
      env: { CHATD_MAX_MESSAGE_BYTES: String(LIMIT) },
    });
    member = await createTestUser(app, 'member');
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  /** Rows of the caller's chats, messages and queue: a refused request leaves all three unchanged. */
  async function footprint(userId: string) {
    const db = app.deps.db;
    const chats = await db.selectFrom('chats').selectAll().where('owner_id', '=', userId).orderBy('id').execute();
    const ids = chats.map((c) => c.id);
    const messages = ids.length
      ? await db.selectFrom('chat_messages').selectAll().where('chat_id', 'in', ids).orderBy('id').execute()
      : [];
    const queued = ids.length
      ? await db.selectFrom('chat_queued_messages').selectAll().where('chat_id', 'in', ids).orderBy('id').execute()
      : [];
    return { chats, messages, queued };
  }

  async function newChat(user: TestUser, text = 'Start here'): Promise<{ id: string }> {
    const res = await app.request('POST', '/chats', textBody(text), user.token);
    expect(res.status).toBe(201);
    return res.body;
  }

  describe('NUL characters', () => {
    it('in a first message: the chat is created, the text kept exactly, the title without the NUL', async () => {
      const text = 'Fix\u0000 the\u0000parser';
      const res = await app.request('POST', '/chats', textBody(text), member.token);
      expect(res.status).toBe(201);
      expect(res.body.title).toBe('Fix the parser');
      const messages = await app.request('GET', `/chats/${res.body.id}/messages`, undefined, member.token);
      expect(messages.status).toBe(200);
      const user = (messages.body.messages as any[]).find((m) => m.role === 'user');
      expect(user.content).toEqual([{ type: 'text', text }]);
    });

    it('in a title on rename: 400 and the chat keeps its title', async () => {
      const user = await createTestUser(app, 'member');
      const chat = await newChat(user);
      const before = await footprint(user.id);
      const res = await app.request('PATCH', `/chats/${chat.id}`, { title: 'New\u0000title' }, user.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await footprint(user.id)).toEqual(before);
    });

    it.each([
      ['a label value on create', { labels: { team: 'a\u0000b' } }],
      ['a label key on create', { labels: { 'te\u0000am': 'infra' } }],
    ])('in %s: 400 and no chat is created', async (_name, extra) => {
      const user = await createTestUser(app, 'member');
      const res = await app.request('POST', '/chats', { ...textBody('Hello'), ...extra }, user.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await footprint(user.id)).toEqual({ chats: [], messages: [], queued: [] });
    });

    it.each([
      ['a label value', { team: 'x\u0000' }],
      ['a label key', { '\u0000': 'x' }],
    ])('in %s on update: 400 and the labels are unchanged', async (_name, labels) => {
      const user = await createTestUser(app, 'member');
      const chat = await newChat(user);
      const before = await footprint(user.id);
      const res = await app.request('PATCH', `/chats/${chat.id}`, { labels }, user.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(await footprint(user.id)).toEqual(before);
    });

    it('in a label filter: 400', async () => {
      const res = await app.request(
        'GET',
        `/chats?label=${encodeURIComponent('team:a\u0000')}`,
        undefined,
        member.token,
      );
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    });
  });

  describe('CHATD_MAX_MESSAGE_BYTES is exact', () => {
    // 'é' is two bytes in UTF-8: the limit counts bytes, not characters.
    const exactly = 'é'.repeat(LIMIT / 2);
    const oneOver = `${exactly}x`;

    it('accepts a first message of exactly the limit and refuses one byte more with 413', async () => {
      const user = await createTestUser(app, 'member');
      const over = await app.request('POST', '/chats', textBody(oneOver), user.token);
      expect(over.status).toBe(413);
      expect(over.body.error.code).toBe('payload_too_large');
      expect(await footprint(user.id)).toEqual({ chats: [], messages: [], queued: [] });
      expect((await app.request('POST', '/chats', textBody(exactly), user.token)).status).toBe(201);
    });

    it('sums the text parts of one message', async () => {
      const user = await createTestUser(app, 'member');
      const half = 'a'.repeat(LIMIT / 2);
      const parts = (extra: string) => ({
        content: [
          { type: 'text', text: half },
          { type: 'text', text: half + extra },
        ],
      });
      expect((await app.request('POST', '/chats', parts('b'), user.token)).status).toBe(413);
      expect((await app.request('POST', '/chats', parts(''), user.token)).status).toBe(201);
    });

    it('applies to sent and edited messages, refusing before anything is written', async () => {
      const user = await createTestUser(app, 'member');
      const chat = await newChat(user);
      const before = await footprint(user.id);
      const sent = await app.request('POST', `/chats/${chat.id}/messages`, textBody(oneOver), user.token);
      expect(sent.status).toBe(413);
      expect(sent.body.error.code).toBe('payload_too_large');
      const first = before.messages.find((m) => m.role === 'user')!;
      const edited = await app.request(
        'PATCH',
        `/chats/${chat.id}/messages/${first.id}`,
        textBody(oneOver),
        user.token,
      );
      expect(edited.status).toBe(413);
      expect(edited.body.error.code).toBe('payload_too_large');
      expect(await footprint(user.id)).toEqual(before);
      // The same text at the limit is accepted (queued behind the pending first turn).
      const ok = await app.request('POST', `/chats/${chat.id}/messages`, textBody(exactly), user.token);
      expect(ok.status).toBe(200);
    });
  });
});
