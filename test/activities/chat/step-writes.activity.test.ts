/**
 * The one-statement step writes on real PostgreSQL: insertMessagesIfCurrentTurn stores a batch in
 * order only while the turn is current (touching the chat, as the fence always did), hands a retried
 * step the rows of its first attempt, and stores nothing for a superseded turn; and the config
 * generation moves with every write to the config tables, in the writing transaction.
 */
import { messageRow, toolResultRow } from '../../../src/messages/rows';
import { insertMessagesIfCurrentTurn } from '../../../src/db/repositories/messages.repository';
import { putSiteConfig, putUserConfig } from '../../../src/db/repositories/configs.repository';
import { findChatWithConfigGeneration } from '../../../src/db/repositories/steps.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';

describe('one-statement step writes', () => {
  let database: TestDatabase;
  let ownerId: string;
  let modelConfigId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    ownerId = (await insertUser(database.db, { username: 'writer', role: 'member' })).id;
    modelConfigId = (await insertUnusedModelConfig(database.db)).id;
  });

  afterAll(async () => {
    await database?.drop();
  });

  async function chatAtTurn(turn: number): Promise<string> {
    const chat = await database.db
      .insertInto('chats')
      .values({ owner_id: ownerId, last_model_config_id: modelConfigId, labels: '{}', status: 'running', turn })
      .returning('id')
      .executeTakeFirstOrThrow();
    return chat.id;
  }

  const stored = (chatId: string) =>
    database.db.selectFrom('chat_messages').selectAll().where('chat_id', '=', chatId).orderBy('id').execute();
  const updatedAt = async (chatId: string) =>
    (await database.db.selectFrom('chats').select('updated_at').where('id', '=', chatId).executeTakeFirstOrThrow())
      .updated_at;

  const results = (chatId: string, turn: number) =>
    ['call-b', 'call-a', 'call-c'].map((id, i) =>
      toolResultRow(
        { chatId, turn, step: 0 },
        { id, name: 'execute', result: { output: `out ${i} \u0000 ünïcode` }, isError: i === 1 },
      ),
    );

  it('stores a batch in order under the current turn and touches the chat', async () => {
    const chatId = await chatAtTurn(3);
    const before = await updatedAt(chatId);
    const rows = await insertMessagesIfCurrentTurn(database.db, chatId, 3, results(chatId, 3));
    expect(rows?.map((r) => r.step_key)).toEqual(['t3.s0.tool.call-b', 't3.s0.tool.call-a', 't3.s0.tool.call-c']);
    expect(rows?.map((r) => r.id)).toEqual([...rows!.map((r) => r.id)].sort((a, b) => a - b));
    // Each row names the chat's message before it (none before the first): the stream sends them unread.
    const ids = rows!.map((r) => r.id);
    expect(rows?.map((r) => r.prev_message_id)).toEqual([null, ids[0], ids[1]]);
    // What the statement returned is what is stored, defaults included.
    expect(rows?.map(({ prev_message_id: _prev, ...row }) => row)).toEqual(await stored(chatId));
    expect(rows?.[0]).toMatchObject({ role: 'tool', visibility: 'both', compressed: false, deleted: false, turn: 3 });
    expect(rows?.[0]!.content).toEqual(JSON.parse(results(chatId, 3)[0]!.content as string));
    expect((await updatedAt(chatId)).getTime()).toBeGreaterThan(before.getTime());
  });

  it('gives a retried step the rows of its first attempt', async () => {
    const chatId = await chatAtTurn(1);
    const first = await insertMessagesIfCurrentTurn(database.db, chatId, 1, results(chatId, 1));
    const again = await insertMessagesIfCurrentTurn(database.db, chatId, 1, results(chatId, 1));
    // As stored, without the order of an insert (nothing was inserted: the stream reads instead).
    expect(again).toEqual(first!.map(({ prev_message_id: _prev, ...row }) => row));
    expect(await stored(chatId)).toHaveLength(3);
  });

  it('stores nothing and reports null for a superseded turn, also for an empty batch', async () => {
    const chatId = await chatAtTurn(2);
    const before = await updatedAt(chatId);
    expect(await insertMessagesIfCurrentTurn(database.db, chatId, 1, results(chatId, 1))).toBeNull();
    expect(await insertMessagesIfCurrentTurn(database.db, chatId, 1, [])).toBeNull();
    expect(await stored(chatId)).toEqual([]);
    expect(await updatedAt(chatId)).toEqual(before);
    expect(await insertMessagesIfCurrentTurn(database.db, chatId, 2, [])).toEqual([]);
  });

  it('keeps the columns each row sets, and refuses a batch whose rows set different ones', async () => {
    const chatId = await chatAtTurn(1);
    const summary = (visibility?: 'model') =>
      messageRow({
        chatId,
        turn: 1,
        role: 'user',
        content: [{ type: 'text', text: 's' }],
        visibility,
        compressed: true,
      });
    const [row] = (await insertMessagesIfCurrentTurn(database.db, chatId, 1, [summary('model')]))!;
    expect(row).toMatchObject({ visibility: 'model', compressed: true });
    await expect(insertMessagesIfCurrentTurn(database.db, chatId, 1, [summary('model'), summary()])).rejects.toThrow(
      /same columns/,
    );
  });

  it('moves the config generation with each config write, in the writing transaction', async () => {
    const chatId = await chatAtTurn(1);
    const generation = async () => (await findChatWithConfigGeneration(database.db, chatId))!.configGeneration;
    const seen = [await generation()];
    const moves = async (write: () => Promise<unknown>) => {
      await write();
      seen.push(await generation());
      expect(seen[seen.length - 1]).toBeGreaterThan(seen[seen.length - 2]!);
    };
    await moves(() => putSiteConfig(database.db, 'chat_system_prompt', 'p'));
    await moves(() => putUserConfig(database.db, ownerId, 'chat_user_prompt', 'u'));
    await moves(() => database.db.updateTable('chat_providers').set({ base_url: 'http://127.0.0.1:10' }).execute());
    await moves(() => database.db.updateTable('chat_model_configs').set({ context_limit: 2000 }).execute());
    await moves(() => database.db.deleteFrom('user_configs').where('user_id', '=', ownerId).execute());
    await database.db
      .transaction()
      .execute(async (trx) => {
        await putSiteConfig(trx, 'chat_system_prompt', 'rolled back');
        throw new Error('abort');
      })
      .catch(() => undefined);
    expect(await generation()).toBe(seen[seen.length - 1]);
  });
});
