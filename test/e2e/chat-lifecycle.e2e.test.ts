/**
 * Turns over HTTP and SSE: interrupting (alone and as busy_behavior), editing a message (the
 * truncation, the cleared queue, the superseded turn whose late output must never land), promoting
 * over a running turn, reading history, and the race between a turn that is finishing and a new
 * message. The race is made deterministic with PostgreSQL's own row locks: the test holds the
 * chat row, waits until the turn's write (and then the new message) queue up behind it, and
 * releases them in the order under test. Nothing here depends on timing.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { messageRow } from '../../src/messages/rows';
import { insertMessages } from '../../src/db/repositories/messages.repository';
import { startTestApp, startWorkerFor, textBody, turnRequests, waitForChat, type TestApp } from '../support/app';
import { until } from '../support/wait';
import { hang, text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { isAssistant, isStatus, SseClient, textOf } from '../support/sse';

describe('chat turns', () => {
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

  async function createChat(t: string): Promise<string> {
    const res = await app.request('POST', '/chats', textBody(t));
    expect(res.status).toBe(201);
    return res.body.id;
  }

  const stream = (chatId: string) => SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
  const history = async (chatId: string) =>
    (await app.request('GET', `/chats/${chatId}/messages`)).body.messages.map(
      (m: any) => `${m.role}:${textOf(m)}`,
    ) as string[];

  describe('POST /chats/{id}/interrupt', () => {
    it('with busy_behavior=interrupt queues the message, stops the turn and answers the message next', async () => {
      fake.enqueue(hang({ afterText: 'Thinking about it' }));
      const chatId = await createChat('Long task');
      const events = stream(chatId);
      await events.waitFor((e) => e.event === 'message_part');
      fake.enqueue(text('Sure, switching.'));

      const res = await app.request('POST', `/chats/${chatId}/messages`, {
        ...textBody('Actually, do this instead'),
        busy_behavior: 'interrupt',
      });
      expect(res.body).toMatchObject({ queued: true });
      await events.waitFor(isAssistant('Sure, switching.'));
      await events.waitFor(isStatus('waiting'), 30_000, events.events.findIndex(isAssistant('Sure, switching.')));
      events.close();

      expect(await history(chatId)).toEqual([
        'user:Long task',
        'assistant:Thinking about it',
        'user:Actually, do this instead',
        'assistant:Sure, switching.',
      ]);
      const page = await app.request('GET', `/chats/${chatId}/messages`);
      expect(page.body.queued_messages).toEqual([]);
    });

    it('leaves an idle chat as it is and answers 404 for an unknown chat', async () => {
      fake.enqueue(text('Done.'));
      const chatId = await createChat('Quick one');
      const idle = await waitForChat(app, chatId, (c) => c.status === 'waiting');
      const res = await app.request('POST', `/chats/${chatId}/interrupt`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(idle);
      const missing = await app.request('POST', `/chats/${randomUUID()}/interrupt`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('chat_not_found');
    });
  });

  describe('PATCH /chats/{id}/messages/{messageId}', () => {
    it('truncates from the edited message, clears the queue and supersedes the running turn', async () => {
      fake.enqueue(hang({ afterText: 'An answer to the old question' }));
      const chatId = await createChat('Old question');
      const events = stream(chatId);
      await events.waitFor((e) => e.event === 'message_part');
      await app.request('POST', `/chats/${chatId}/messages`, textBody('queued follow-up'));
      await events.waitFor((e) => e.event === 'queue_update' && e.data.queued_messages.length === 1);
      const original = (await app.request('GET', `/chats/${chatId}/messages`)).body.messages[0];
      const turnBefore = (
        await app.deps.db.selectFrom('chats').select('turn').where('id', '=', chatId).executeTakeFirstOrThrow()
      ).turn;
      fake.enqueue(text('An answer to the new question'));

      const res = await app.request('PATCH', `/chats/${chatId}/messages/${original.id}`, textBody('New question'));
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ role: 'user', chat_id: chatId });
      expect(res.body.id).toBeGreaterThan(original.id);
      expect(textOf(res.body)).toBe('New question');

      // Streaming clients learn of the truncation, then get the replacement and the new turn.
      const truncated = await events.waitFor((e) => e.event === 'history_truncated');
      expect(truncated.data).toEqual({ type: 'history_truncated', chat_id: chatId, from_message_id: original.id });
      const after = events.events.indexOf(truncated);
      await events.waitFor((e) => e.event === 'message' && e.data.message.id === res.body.id, 30_000, after);
      await events.waitFor((e) => e.event === 'queue_update' && e.data.queued_messages.length === 0, 30_000, after);
      await events.waitFor(isAssistant('An answer to the new question'), 30_000, after);
      await events.waitFor(isStatus('waiting'), 30_000, after);
      events.close();
      // Nothing of the superseded turn reached the client after the truncation.
      const late = events.events.slice(after).filter((e) => e.event === 'message_part');
      expect(late.map((e) => e.data.part.text).join('')).toBe('An answer to the new question');

      expect(await history(chatId)).toEqual(['user:New question', 'assistant:An answer to the new question']);
      const rows = await app.deps.db
        .selectFrom('chat_messages')
        .select(['id', 'role', 'deleted', 'content'])
        .where('chat_id', '=', chatId)
        .orderBy('id')
        .execute();
      // The edited message is kept as a soft-deleted row; the superseded turn's partial never landed.
      expect(rows.filter((r) => r.deleted).map((r) => r.id)).toEqual([original.id]);
      expect(JSON.stringify(rows)).not.toContain('An answer to the old question');
      const chat = await app.deps.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow();
      expect(chat.turn).toBeGreaterThan(turnBefore);
      expect(chat.status).toBe('waiting');
      expect((await app.request('GET', `/chats/${chatId}/messages`)).body.queued_messages).toEqual([]);
      // The superseded request was aborted, not left running.
      expect(
        turnRequests(fake).find((r) => r.step?.kind === 'hang' && JSON.stringify(r.body).includes('Old question'))
          ?.aborted,
      ).toBe(true);
    });

    it('soft-deletes the edited message and everything after it, keeping their cost rows', async () => {
      fake.enqueue(text('First answer', { usage: { inputTokens: 10, outputTokens: 5 } }));
      const chatId = await createChat('First question');
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      fake.enqueue(text('Second answer'));
      await app.request('POST', `/chats/${chatId}/messages`, textBody('Second question'));
      await until(async () => ((await history(chatId)).length === 4 ? true : undefined), 'the second answer');
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      const before = (await app.request('GET', `/chats/${chatId}/messages`)).body.messages;

      fake.enqueue(text('Third answer'));
      const edited = await app.request(
        'PATCH',
        `/chats/${chatId}/messages/${before[0].id}`,
        textBody('Better question'),
      );
      expect(edited.status).toBe(200);
      await until(async () => ((await history(chatId)).length === 2 ? true : undefined), 'the new answer');
      expect(await history(chatId)).toEqual(['user:Better question', 'assistant:Third answer']);

      const deleted = await app.deps.db
        .selectFrom('chat_messages')
        .select(['id', 'output_tokens'])
        .where('chat_id', '=', chatId)
        .where('deleted', '=', true)
        .orderBy('id')
        .execute();
      expect(deleted.map((r) => r.id)).toEqual(before.map((m: any) => m.id));
      expect(deleted[1]!.output_tokens).toBe(5);
    });

    it('keeps file-reference parts of the new content', async () => {
      fake.enqueue(text('ok'), text('ok again'));
      const chatId = await createChat('Look at this');
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      const first = (await app.request('GET', `/chats/${chatId}/messages`)).body.messages[0];
      const content = [
        { type: 'text', text: 'Look at this instead:' },
        {
          type: 'file-reference',
          file_name: 'src/a.ts',
          start_line: 3,
          end_line: 4,
          content: 'let a = 1;\nlet b = 2;',
        },
      ];
      const res = await app.request('PATCH', `/chats/${chatId}/messages/${first.id}`, { content });
      expect(res.body.content).toEqual(content);
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      const page = await app.request('GET', `/chats/${chatId}/messages`);
      expect(page.body.messages[0].content).toEqual(content);
    });

    it('refuses to edit an assistant message, an unknown one, or one of another chat', async () => {
      // One chat after the other: two turns at once would race for the scripted answers.
      fake.enqueue(text('An answer'));
      const chatId = await createChat('Question');
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      fake.enqueue(text('Another'));
      const otherId = await createChat('Other question');
      await waitForChat(app, otherId, (c) => c.status === 'waiting');
      const [user, assistant] = (await app.request('GET', `/chats/${chatId}/messages`)).body.messages;

      const onAssistant = await app.request('PATCH', `/chats/${chatId}/messages/${assistant.id}`, textBody('x'));
      expect(onAssistant.status).toBe(400);
      expect(onAssistant.body.error.code).toBe('message_not_editable');
      const unknown = await app.request('PATCH', `/chats/${chatId}/messages/999999999`, textBody('x'));
      expect(unknown.status).toBe(404);
      expect(unknown.body.error).toEqual({ code: 'chat_message_not_found', message: 'Chat message not found.' });
      const elsewhere = await app.request('PATCH', `/chats/${otherId}/messages/${user.id}`, textBody('x'));
      expect(elsewhere.status).toBe(404);
      expect(await history(chatId)).toEqual(['user:Question', 'assistant:An answer']);
    });
  });

  describe('POST /chats/{id}/queue/{queuedId}/promote', () => {
    it('over a running turn, supersedes it and runs the promoted message', async () => {
      fake.enqueue(hang({ afterText: 'Slowly' }));
      const chatId = await createChat('Slow task');
      const events = stream(chatId);
      await events.waitFor((e) => e.event === 'message_part');
      const queued = (await app.request('POST', `/chats/${chatId}/messages`, textBody('Urgent'))).body.queued_message;
      fake.enqueue(text('On it'));
      const res = await app.request('POST', `/chats/${chatId}/queue/${queued.id}/promote`);
      expect(res.status).toBe(200);
      await events.waitFor(isAssistant('On it'));
      await events.waitFor(isStatus('waiting'), 30_000, events.events.findIndex(isAssistant('On it')));
      events.close();
      expect(await history(chatId)).toEqual(['user:Slow task', 'user:Urgent', 'assistant:On it']);
    });
  });

  describe('GET /chats/{id}/messages', () => {
    it('pages newest first with before_id, reports has_more, and hides model-only messages', async () => {
      fake.enqueue(text('a1'), text('a2'), text('a3'));
      const chatId = await createChat('q1');
      for (const q of ['q2', 'q3']) {
        await waitForChat(app, chatId, (c) => c.status === 'waiting');
        await app.request('POST', `/chats/${chatId}/messages`, textBody(q));
      }
      await until(async () => ((await history(chatId)).length === 6 ? true : undefined), 'three answers');
      const chatRow = await app.deps.db
        .selectFrom('chats')
        .selectAll()
        .where('id', '=', chatId)
        .executeTakeFirstOrThrow();
      // A model-only message (a system prompt, a compaction summary input) is never listed.
      await insertMessages(app.deps.db, [
        messageRow({
          chatId,
          turn: chatRow.turn,
          role: 'system',
          visibility: 'model',
          content: [{ type: 'text', text: 'You are a hidden system prompt.' }],
        }),
      ]);

      const first = await app.request('GET', `/chats/${chatId}/messages?limit=4`);
      expect(first.body.messages.map(textOf)).toEqual(['q2', 'a2', 'q3', 'a3']);
      expect(first.body.has_more).toBe(true);
      const second = await app.request(
        'GET',
        `/chats/${chatId}/messages?limit=4&before_id=${first.body.messages[0].id}`,
      );
      expect(second.body.messages.map(textOf)).toEqual(['q1', 'a1']);
      expect(second.body.has_more).toBe(false);
      const all = await app.request('GET', `/chats/${chatId}/messages`);
      expect(JSON.stringify(all.body)).not.toContain('hidden system prompt');
    });

    it('stores file-reference parts verbatim and in order, and text with NUL bytes intact', async () => {
      fake.enqueue(text('Seen'));
      const content = [
        { type: 'text', text: 'Compare' },
        { type: 'file-reference', file_name: 'a.go', start_line: 7, end_line: 7 },
        { type: 'text', text: 'with' },
        { type: 'file-reference', file_name: 'b.go', start_line: 1, end_line: 3, content: 'func b() {\n}\n' },
        { type: 'text', text: 'and bytes \u0000 \uE000 end' },
      ];
      const res = await app.request('POST', '/chats', { content });
      expect(res.status).toBe(201);
      const page = await app.request('GET', `/chats/${res.body.id}/messages`);
      expect(page.body.messages[0].content).toEqual(content);
    });
  });
});

describe('archiving a chat with a running turn', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });

  afterEach(async () => {
    await app?.stop();
    await fake?.close();
  });

  async function runningChat(): Promise<{ chatId: string; events: SseClient }> {
    fake.enqueue(hang({ afterText: 'Busy with it' }));
    const chatId: string = (await app.request('POST', '/chats', textBody('Long task'))).body.id;
    const events = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await events.waitFor((e) => e.event === 'message_part');
    return { chatId, events };
  }

  it('stops the turn as an interrupt does, keeping the partial answer', async () => {
    const { chatId, events } = await runningChat();
    const res = await app.request('PATCH', `/chats/${chatId}`, { archived: true });
    expect(res.body).toMatchObject({ archived: true, status: 'waiting' });
    await events.waitFor(isAssistant('Busy with it'));
    events.close();
    const result = await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
    expect(result.outcome).toBe('interrupted');
    expect(turnRequests(fake)[0]!.aborted).toBe(true);
    expect((await app.request('GET', `/chats/${chatId}`)).body).toMatchObject({ status: 'waiting', archived: true });
  });

  /** The reference keeps the queue of an archived chat (TestArchiveChatInterruptsActiveProcessing). */
  it('keeps the queued messages and starts no other turn', async () => {
    const { chatId, events } = await runningChat();
    await app.request('POST', `/chats/${chatId}/messages`, textBody('Queued before the archive'));
    fake.enqueue(text('This turn must not run'));
    await app.request('PATCH', `/chats/${chatId}`, { archived: true });
    await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
    events.close();
    const page = await app.request('GET', `/chats/${chatId}/messages`);
    expect(page.body.queued_messages.map(textOf)).toEqual(['Queued before the archive']);
    expect(turnRequests(fake)).toHaveLength(1);
  });
});

