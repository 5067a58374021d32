/**
 * Unread state and pins over HTTP, with a real worker answering through the fake LLM: `has_unread`
 * after an answer, POST /chats/{id}/read (forward only, idempotent, tenancy, bad input), the watch
 * events of both (`status_change` carrying `has_unread`, `read_change`, `pin_change`), pin positions
 * set through PATCH /chats/{id}, and the listing's pinned-first order paged across the boundary
 * between pinned and unpinned chats.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { insertChat } from '../../src/db/repositories/chats.repository';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text } from '../../src/dev/fake-llm/script';
import { startTestApp, textBody, type TestApp } from '../support/app';
import { SseClient, type SseEvent } from '../support/sse';
import { createTestUser, type TestUser } from '../support/users';
import { until } from '../support/wait';

describe('unread chats and pins', () => {
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

  const chatRow = (id: string) =>
    app.deps.db.selectFrom('chats').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  const openWatch = async (user: TestUser): Promise<SseClient> => {
    const watch = SseClient.open(`${app.url}/api/v1/chats/watch`, user.token);
    await watch.waitForComments(1);
    return watch;
  };

  /** Waits until the chat's turn is over (status `waiting`) and returns GET /chats/{id}. */
  async function settled(user: TestUser, chatId: string): Promise<any> {
    return until(async () => {
      const res = await app.request('GET', `/chats/${chatId}`, undefined, user.token);
      return res.body.status === 'waiting' ? res.body : undefined;
    }, `chat ${chatId} to be waiting`);
  }

  async function messagesOf(user: TestUser, chatId: string): Promise<Array<{ id: number; role: string }>> {
    return (await app.request('GET', `/chats/${chatId}/messages`, undefined, user.token)).body.messages;
  }

  describe('has_unread and POST /chats/{id}/read', () => {
    it('turns unread with the first answer, is read by POST /read, and says so on the watch feed', async () => {
      const user = await createTestUser(app);
      const watch = await openWatch(user);
      fake.enqueue(text('First answer.'));
      const created = await app.request('POST', '/chats', textBody('Hello'), user.token);
      expect(created.status).toBe(201);
      // A brand-new chat has nothing to read yet.
      expect(created.body).toMatchObject({ has_unread: false, last_read_message_id: null, pin_order: 0 });
      const chatId: string = created.body.id;

      const turnEnd = await watch.waitFor(
        (e) => e.event === 'status_change' && e.data.chat.id === chatId && e.data.chat.status === 'waiting',
      );
      expect(turnEnd.data.chat.has_unread).toBe(true);
      // The run closes once the chat's title was generated too: read the chat as it then stays.
      await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
      const chat = await settled(user, chatId);
      expect(chat.has_unread).toBe(true);
      const listed = await app.request('GET', '/chats', undefined, user.token);
      expect(listed.body.chats).toEqual([expect.objectContaining({ id: chatId, has_unread: true })]);

      const [question, answer] = await messagesOf(user, chatId);
      expect([question!.role, answer!.role]).toEqual(['user', 'assistant']);
      const updatedAt = (await chatRow(chatId)).updated_at;

      const read = await app.request('POST', `/chats/${chatId}/read`, undefined, user.token);
      expect(read.status).toBe(200);
      expect(read.body).toMatchObject({ id: chatId, has_unread: false, last_read_message_id: answer!.id });
      const readEvent = await watch.waitFor((e) => e.event === 'read_change' && e.data.chat.id === chatId);
      expect(readEvent.data).toEqual({
        kind: 'read_change',
        chat: {
          id: chatId,
          status: 'waiting',
          title: chat.title,
          parent_chat_id: null,
          archived: false,
          has_unread: false,
          last_read_message_id: answer!.id,
        },
      });
      expect((await app.request('GET', `/chats/${chatId}`, undefined, user.token)).body.has_unread).toBe(false);
      // Reading is not activity: the chat keeps its place in the list.
      expect((await chatRow(chatId)).updated_at).toEqual(updatedAt);

      // Idempotent: the same call again changes nothing and announces nothing.
      const again = await app.request('POST', `/chats/${chatId}/read`, {}, user.token);
      expect(again.status).toBe(200);
      expect(again.body).toEqual(read.body);
      // A later event proves the feed got past the point where a second read_change would have been.
      await app.request('PATCH', `/chats/${chatId}`, { title: 'fence' }, user.token);
      await watch.waitFor((e) => e.event === 'title_change' && e.data.chat.title === 'fence');
      watch.close();
      expect(watch.events.filter((e) => e.event === 'read_change')).toHaveLength(1);
    });

    it('moves the cursor forward only', async () => {
      const user = await createTestUser(app);
      fake.enqueue(text('One.'));
      const chatId: string = (await app.request('POST', '/chats', textBody('first'), user.token)).body.id;
      await settled(user, chatId);
      const [, firstAnswer] = await messagesOf(user, chatId);

      const upTo = await app.request('POST', `/chats/${chatId}/read`, { message_id: firstAnswer!.id }, user.token);
      expect(upTo.body).toMatchObject({ has_unread: false, last_read_message_id: firstAnswer!.id });

      fake.enqueue(text('Two.'));
      const sent = await app.request('POST', `/chats/${chatId}/messages`, textBody('second'), user.token);
      expect(sent.body.queued).toBe(false);
      await until(async () => {
        const res = await app.request('GET', `/chats/${chatId}`, undefined, user.token);
        return res.body.status === 'waiting' && res.body.has_unread ? true : undefined;
      }, 'the second answer to make the chat unread');
      const all = await messagesOf(user, chatId);
      const secondAnswer = all.at(-1)!;
      expect(secondAnswer.role).toBe('assistant');

      // Older ids (the first answer, the user's own message) leave the cursor where it is.
      for (const older of [firstAnswer!.id, all[0]!.id]) {
        const res = await app.request('POST', `/chats/${chatId}/read`, { message_id: older }, user.token);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ has_unread: true, last_read_message_id: firstAnswer!.id });
      }
      // Read up to the second question only: its answer is still unread.
      const question = all.at(-2)!;
      expect(question.role).toBe('user');
      const partial = await app.request('POST', `/chats/${chatId}/read`, { message_id: question.id }, user.token);
      expect(partial.body).toMatchObject({ has_unread: true, last_read_message_id: question.id });

      const latest = await app.request('POST', `/chats/${chatId}/read`, undefined, user.token);
      expect(latest.body).toMatchObject({ has_unread: false, last_read_message_id: secondAnswer.id });
      const back = await app.request('POST', `/chats/${chatId}/read`, { message_id: question.id }, user.token);
      expect(back.body.last_read_message_id).toBe(secondAnswer.id);
      expect((await chatRow(chatId)).last_read_message_id).toBe(secondAnswer.id);
    });

    it('answers 404 for another user’s chat and 400 for bad input, writing nothing', async () => {
      const owner = await createTestUser(app);
      const intruder = await createTestUser(app);
      fake.enqueue(text('Mine.'), text('Other.'));
      const chatId: string = (await app.request('POST', '/chats', textBody('private'), owner.token)).body.id;
      const otherId: string = (await app.request('POST', '/chats', textBody('other'), owner.token)).body.id;
      await settled(owner, chatId);
      await settled(owner, otherId);
      const [, otherAnswer] = await messagesOf(owner, otherId);
      const ownMessages = await messagesOf(owner, chatId);
      const before = await chatRow(chatId);
      const watch = await openWatch(owner);

      for (const body of [undefined, { message_id: ownMessages[1]!.id }]) {
        const res = await app.request('POST', `/chats/${chatId}/read`, body, intruder.token);
        expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 404, code: 'chat_not_found' });
      }
      const missing = await app.request('POST', `/chats/${randomUUID()}/read`, undefined, owner.token);
      expect(missing.status).toBe(404);

      const cases: Array<[unknown, string]> = [
        [{ message_id: otherAnswer!.id }, 'message_not_found'],
        [{ message_id: 999_999_999 }, 'message_not_found'],
        [{ message_id: -1 }, 'validation_failed'],
        [{ message_id: 0 }, 'validation_failed'],
        [{ message_id: 1.5 }, 'validation_failed'],
        [{ message_id: String(ownMessages[1]!.id) }, 'validation_failed'],
        [{ message_id: ownMessages[1]!.id, extra: true }, 'validation_failed'],
      ];
      for (const [body, code] of cases) {
        const res = await app.request('POST', `/chats/${chatId}/read`, body, owner.token);
        expect({ body, status: res.status, code: res.body.error.code }).toEqual({ body, status: 400, code });
      }
      const invalidId = await app.request('POST', '/chats/not-a-uuid/read', undefined, owner.token);
      expect(invalidId.status).toBe(400);

      expect(await chatRow(chatId)).toEqual(before);
      expect((await chatRow(otherId)).last_read_message_id).toBeNull();
      await app.request('PATCH', `/chats/${chatId}`, { title: 'fence' }, owner.token);
      await watch.waitFor((e) => e.event === 'title_change' && e.data.chat.title === 'fence');
      watch.close();
      expect(watch.events.filter((e) => e.event === 'read_change')).toEqual([]);
    });
  });

  describe('pins', () => {
    /**
     * Chats of a fresh user inserted directly (status `waiting`, no turn), with `updated_at` one
     * minute apart: names[0] is the most recently active. Returns the ids by name.
     */
    async function seedChats(user: TestUser, names: string[]): Promise<Record<string, string>> {
      const ids: Record<string, string> = {};
      const now = Date.now();
      for (const [index, name] of names.entries()) {
        const row = await insertChat(app.deps.db, {
          owner_id: user.id,
          workspace_id: null,
          parent_chat_id: null,
          root_chat_id: null,
          last_model_config_id: app.modelConfigId,
          title: name,
          status: 'waiting',
          turn: 0,
          last_error: null,
          last_error_kind: null,
          labels: '{}',
          mode: null,
          last_read_message_id: null,
          updated_at: new Date(now - index * 60_000),
        });
        ids[name] = row.id;
      }
      return ids;
    }

    const titlesOf = (chats: Array<{ title: string }>) => chats.map((c) => c.title);

    async function list(user: TestUser, query = ''): Promise<any> {
      const res = await app.request('GET', `/chats${query}`, undefined, user.token);
      expect(res.status).toBe(200);
      return res.body;
    }

    async function pin(user: TestUser, chatId: string, pinOrder: number): Promise<any> {
      const res = await app.request('PATCH', `/chats/${chatId}`, { pin_order: pinOrder }, user.token);
      expect(res.status).toBe(200);
      return res.body;
    }

    /** Every page of the listing with `limit`, following next_cursor (or after_id); the titles in order. */
    async function walk(user: TestUser, limit: number, via: 'cursor' | 'after_id'): Promise<string[]> {
      const titles: string[] = [];
      let query = `?limit=${limit}`;
      for (let pages = 0; pages < 20; pages++) {
        const page = await list(user, query);
        expect(page.chats.length).toBeLessThanOrEqual(limit);
        titles.push(...titlesOf(page.chats));
        if (!page.next_cursor) return titles;
        expect(page.chats.length).toBe(limit);
        query =
          via === 'cursor'
            ? `?limit=${limit}&cursor=${encodeURIComponent(page.next_cursor)}`
            : `?limit=${limit}&after_id=${page.chats.at(-1).id}`;
      }
      throw new Error('the listing did not end');
    }

    /** The pin_change events from `from` on, as `title=position`. */
    const pinChanges = (watch: SseClient, from: number, titles: Record<string, string>) =>
      watch.events
        .slice(from)
        .filter((e: SseEvent) => e.event === 'pin_change')
        .map((e: SseEvent) => `${titles[e.data.chat.id]}=${e.data.chat.pin_order}`);

    it('pins at a position, shifts the others, lists pinned chats first and pages across the boundary', async () => {
      const user = await createTestUser(app);
      const ids = await seedChats(user, ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
      const titles = Object.fromEntries(Object.entries(ids).map(([title, id]) => [id, title]));
      const watch = await openWatch(user);
      expect(titlesOf((await list(user)).chats)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
      const updatedAt = (await chatRow(ids.c5!)).updated_at;

      expect(await pin(user, ids.c5!, 1)).toMatchObject({ pin_order: 1, has_unread: false });
      // Position 1 again: c3 goes on top, c5 moves down.
      expect((await pin(user, ids.c3!, 1)).pin_order).toBe(1);
      // A position past the end means last: c6 becomes 3, not 99.
      expect((await pin(user, ids.c6!, 99)).pin_order).toBe(3);
      let page = await list(user);
      expect(page.chats.map((c: any) => [c.title, c.pin_order])).toEqual([
        ['c3', 1],
        ['c5', 2],
        ['c6', 3],
        ['c1', 0],
        ['c2', 0],
        ['c4', 0],
      ]);
      // Pinning is not activity.
      expect((await chatRow(ids.c5!)).updated_at).toEqual(updatedAt);

      // Move the last pinned chat to the top.
      await pin(user, ids.c6!, 1);
      page = await list(user);
      expect(titlesOf(page.chats)).toEqual(['c6', 'c3', 'c5', 'c1', 'c2', 'c4']);
      for (const limit of [1, 2, 3, 4, 5, 6, 7]) {
        for (const via of ['cursor', 'after_id'] as const) {
          expect({ limit, via, titles: await walk(user, limit, via) }).toEqual({
            limit,
            via,
            titles: ['c6', 'c3', 'c5', 'c1', 'c2', 'c4'],
          });
        }
      }

      // Unpinning closes the gap; the chat goes back to its place by activity.
      expect((await pin(user, ids.c3!, 0)).pin_order).toBe(0);
      expect(titlesOf((await list(user)).chats)).toEqual(['c6', 'c5', 'c1', 'c2', 'c3', 'c4']);
      // Idempotent: the same position again moves nothing.
      expect((await pin(user, ids.c6!, 1)).pin_order).toBe(1);

      // Archiving a pinned chat unpins it and closes the gap too.
      const archived = await app.request('PATCH', `/chats/${ids.c6}`, { archived: true }, user.token);
      expect(archived.body).toMatchObject({ archived: true, pin_order: 0 });
      expect((await list(user)).chats.map((c: any) => [c.title, c.pin_order])).toEqual([
        ['c5', 1],
        ['c1', 0],
        ['c2', 0],
        ['c3', 0],
        ['c4', 0],
      ]);

      await watch.waitFor((e) => e.event === 'deleted' && e.data.chat.id === ids.c6);
      await watch.waitFor((e) => e.event === 'pin_change' && e.data.chat.id === ids.c5 && e.data.chat.pin_order === 1);
      watch.close();
      expect(pinChanges(watch, 0, titles)).toEqual([
        'c5=1',
        ...['c3=1', 'c5=2'],
        'c6=3',
        ...['c6=1', 'c3=2', 'c5=3'],
        ...['c3=0', 'c5=2'],
        'c5=1',
      ]);
      const sample = watch.events.find((e) => e.event === 'pin_change')!;
      expect(sample.data).toEqual({
        kind: 'pin_change',
        chat: { id: ids.c5, status: 'waiting', title: 'c5', parent_chat_id: null, archived: false, pin_order: 1 },
      });
    });

    it('keeps old cursors working and rejects malformed ones', async () => {
      const user = await createTestUser(app);
      await seedChats(user, ['a', 'b', 'c', 'd']);
      const first = await list(user, '?limit=2');
      expect(titlesOf(first.chats)).toEqual(['a', 'b']);
      const key = JSON.parse(Buffer.from(first.next_cursor, 'base64url').toString('utf8'));
      expect(key).toEqual({ p: 0, u: expect.any(String), i: first.chats[1].id });
      // A cursor issued before pins existed has no `p`: it continues among the unpinned chats.
      const old = Buffer.from(JSON.stringify({ u: key.u, i: key.i })).toString('base64url');
      const rest = await list(user, `?limit=2&cursor=${old}`);
      expect(titlesOf(rest.chats)).toEqual(['c', 'd']);

      for (const p of [-1, 1.5, '1', null, 2 ** 31]) {
        const bad = Buffer.from(JSON.stringify({ p, u: key.u, i: key.i })).toString('base64url');
        const res = await app.request('GET', `/chats?cursor=${bad}`, undefined, user.token);
        expect({ p, status: res.status, code: res.body.error.code }).toEqual({
          p,
          status: 400,
          code: 'invalid_cursor',
        });
      }
    });

    it('answers 400 for a bad pin_order or pinning an archived chat, and 404 for another user’s chat, writing nothing', async () => {
      const user = await createTestUser(app);
      const intruder = await createTestUser(app);
      const ids = await seedChats(user, ['x', 'y']);
      await pin(user, ids.y!, 1);
      await app.request('PATCH', `/chats/${ids.x}`, { archived: true }, user.token);
      const before = await app.deps.db.selectFrom('chats').selectAll().where('owner_id', '=', user.id).execute();
      const watch = await openWatch(user);

      const cases: Array<[string, unknown, number, string]> = [
        [ids.y!, { pin_order: -1 }, 400, 'validation_failed'],
        [ids.y!, { pin_order: 1.5 }, 400, 'validation_failed'],
        [ids.y!, { pin_order: '2' }, 400, 'validation_failed'],
        [ids.y!, { pin_order: 2 ** 31 }, 400, 'validation_failed'],
        [ids.y!, { pin_order: null }, 400, 'validation_failed'],
        [ids.y!, { pin_order: 2, title: '' }, 400, 'validation_failed'],
        [ids.x!, { pin_order: 1 }, 400, 'chat_archived'],
        [ids.x!, { pin_order: 1, title: 'renamed too' }, 400, 'chat_archived'],
        [ids.y!, { pin_order: 1, archived: true }, 400, 'chat_archived'],
      ];
      for (const [chatId, body, status, code] of cases) {
        const res = await app.request('PATCH', `/chats/${chatId}`, body, user.token);
        expect({ body, status: res.status, code: res.body.error.code }).toEqual({ body, status, code });
      }
      const foreign = await app.request('PATCH', `/chats/${ids.y}`, { pin_order: 3 }, intruder.token);
      expect({ status: foreign.status, code: foreign.body.error.code }).toEqual({
        status: 404,
        code: 'chat_not_found',
      });
      const after = await app.deps.db.selectFrom('chats').selectAll().where('owner_id', '=', user.id).execute();
      const byId = (rows: typeof before) => [...rows].sort((a, b) => a.id.localeCompare(b.id));
      expect(byId(after)).toEqual(byId(before));

      // Unarchiving and pinning in one request is fine.
      const back = await app.request('PATCH', `/chats/${ids.x}`, { archived: false, pin_order: 1 }, user.token);
      expect(back.body).toMatchObject({ archived: false, pin_order: 1 });
      await watch.waitFor((e) => e.event === 'pin_change' && e.data.chat.id === ids.y && e.data.chat.pin_order === 2);
      watch.close();
      expect(watch.events.map((e) => `${e.event}:${e.data.chat.id === ids.x ? 'x' : 'y'}`).sort()).toEqual(
        ['created:x', 'pin_change:x', 'pin_change:y'].sort(),
      );
    });

    it('serialises concurrent pins of one owner into distinct positions', async () => {
      const user = await createTestUser(app);
      const names = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'];
      const ids = await seedChats(user, names);
      const results = await Promise.all(names.map((name) => pin(user, ids[name]!, 1)));
      expect(results.every((r) => r.pin_order === 1)).toBe(true);
      const { rows } = await sql<{ pin_order: number }>`
        select pin_order from chats where owner_id = ${user.id} order by pin_order`.execute(app.deps.db);
      expect(rows.map((r) => r.pin_order)).toEqual([1, 2, 3, 4, 5, 6]);
    });
  });
});
