/**
 * The race between a turn that is finishing (finishTurn, on the worker) and the API changing the
 * chat (a new message, an edit), driven through the real service functions on PostgreSQL with a
 * recording turn launcher. Both take the chat's row lock first, so every interleaving is one of
 * the two serial orders; each order is tested, and then both run concurrently many times. In all
 * of them the message is never lost and the next turn is started exactly once, by exactly one side.
 */
import { sql } from 'kysely';
import { createLogger } from '../../../src/log';
import { createChat, editMessage, sendMessage, type ChatServiceDeps } from '../../../src/chat/chat.service';
import { messageRow } from '../../../src/messages/rows';
import { lockChat, updateChat } from '../../../src/db/repositories/chats.repository';
import { insertMessages } from '../../../src/db/repositories/messages.repository';
import { startModelStep } from '../../../src/db/repositories/steps.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';
import { type Actor } from '../../../src/security/actor';
import type { TurnLauncher, TurnRequest } from '../../../src/chat/turn-launcher';
import { finishTurn } from '../../../src/turn/finish-turn';
import { type TurnDeps } from '../../../src/turn/deps';

class RecordingLauncher implements TurnLauncher {
  readonly requested: TurnRequest[] = [];
  readonly interrupted: Array<{ chatId: string; turn: number }> = [];

  async requestTurn(request: TurnRequest): Promise<void> {
    this.requested.push(request);
  }

  async interrupt(chatId: string, turn: number): Promise<void> {
    this.interrupted.push({ chatId, turn });
  }

  async notifySubagentFinished(): Promise<void> {}
  async decideToolCall(): Promise<'not_waiting'> {
    return 'not_waiting';
  }

  turnsFor(chatId: string): number[] {
    return this.requested.filter((r) => r.chatId === chatId).map((r) => r.turn);
  }
}

const text = (t: string) => [{ type: 'text' as const, text: t }];