describe('a message racing the end of a turn', () => {
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

  /**
   * A transaction of the test's own that takes the chat's row lock (queueing behind any holder,
   * like every other writer) and keeps it until `release()`.
   */
  function holdChatLock(chatId: string): { acquired: Promise<void>; release: () => Promise<void> } {
    let release!: () => void;
    let acquire!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const acquired = new Promise<void>((r) => (acquire = r));
    const done = api.database.db.transaction().execute(async (trx) => {
      await trx.selectFrom('chats').select('id').where('id', '=', chatId).forUpdate().execute();
      acquire();
      await released;
    });
    return {
      acquired: Promise.race([acquired, done.then(() => Promise.reject(new Error('lock transaction ended early')))]),
      release: async () => {
        release();
        await done;
      },
    };
  }

  /** Resolves once `count` sessions wait for a lock with a statement matching `pattern`. */
  async function lockWaiters(pattern: RegExp, count: number, what: string): Promise<void> {
    let last = '';
    await until(
      async () => {
        const { rows } = await sql<{ pid: number; query: string }>`
          select pid, query from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(api.database.db);
        last = JSON.stringify(rows.map((r) => r.query));
        return rows.filter((r) => pattern.test(r.query)).length >= count ? true : undefined;
      },
      what,
      60_000,
      async () => last,
    );
  }

  const persistWrite = /update "chats" set "updated_at" = now\(\) where "id" = \$\d+ and "turn" = \$\d+/;
  const turnStart = /update "chats" set "status" = case when turn = \$\d+/;
  const lockRow = /for update/;

  /**
   * Sets up turn 1 with its step's write blocked behind a lock the test holds: the model has
   * answered, the turn cannot persist or finish until `release` is called.
   */
  async function turnBlockedAtPersist(): Promise<{ chatId: string; release: () => Promise<void> }> {
    const created = await api.request('POST', '/chats', textBody('first'));
    const chatId: string = created.body.id;
    // A renamed chat gets no generated title: no side write competes for the row.
    await api.request('PATCH', `/chats/${chatId}`, { title: 'Race' });
    fake.enqueue(text('answer one'), text('answer two'));

    const beforeStart = holdChatLock(chatId);
    await beforeStart.acquired;
    worker = await startWorkerFor(api, fake);
    await lockWaiters(turnStart, 1, 'the turn to wait to start');
    // Queue up behind the turn's start, so the lock comes back to the test before the step's write.
    const atPersist = holdChatLock(chatId);
    await lockWaiters(lockRow, 1, 'the second lock to queue');
    await beforeStart.release();
    await atPersist.acquired;
    await lockWaiters(persistWrite, 1, 'the step to wait to persist');
    return { chatId, release: atPersist.release };
  }

  async function finalHistory(chatId: string): Promise<string[]> {
    const page = await until(
      async () => {
        const res = await api.request('GET', `/chats/${chatId}/messages`);
        return res.body.messages.length === 4 ? res.body : undefined;
      },
      'both turns',
      60_000,
      async () => {
        const chat = await api.deps.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirst();
        const rows = await api.deps.db
          .selectFrom('chat_messages')
          .select(['id', 'role', 'turn'])
          .where('chat_id', '=', chatId)
          .execute();
        const wf = await api.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).describe();
        return JSON.stringify({
          status: chat?.status,
          turn: chat?.turn,
          rows,
          workflow: { run: wf.runId, status: wf.status.name },
          requests: fake.requests.map((r) => [r.model, r.step?.kind, r.aborted]),
        });
      },
    );
    await waitForChat(api, chatId, (c) => c.status === 'waiting');
    expect(page.queued_messages).toEqual([]);
    return page.messages.map((m: any) => `${m.role}:${textOf(m)}`);
  }

  // The last step's write and the turn's end commit together: a message is either behind them (the chat
  // is idle, it starts the next turn) or ahead of them (the chat runs, it queues and the end promotes it).
  it('a message arriving while the last step writes starts the next turn itself', async () => {
    const { chatId, release } = await turnBlockedAtPersist();
    const sent = api.request('POST', `/chats/${chatId}/messages`, textBody('second'));
    await lockWaiters(lockRow, 1, 'the message to wait behind the write');
    await release();

    expect((await sent).body).toMatchObject({ queued: false });
    expect(await finalHistory(chatId)).toEqual([
      'user:first',
      'assistant:answer one',
      'user:second',
      'assistant:answer two',
    ]);
    expect(turnRequests(fake)).toHaveLength(2);
    fake.assertAllConsumed();
  });

  it('a message queued just before the last step writes is promoted by the turn’s end', async () => {
    const created = await api.request('POST', '/chats', textBody('first'));
    const chatId: string = created.body.id;
    await api.request('PATCH', `/chats/${chatId}`, { title: 'Race' });
    // Slow enough that the test takes the chat's lock while the answer still streams.
    const slow = 'answer one, streamed slowly enough for the test to take the lock';
    fake.enqueue(text(slow, { tokensPerSecond: 4 }), text('answer two'));
    worker = await startWorkerFor(api, fake);
    await waitForChat(api, chatId, (c) => c.status === 'running');
    const held = holdChatLock(chatId);
    await held.acquired;
    const sent = api.request('POST', `/chats/${chatId}/messages`, textBody('second'));
    await lockWaiters(lockRow, 1, 'the message to wait for the lock');
    await lockWaiters(persistWrite, 1, 'the step to wait to write, behind the message');
    await held.release();

    expect((await sent).body).toMatchObject({ queued: true });
    expect(await finalHistory(chatId)).toEqual([
      'user:first',
      `assistant:${slow}`,
      'user:second',
      'assistant:answer two',
    ]);
    expect(turnRequests(fake)).toHaveLength(2);
    fake.assertAllConsumed();
  });
});
