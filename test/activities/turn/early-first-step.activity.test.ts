/**
 * Early first steps (src/turn/early-first-step.ts) on a real PostgreSQL with the fake provider over HTTP,
 * and the runModelStep activity that takes them over: the provider is asked before any activity runs,
 * and the activity then stores that answer without asking again, in the statements of an ordinary first
 * step; an interrupt before the takeover keeps what was streamed; a step nobody takes over in time is
 * stopped, and its late activity tells clients to drop its output before asking again; a step of a
 * turn that moved on opens nothing.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps } from '../../../activities';
import type { Database } from '../../../src/db/database';
import { insertMessages } from '../../../src/db/repositories/messages.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { hang, text } from '../../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../../src/dev/fake-llm/server';
import { messageRow } from '../../../src/messages/rows';
import { SecretBox } from '../../../src/security/secrets';
import type { StreamEvent } from '../../../src/stream/events';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import { EarlyFirstSteps } from '../../../src/turn/early-first-step';
import { createTestDatabase, insertFakeModelConfig, recordingDb, type TestDatabase } from '../../support/db';
import { waitUntil } from '../../support/wait';
import type { Kysely } from 'kysely';
import { testActivityDeps } from '../../support/activity-deps';

describe('early first steps', () => {
  let database: TestDatabase;
  let counted: Kysely<Database>;
  let statements: string[] = [];
  let fake: FakeLlmServer;
  let modelConfigId: string;
  let ownerId: string;
  let bus: MemoryStreamBus;
  let deps: ActivityDeps;
  const secrets = new SecretBox(SecretBox.generateKeyEntry('t'));

  beforeAll(async () => {
    database = await createTestDatabase();
    counted = recordingDb(database, 4, (sql) => statements.push(sql));
    fake = await FakeLlmServer.start();
    bus = new MemoryStreamBus();
    ownerId = (await insertUser(database.db, { username: 'early', role: 'member' })).id;
    modelConfigId = await insertFakeModelConfig(database.db, secrets, fake.openaiBaseUrl);
    deps = testActivityDeps(counted, bus, secrets);
  });

  afterAll(async () => {
    await fake?.close();
    await counted?.destroy();
    await database?.drop();
  });

  beforeEach(() => fake.reset());

  /** A pending chat whose turn `turn` has its user message committed, as the API leaves it. */
  async function pendingChat(turn = 1): Promise<string> {
    const chat = await database.db
      .insertInto('chats')
      .values({ owner_id: ownerId, last_model_config_id: modelConfigId, labels: '{}', status: 'pending', turn })
      .returning('id')
      .executeTakeFirstOrThrow();
    await insertMessages(database.db, [
      messageRow({ chatId: chat.id, turn, role: 'user', content: [{ type: 'text', text: 'hi' }], createdBy: ownerId }),
    ]);
    return chat.id;
  }

  const assistantTexts = async (chatId: string): Promise<string[]> =>
    (
      await database.db
        .selectFrom('chat_messages')
        .select('content')
        .where('chat_id', '=', chatId)
        .where('role', '=', 'assistant')
        .execute()
    ).map((r) => JSON.stringify(r.content));

  function collect(chatId: string): StreamEvent[] {
    const events: StreamEvent[] = [];
    bus.subscribe(chatId, (e) => events.push(e));
    return events;
  }

  const runStep = (early: EarlyFirstSteps, chatId: string, turn = 1, extra: { restart?: boolean } = {}) =>
    new MockActivityEnvironment({ attempt: 1 }).run(createActivities({ ...deps, earlySteps: early }).runModelStep, {
      chatId,
      turn,
      step: 0,
      finish: true,
      ...extra,
    });

  it('asks the provider before any activity runs; the activity stores that answer, as an ordinary step would', async () => {
    const early = new EarlyFirstSteps(deps, 5_000);
    // A first turn fills the process's config caches, as on a worker that has run before.
    const warm = await pendingChat();
    fake.enqueue(text('Warm.'), text('Early answer.'));
    early.begin(warm, 1);
    await runStep(early, warm);
    const chatId = await pendingChat();
    statements = [];
    early.begin(chatId, 1);
    await fake.waitForRequests(2);
    const summary = await runStep(early, chatId);
    expect(summary).toMatchObject({ status: 'ok', finished: { status: 'waiting' } });
    expect(fake.requests).toHaveLength(2);
    expect(await assistantTexts(chatId)).toEqual([expect.stringContaining('Early answer.')]);
    // The step's opening statement, then its message and the turn's end in one transaction.
    expect(statements.filter((s) => !/^(begin|commit)/i.test(s))).toHaveLength(3);
    early.close();
  });

  it('keeps what was streamed when the turn is interrupted before the activity takes over', async () => {
    const early = new EarlyFirstSteps(deps, 5_000);
    const chatId = await pendingChat();
    const events = collect(chatId);
    fake.enqueue(hang({ afterText: 'Half an answer' }));
    early.begin(chatId, 1);
    await waitUntil(() => events.some((e) => e.type === 'message_part'));
    bus.sendControl(chatId, { type: 'interrupt', turn: 1 });
    await waitUntil(async () => (await assistantTexts(chatId)).length === 1);
    expect(await assistantTexts(chatId)).toEqual([expect.stringContaining('Half an answer')]);
    // An activity that still comes (its cancellation raced the start) reports the interrupt and stores nothing new.
    expect(await runStep(early, chatId)).toEqual({ status: 'interrupted' });
    expect(await assistantTexts(chatId)).toHaveLength(1);
    expect(fake.requests).toHaveLength(1);
    early.close();
  });

  it('stops a step nobody takes over in time; its late activity has clients drop that output, then asks again', async () => {
    const early = new EarlyFirstSteps(deps, 300);
    const chatId = await pendingChat();
    const events = collect(chatId);
    fake.enqueue(hang({ afterText: 'Never finished' }), text('The real answer.'));
    early.begin(chatId, 1);
    await waitUntil(() => events.some((e) => e.type === 'message_part'));
    await waitUntil(() => early.wasAbandoned({ chatId, turn: 1, step: 0 }));
    const partsBefore = events.length;
    expect(await runStep(early, chatId)).toMatchObject({ status: 'ok', finished: { status: 'waiting' } });
    const after = events.slice(partsBefore).map((e) => e.type);
    expect(after[0]).toBe('retry');
    expect(after).toContain('message_part');
    expect(fake.requests).toHaveLength(2);
    expect(await assistantTexts(chatId)).toEqual([expect.stringContaining('The real answer.')]);
    early.close();
  });

  it('runs a restarted step (its early step ran in a process that stopped) after a retry event', async () => {
    const early = new EarlyFirstSteps(deps, 5_000);
    const chatId = await pendingChat();
    const events = collect(chatId);
    fake.enqueue(text('Answer.'));
    expect(await runStep(early, chatId, 1, { restart: true })).toMatchObject({ status: 'ok' });
    expect(events[0]?.type).toBe('retry');
    early.close();
  });

  it('runs a step that was never begun as any step, with no retry event', async () => {
    const early = new EarlyFirstSteps(deps, 5_000);
    const chatId = await pendingChat();
    const events = collect(chatId);
    fake.enqueue(text('Plain.'));
    expect(await runStep(early, chatId)).toMatchObject({ status: 'ok' });
    expect(events.map((e) => e.type)).not.toContain('retry');
    early.close();
  });

  it('opens nothing for a turn that moved on, and never calls the provider', async () => {
    const early = new EarlyFirstSteps(deps, 5_000);
    const chatId = await pendingChat(2);
    early.begin(chatId, 1);
    expect(await runStep(early, chatId, 1)).toEqual({ status: 'fenced' });
    expect(fake.requests).toHaveLength(0);
    early.close();
  });
});