describe('a turn finishing while the API changes the chat', () => {
  let database: TestDatabase;
  let launcher: RecordingLauncher;
  let service: ChatServiceDeps;
  let turnDeps: TurnDeps;
  let actor: Actor;

  beforeAll(async () => {
    database = await createTestDatabase();
    const log = createLogger('silent', 'test');
    const bus = new MemoryStreamBus();
    launcher = new RecordingLauncher();
    service = { db: database.db, bus, turns: launcher, log };
    // finishTurn needs only the database and the bus.
    turnDeps = { db: database.db, bus, log, maxSteps: 1 } as unknown as TurnDeps;
    const user = await insertUser(database.db, { username: 'racer', role: 'member' });
    actor = { id: user.id, role: 'member' };
    await insertUnusedModelConfig(database.db);
  });

  afterAll(async () => {
    await database?.drop();
  });

  /** A chat whose first turn is running, as the worker's first step leaves it. */
  async function runningChat(): Promise<string> {
    const chat = await createChat(service, actor, { content: text('first') });
    await database.db.updateTable('chats').set({ status: 'running' }).where('id', '=', chat.id).execute();
    return chat.id;
  }

  async function state(chatId: string) {
    const chat = await database.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow();
    const messages = await database.db
      .selectFrom('chat_messages')
      .select(['content', 'deleted', 'turn'])
      .where('chat_id', '=', chatId)
      // The model-only workspace note written at creation is not part of these races.
      .where('role', '!=', 'system')
      .orderBy('id')
      .execute();
    const queued = await database.db
      .selectFrom('chat_queued_messages')
      .select('id')
      .where('chat_id', '=', chatId)
      .execute();
    return {
      status: chat.status,
      turn: chat.turn,
      live: messages.filter((m) => !m.deleted).map((m) => (m.content as Array<{ text: string }>)[0]!.text),
      queued: queued.length,
    };
  }

  /** Resolves once some session waits for a row lock in the test database. */
  async function waitForLockWaiter(): Promise<void> {
    for (;;) {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`.execute(database.db);
      if (rows[0]!.n > 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const finish = (chatId: string, turn = 1) =>
    finishTurn(turnDeps, { chatId, turn, outcome: 'completed', error: null });

  it('a message sent while the turn runs is queued, and the finish promotes it into turn 2', async () => {
    const chatId = await runningChat();
    const sent = await sendMessage(service, actor, chatId, { content: text('second'), busy_behavior: 'queue' });
    const finished = await finish(chatId);
    expect(sent.queued).toBe(true);
    expect(finished.nextTurn).toBe(2);
    expect(launcher.turnsFor(chatId)).toEqual([1]);
    expect(await state(chatId)).toEqual({ status: 'pending', turn: 2, live: ['first', 'second'], queued: 0 });
  });

  it('a message sent just after the finish starts turn 2 itself', async () => {
    const chatId = await runningChat();
    const finished = await finish(chatId);
    const sent = await sendMessage(service, actor, chatId, { content: text('second'), busy_behavior: 'queue' });
    expect(finished.nextTurn).toBeNull();
    expect(sent.queued).toBe(false);
    expect(launcher.turnsFor(chatId)).toEqual([1, 2]);
    expect(await state(chatId)).toEqual({ status: 'pending', turn: 2, live: ['first', 'second'], queued: 0 });
  });

  it('run concurrently, the two never lose the message nor start turn 2 twice', async () => {
    for (let i = 0; i < 25; i++) {
      const chatId = await runningChat();
      const [sent, finished] = await Promise.all([
        sendMessage(service, actor, chatId, { content: text('second'), busy_behavior: 'queue' }),
        finish(chatId),
      ]);
      const startedBySend = launcher.turnsFor(chatId).includes(2);
      const startedByFinish = finished.nextTurn === 2;
      expect({ startedBySend, startedByFinish, queued: sent.queued }).toEqual(
        sent.queued
          ? { startedBySend: false, startedByFinish: true, queued: true }
          : { startedBySend: true, startedByFinish: false, queued: false },
      );
      expect(await state(chatId)).toEqual({ status: 'pending', turn: 2, live: ['first', 'second'], queued: 0 });
    }
  });

  /**
   * The API requests a turn inside the transaction that commits it, so the turn's first step can
   * run before that commit. It must wait for it, not judge the chat by the last committed version
   * (which still has the previous turn) and give up on a turn that is about to exist; and its prompt
   * must hold the user message that transaction committed.
   */
  it('the first step of a turn requested inside an uncommitted transaction waits for its commit', async () => {
    const chatId = await runningChat();
    await finish(chatId);
    let commit!: () => void;
    let committing!: () => void;
    const locked = new Promise<void>((r) => (committing = r));
    const api = database.db.transaction().execute(async (trx) => {
      const chat = (await lockChat(trx, chatId))!;
      await updateChat(trx, chatId, { status: 'pending', turn: chat.turn + 1 });
      await insertMessages(trx, [
        messageRow({ chatId, turn: chat.turn + 1, role: 'user', content: text('second'), createdBy: actor.id }),
      ]);
      committing();
      await new Promise<void>((r) => (commit = r));
    });
    await locked;
    let settled = false;
    const starting = startModelStep(database.db, chatId, 2).finally(() => (settled = true));
    // Either the step gives up at once (the bug) or it queues for the row lock (wanted).
    await Promise.race([starting, waitForLockWaiter()]);
    expect(settled).toBe(false);
    commit();
    await api;
    const started = await starting;
    expect(started?.chat).toMatchObject({ id: chatId, turn: 2, status: 'running' });
    expect(started?.prompt.map((m) => (m.content as Array<{ text: string }>)[0]!.text)).toEqual([
      expect.stringMatching(/^No workspace is attached/),
      'first',
      'second',
    ]);
  });

  it('the first step of a turn that is already committed reads its prompt in the same statement', async () => {
    const chatId = await runningChat();
    await finish(chatId);
    await sendMessage(service, actor, chatId, { content: text('second'), busy_behavior: 'queue' });
    const started = await startModelStep(database.db, chatId, 2);
    expect(started?.chat).toMatchObject({ id: chatId, turn: 2, status: 'running' });
    expect(started?.prompt.map((m) => (m.content as Array<{ text: string }>)[0]!.text)).toEqual([
      expect.stringMatching(/^No workspace is attached/),
      'first',
      'second',
    ]);
    // A step of a turn that was superseded, or stopped before it began, does not start.
    expect(await startModelStep(database.db, chatId, 1)).toBeUndefined();
    await finish(chatId, 2);
    expect(await startModelStep(database.db, chatId, 2)).toBeUndefined();
    expect(await state(chatId)).toMatchObject({ status: 'waiting', turn: 2 });
  });

  it('a turn finishing after an edit superseded it leaves the new turn alone', async () => {
    const chatId = await runningChat();
    const first = await database.db
      .selectFrom('chat_messages')
      .select('id')
      .where('chat_id', '=', chatId)
      .where('role', '=', 'user')
      .orderBy('id')
      .executeTakeFirstOrThrow();
    await sendMessage(service, actor, chatId, { content: text('queued'), busy_behavior: 'queue' });
    await editMessage(service, actor, chatId, first.id, { content: text('edited') });
    const finished = await finish(chatId, 1);
    // The old turn hands over to the edit's turn; it writes no status and promotes nothing.
    expect(finished.nextTurn).toBe(2);
    expect(launcher.turnsFor(chatId)).toEqual([1, 2]);
    expect(await state(chatId)).toEqual({ status: 'pending', turn: 2, live: ['edited'], queued: 0 });
  });
});
