/**
 * The chats collection and a chat's settings over HTTP: listing (keyset pages, filters in SQL),
 * reading, renaming, labels, archiving with its cascade, tenancy (another user always gets 404,
 * admins included) and bad input (4xx, nothing written). The API runs without a worker, so every
 * chat stays `pending` and no model is ever called: these tests need no turn to run.
 */
import { randomUUID } from 'node:crypto';
import { insertChat } from '../../src/db/repositories/chats.repository';
import { startTestApp, textBody, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { SseClient } from '../support/sse';
import { createTestUser, type TestUser } from '../support/users';

describe('chats over HTTP', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake, roles: { api: true, worker: false } });
    member = await createTestUser(app, 'member');
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  /** A fresh user, so listings see only the chats a test made. */
  async function freshUser(): Promise<TestUser> {
    return createTestUser(app, 'member');
  }

  async function createChat(token: string, title: string, labels?: Record<string, string>): Promise<any> {
    const res = await app.request('POST', '/chats', { ...textBody(title), ...(labels ? { labels } : {}) }, token);
    expect(res.status).toBe(201);
    return res.body;
  }

  async function counts() {
    const count = async (table: 'chats' | 'chat_messages' | 'chat_queued_messages') =>
      Number(
        (
          await app.deps.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      chats: await count('chats'),
      messages: await count('chat_messages'),
      queued: await count('chat_queued_messages'),
    };
  }

  describe('POST /chats', () => {
    it('creates a pending chat that is its own root, owned by the caller', async () => {
      const res = await app.request('POST', '/chats', textBody('Plan the migration'), member.token);
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({
        status: 'pending',
        owner_id: member.id,
        root_chat_id: res.body.id,
        parent_chat_id: null,
        archived: false,
        title: 'Plan the migration',
      });
    });

    it.each([
      ['no parts', { content: [] }],
      ['blank text', textBody('   ')],
      ['an unsupported part type', { content: [{ type: 'image', url: 'x' }] }],
      ['an unknown field', { ...textBody('hi'), colour: 'blue' }],
      ['a file reference without a name', { content: [{ type: 'file-reference', file_name: '' }] }],
    ])('rejects %s with 400 and writes nothing', async (_what, body) => {
      const before = await counts();
      const res = await app.request('POST', '/chats', body, member.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toMatch(/^(validation_failed|content_required)$/);
      expect(await counts()).toEqual(before);
    });

    it('answers 503 and leaves nothing behind when the turn cannot be requested', async () => {
      const before = await counts();
      const requestTurn = jest
        .spyOn(app.deps.turns, 'requestTurn')
        .mockRejectedValueOnce(new Error('Temporal is down'));
      try {
        const res = await app.request('POST', '/chats', textBody('Hello?'), member.token);
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('dependency_unavailable');
      } finally {
        requestTurn.mockRestore();
      }
      expect(await counts()).toEqual(before);
    });

    it('answers 400 when no default model config is configured', async () => {
      const bare = await startTestApp({ fake, roles: { api: true, worker: false }, seedModel: false });
      try {
        const res = await bare.request('POST', '/chats', textBody('Hello'));
        expect(res.status).toBe(400);
        expect(res.body.error).toEqual({
          code: 'no_default_model_config',
          message: 'No default chat model config is configured.',
        });
        expect((await bare.request('GET', '/chats')).body.chats).toEqual([]);
      } finally {
        await bare.stop();
      }
    });

    it('rejects a message without content with 400 and writes nothing', async () => {
      const chat = await createChat(member.token, 'target');
      const before = await counts();
      const res = await app.request('POST', `/chats/${chat.id}/messages`, textBody(' \n '), member.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('content_required');
      expect(await counts()).toEqual(before);
    });

    it('reports the path of an empty file reference name', async () => {
      const res = await app.request('POST', '/chats', { content: [{ type: 'file-reference', file_name: '' }] });
      expect(res.body.error.details).toEqual([
        expect.objectContaining({ path: 'content.0.file_name', message: expect.stringContaining('file_name') }),
      ]);
    });
  });

  describe('GET /chats', () => {
    it('lists only the caller’s chats, most recently active first', async () => {
      const user = await freshUser();
      const a = await createChat(user.token, 'a');
      const b = await createChat(user.token, 'b');
      const c = await createChat(user.token, 'c');
      await createChat(member.token, 'someone else’s');
      let res = await app.request('GET', '/chats', undefined, user.token);
      expect(res.status).toBe(200);
      expect(res.body.chats.map((x: any) => x.id)).toEqual([c.id, b.id, a.id]);
      expect(res.body.next_cursor).toBeNull();

      // Activity moves a chat to the top.
      await app.request('PATCH', `/chats/${a.id}`, { title: 'a, renamed' }, user.token);
      res = await app.request('GET', '/chats', undefined, user.token);
      expect(res.body.chats.map((x: any) => x.id)).toEqual([a.id, c.id, b.id]);
    });

    it('pages with next_cursor and with after_id, never repeating or skipping a chat', async () => {
      const user = await freshUser();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.unshift((await createChat(user.token, `chat ${i}`)).id);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = cursor ? `?limit=2&cursor=${encodeURIComponent(cursor)}` : '?limit=2';
        const res = await app.request('GET', `/chats${query}`, undefined, user.token);
        expect(res.status).toBe(200);
        expect(res.body.chats.length).toBe(pages < 2 ? 2 : 1);
        seen.push(...res.body.chats.map((x: any) => x.id));
        cursor = res.body.next_cursor;
        pages += 1;
      } while (cursor);
      expect(seen).toEqual(ids);
      expect(pages).toBe(3);

      const after = await app.request('GET', `/chats?limit=2&after_id=${ids[1]}`, undefined, user.token);
      expect(after.body.chats.map((x: any) => x.id)).toEqual(ids.slice(2, 4));
    });

    it('filters by labels in SQL, so filtered pages are full', async () => {
      const user = await freshUser();
      const matching: string[] = [];
      for (let i = 0; i < 5; i++) {
        matching.unshift((await createChat(user.token, `match ${i}`, { team: 'core', env: 'prod' })).id);
        await createChat(user.token, `other ${i}`, { team: 'web' });
      }
      const single = await createChat(user.token, 'core, staging', { team: 'core', env: 'staging' });

      const both = await app.request('GET', '/chats?label=team:core&label=env:prod&limit=2', undefined, user.token);
      expect(both.body.chats.map((x: any) => x.id)).toEqual(matching.slice(0, 2));
      const next = await app.request(
        'GET',
        `/chats?label=team:core&label=env:prod&limit=2&cursor=${encodeURIComponent(both.body.next_cursor)}`,
        undefined,
        user.token,
      );
      expect(next.body.chats.map((x: any) => x.id)).toEqual(matching.slice(2, 4));

      const team = await app.request('GET', '/chats?label=team:core&limit=200', undefined, user.token);
      expect(team.body.chats.map((x: any) => x.id)).toEqual([single.id, ...matching]);
      const none = await app.request('GET', '/chats?label=team:nobody', undefined, user.token);
      expect(none.body.chats).toEqual([]);
    });

    it.each([
      ['a cursor that is not one of ours', '?cursor=bm90LWEtY3Vyc29y'],
      ['a cursor that is not base64 JSON', '?cursor=%%%'],
      ['an after_id that is not a uuid', '?after_id=12'],
      ['an after_id of no chat', `?after_id=${randomUUID()}`],
      ['both cursor and after_id', `?after_id=${randomUUID()}&cursor=abc`],
      ['a limit of 0', '?limit=0'],
      ['a limit above 200', '?limit=201'],
      ['archived that is not a boolean', '?archived=yes'],
      ['a label filter without a colon', '?label=team'],
      ['two values for one label', '?label=team:a&label=team:b'],
    ])('answers 400 for %s', async (_what, query) => {
      const res = await app.request('GET', `/chats${query}`, undefined, member.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toMatch(/^(validation_failed|invalid_cursor|invalid_label)$/);
    });

    it('does not page after another user’s chat', async () => {
      const other = await createChat(member.token, 'private');
      const res = await app.request('GET', `/chats?after_id=${other.id}`);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_cursor');
    });

    it('answers 401 without a token', async () => {
      const res = await fetch(`${app.url}/api/v1/chats`);
      expect(res.status).toBe(401);
    });
  });

  describe('PATCH /chats/{id}', () => {
    it('renames and relabels a chat', async () => {
      const chat = await createChat(member.token, 'old', { a: '1' });
      const res = await app.request(
        'PATCH',
        `/chats/${chat.id}`,
        { title: '  New title ', labels: { b: '2' } },
        member.token,
      );
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ title: 'New title', labels: { b: '2' } });
      const read = await app.request('GET', `/chats/${chat.id}`, undefined, member.token);
      expect(read.body).toMatchObject({ title: 'New title', labels: { b: '2' } });
    });

    it('archives a chat with its sub-agent chats, hides them from the default listing, and unarchives them', async () => {
      const user = await freshUser();
      const root = await createChat(user.token, 'root');
      const rootRow = await app.deps.db
        .selectFrom('chats')
        .selectAll()
        .where('id', '=', root.id)
        .executeTakeFirstOrThrow();
      const child = await insertChat(app.deps.db, {
        owner_id: user.id,
        workspace_id: null,
        parent_chat_id: root.id,
        root_chat_id: root.id,
        last_model_config_id: rootRow.last_model_config_id,
        title: 'sub-agent',
        status: 'waiting',
        turn: 1,
        last_error: null,
        last_error_kind: null,
        labels: '{}',
        mode: null,
        last_read_message_id: null,
      });
      const unrelated = await createChat(user.token, 'unrelated');

      const archived = await app.request('PATCH', `/chats/${root.id}`, { archived: true }, user.token);
      expect(archived.status).toBe(200);
      expect(archived.body.archived).toBe(true);
      const childRead = await app.request('GET', `/chats/${child.id}`, undefined, user.token);
      expect(childRead.body.archived).toBe(true);

      const active = await app.request('GET', '/chats', undefined, user.token);
      expect(active.body.chats.map((x: any) => x.id)).toEqual([unrelated.id]);
      const hidden = await app.request('GET', '/chats?archived=true', undefined, user.token);
      expect(hidden.body.chats.map((x: any) => x.id).sort()).toEqual([root.id, child.id].sort());

      const restored = await app.request('PATCH', `/chats/${root.id}`, { archived: false }, user.token);
      expect(restored.status).toBe(200);
      const all = await app.request('GET', '/chats', undefined, user.token);
      expect(all.body.chats.map((x: any) => x.id).sort()).toEqual([root.id, child.id, unrelated.id].sort());
    });

    it('moves an archived pending chat to waiting', async () => {
      const chat = await createChat(member.token, 'never runs');
      expect(chat.status).toBe('pending');
      const res = await app.request('PATCH', `/chats/${chat.id}`, { archived: true }, member.token);
      expect(res.body).toMatchObject({ archived: true, status: 'waiting' });
    });

    it('refuses to unarchive a chat that is not archived', async () => {
      const chat = await createChat(member.token, 'active');
      const res = await app.request('PATCH', `/chats/${chat.id}`, { archived: false }, member.token);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('chat_not_archived');
    });

    it.each([
      ['an empty body', {}],
      ['an empty title', { title: '  ' }],
      ['an unknown field', { pinned: true }],
      ['a non-boolean archived', { archived: 'yes' }],
    ])('answers 400 for %s and changes nothing', async (_what, body) => {
      const chat = await createChat(member.token, 'unchanged');
      const res = await app.request('PATCH', `/chats/${chat.id}`, body, member.token);
      expect(res.status).toBe(400);
      const read = await app.request('GET', `/chats/${chat.id}`, undefined, member.token);
      expect(read.body).toEqual(chat);
    });
  });

  describe('bad requests', () => {
    it('answers 503 for a message whose turn cannot be requested, and keeps nothing of it', async () => {
      const chat = await createChat(member.token, 'idle soon');
      await app.request('POST', `/chats/${chat.id}/interrupt`, undefined, member.token);
      const before = await counts();
      const requestTurn = jest
        .spyOn(app.deps.turns, 'requestTurn')
        .mockRejectedValueOnce(new Error('Temporal is down'));
      try {
        const res = await app.request('POST', `/chats/${chat.id}/messages`, textBody('lost?'), member.token);
        expect(res.status).toBe(503);
      } finally {
        requestTurn.mockRestore();
      }
      expect(await counts()).toEqual(before);
      const read = await app.request('GET', `/chats/${chat.id}`, undefined, member.token);
      expect(read.body.status).toBe('waiting');
    });

    it('answers 400 for malformed JSON and writes nothing', async () => {
      const before = await counts();
      const res = await fetch(`${app.url}/api/v1/chats`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${member.token}`, 'Content-Type': 'application/json' },
        body: '{"content": [',
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.code).toBe('invalid_json');
      expect(await counts()).toEqual(before);
    });

    it('answers 413 for a body over the limit and writes nothing', async () => {
      const before = await counts();
      const huge = 'x'.repeat(app.deps.config.maxMessageBytes + 128 * 1024);
      const res = await app.request('POST', '/chats', textBody(huge), member.token);
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect(await counts()).toEqual(before);
    });

    it.each([
      ['GET', '/chats/not-a-uuid'],
      ['GET', '/chats/not-a-uuid/messages'],
      ['PATCH', '/chats/{id}/messages/abc'],
      ['PATCH', '/chats/{id}/messages/-1'],
      ['PATCH', '/chats/{id}/messages/1e3'],
      ['DELETE', '/chats/{id}/queue/1.5'],
      ['POST', '/chats/{id}/queue/0/promote'],
      ['GET', '/chats/{id}/messages?before_id=0'],
      ['GET', '/chats/{id}/messages?before_id=12345678901234567890'],
      ['GET', '/chats/{id}/stream?after_id=x'],
    ])('answers 400 for %s %s', async (method, path) => {
      const chat = await createChat(member.token, 'target');
      const before = await counts();
      const body = method === 'PATCH' ? textBody('edited') : undefined;
      const res = await app.request(method, path.replace('{id}', chat.id), body, member.token);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      expect(await counts()).toEqual(before);
    });

    it('names the invalid message and queued message ids', async () => {
      const chat = await createChat(member.token, 'target');
      const edit = await app.request('PATCH', `/chats/${chat.id}/messages/abc`, textBody('x'), member.token);
      expect(edit.body.error.details).toEqual([{ path: 'messageId', message: 'Invalid chat message ID.' }]);
      const del = await app.request('DELETE', `/chats/${chat.id}/queue/abc`, undefined, member.token);
      expect(del.body.error.details).toEqual([{ path: 'queuedId', message: 'Invalid queued message ID.' }]);
    });

    it('answers 400 for a Last-Event-ID that is not one of ours', async () => {
      const chat = await createChat(member.token, 'target');
      const stream = SseClient.open(`${app.url}/api/v1/chats/${chat.id}/stream`, member.token, {
        'Last-Event-ID': 'yesterday',
      });
      await stream.done;
      expect(stream.status).toBe(400);
      expect(stream.errorBody.error.code).toBe('invalid_cursor');
    });
  });

  describe('another user’s chat', () => {
    /**
     * Every chat endpoint answers 404 for a chat the caller does not own (never 403: the chat's
     * existence is not revealed), admins included, and writes nothing.
     */
    it.each(['admin', 'member'] as const)('is a 404 on every endpoint for another %s', async (who) => {
      const owner = await freshUser();
      const chat = await createChat(owner.token, 'private');
      const messages = await app.request('GET', `/chats/${chat.id}/messages`, undefined, owner.token);
      const messageId = messages.body.messages[0].id;
      const queued = await app.request('POST', `/chats/${chat.id}/messages`, textBody('queued'), owner.token);
      expect(queued.body.queued).toBe(true);
      const queuedId = queued.body.queued_message.id;
      const intruder = who === 'admin' ? app.token : member.token;
      const rowBefore = await app.deps.db
        .selectFrom('chats')
        .selectAll()
        .where('id', '=', chat.id)
        .executeTakeFirstOrThrow();
      const before = await counts();

      const attempts: Array<[string, string, unknown?]> = [
        ['GET', `/chats/${chat.id}`],
        ['PATCH', `/chats/${chat.id}`, { title: 'mine now' }],
        ['PATCH', `/chats/${chat.id}`, { archived: true }],
        ['GET', `/chats/${chat.id}/messages`],
        ['POST', `/chats/${chat.id}/messages`, textBody('hello?')],
        ['PATCH', `/chats/${chat.id}/messages/${messageId}`, textBody('rewritten')],
        ['POST', `/chats/${chat.id}/interrupt`],
        ['DELETE', `/chats/${chat.id}/queue/${queuedId}`],
        ['POST', `/chats/${chat.id}/queue/${queuedId}/promote`],
      ];
      for (const [method, path, body] of attempts) {
        const res = await app.request(method, path, body, intruder);
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
          method,
          path,
          status: 404,
          code: 'chat_not_found',
        });
      }
      const stream = SseClient.open(`${app.url}/api/v1/chats/${chat.id}/stream`, intruder);
      await stream.done;
      expect(stream.status).toBe(404);

      const list = await app.request('GET', '/chats?limit=200', undefined, intruder);
      expect(list.body.chats.map((x: any) => x.id)).not.toContain(chat.id);
      expect(await counts()).toEqual(before);
      const rowAfter = await app.deps.db
        .selectFrom('chats')
        .selectAll()
        .where('id', '=', chat.id)
        .executeTakeFirstOrThrow();
      expect(rowAfter).toEqual(rowBefore);
    });

    it('is a 404 for a chat that does not exist', async () => {
      const res = await app.request('GET', `/chats/${randomUUID()}`, undefined, member.token);
      expect(res.status).toBe(404);
      expect(res.body.error).toEqual({ code: 'chat_not_found', message: 'Chat not found.' });
    });
  });
});
