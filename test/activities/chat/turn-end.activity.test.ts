/**
 * The one-statement end of a turn on real PostgreSQL (endTurnIfNothingQueued): it ends a turn with
 * nothing queued, gives back the running-turn slot and names the owner's next waiting turn; it leaves
 * every other case to the locked path (undefined), also a message queued by a transaction that held
 * the chat's row lock while the statement waited for it (its snapshot could not see that message).
 */
import { sql } from 'kysely';
import { endTurnIfNothingQueued } from '../../../src/db/repositories/chats.repository';
import { insertMessages, insertQueuedMessage } from '../../../src/db/repositories/messages.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { messageRow } from '../../../src/messages/rows';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';

describe('endTurnIfNothingQueued', () => {
  let database: TestDatabase;
  let modelConfigId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    modelConfigId = (await insertUnusedModelConfig(database.db)).id;
  });

  afterAll(async () => {
    await database?.drop();
  });

  async function owner(name: string, runningTurns = 0): Promise<string> {
    const { id } = await insertUser(database.db, { username: name, role: 'member' });
    await database.db.updateTable('users').set({ running_turns: runningTurns }).where('id', '=', id).execute();
    return id;
  }

  async function runningChat(ownerId: string, turn: number, extra: Record<string, unknown> = {}): Promise<string> {
    const chat = await database.db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        last_model_config_id: modelConfigId,
        labels: '{}',
        status: 'running',
        turn,
        last_error: 'stale',
        ...extra,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return chat.id;
  }

  const chatRow = (id: string) =>
    database.db.selectFrom('chats').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const runningTurns = async (id: string) =>
    (await database.db.selectFrom('users').select('running_turns').where('id', '=', id).executeTakeFirstOrThrow())
      .running_turns;

  it('ends the current turn: waiting, no error, the unread answer flagged', async () => {
    const ownerId = await owner('plain');
    const chatId = await runningChat(ownerId, 2);
    await insertMessages(database.db, [
      messageRow({ chatId, turn: 2, role: 'assistant', content: '[]', modelConfigId, createdBy: null }),
    ]);
    const ended = await endTurnIfNothingQueued(database.db, chatId, 2);
    expect(ended).toMatchObject({ id: chatId, status: 'waiting', turn: 2, last_error: null, has_unread: true });
    expect(ended!.next_waiting_chat_id).toBeNull();
    expect((await chatRow(chatId)).status).toBe('waiting');
  });

  it('leaves a superseded turn, an archived chat and a chat with a queue to the locked path', async () => {
    const ownerId = await owner('declines');
    const superseded = await runningChat(ownerId, 3);
    const archived = await runningChat(ownerId, 1, { archived: true });
    const queued = await runningChat(ownerId, 1);
    await database.db
      .transaction()
      .execute((trx) => insertQueuedMessage(trx, { chat_id: queued, content: '[]', created_by: ownerId }));
    expect(await endTurnIfNothingQueued(database.db, superseded, 2)).toBeUndefined();
    expect(await endTurnIfNothingQueued(database.db, archived, 1)).toBeUndefined();
    expect(await endTurnIfNothingQueued(database.db, queued, 1)).toBeUndefined();
    for (const id of [superseded, archived, queued]) expect((await chatRow(id)).status).toBe('running');
  });

  it('declines when a message was queued while it waited for the row lock', async () => {
    const ownerId = await owner('racer');
    const chatId = await runningChat(ownerId, 1);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    // A send on the busy chat: it holds the row lock while it queues its message.
    const sending = database.db.transaction().execute(async (trx) => {
      await trx.selectFrom('chats').select('id').where('id', '=', chatId).forUpdate().execute();
      await insertQueuedMessage(trx, { chat_id: chatId, content: '[]', created_by: ownerId });
      locked();
      await held;
    });
    await lockTaken;
    const ending = endTurnIfNothingQueued(database.db, chatId, 1);
    // The end is blocked on the lock (its snapshot predates the queued message); let the send commit.
    await waitForLockWait();
    release();
    await sending;
    expect(await ending).toBeUndefined();
    const row = await chatRow(chatId);
    expect(row.status).toBe('running');
    const queue = await database.db
      .selectFrom('chat_queued_messages')
      .select('id')
      .where('chat_id', '=', chatId)
      .execute();
    expect(queue).toHaveLength(1);
  });

  it('gives back the slot it held and names the owner’s oldest waiting turn', async () => {
    const ownerId = await owner('slots', 1);
    const chatId = await runningChat(ownerId, 1, { holds_turn_slot: true });
    const older = await runningChat(ownerId, 1, {
      status: 'pending',
      awaiting_slot_since: sql<Date>`now() - interval '2 minutes'`,
    });
    await runningChat(ownerId, 1, { status: 'pending', awaiting_slot_since: sql<Date>`now() - interval '1 minute'` });
    const ended = await endTurnIfNothingQueued(database.db, chatId, 1);
    expect(ended).toMatchObject({ status: 'waiting', holds_turn_slot: false, next_waiting_chat_id: older });
    expect(await runningTurns(ownerId)).toBe(0);
  });

  it('does not count a slot back for a chat that held none', async () => {
    const ownerId = await owner('no-slot', 1);
    const chatId = await runningChat(ownerId, 1);
    await endTurnIfNothingQueued(database.db, chatId, 1);
    expect(await runningTurns(ownerId)).toBe(1);
  });

  /** Until a backend waits for a lock (the blocked end), at most 5 s. */
  async function waitForLockWait(): Promise<void> {
    for (let i = 0; i < 500; i++) {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock' and query like '%xmin::text as version%'`.execute(
        database.db,
      );
      if (rows[0]!.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the turn end never waited for the row lock');
  }
});
