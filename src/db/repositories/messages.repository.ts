/**
 * Chat messages and queued messages. Step writes are idempotent through (chat_id, step_key): a
 * retried activity gets back the rows of its first attempt instead of inserting twice.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChatMessageRow, ChatQueuedMessageRow, Database, NewChatMessageRow } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** Inserts in array order (ids ascend in that order); rows whose step_key exists are returned as stored. */
export async function insertMessages(db: Db, rows: NewChatMessageRow[]): Promise<ChatMessageRow[]> {
  if (rows.length === 0) return [];
  const inserted = await db
    .insertInto('chat_messages')
    .values(rows)
    .onConflict((oc) => oc.columns(['chat_id', 'step_key']).where('step_key', 'is not', null).doNothing())
    .returningAll()
    .execute();
  if (inserted.length === rows.length) return inserted;
  const keys = rows.map((r) => r.step_key).filter((k): k is string => typeof k === 'string');
  const chatId = rows[0]!.chat_id;
  return db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where((eb) =>
      eb.or([eb('step_key', 'in', keys), eb('id', 'in', inserted.length ? inserted.map((r) => r.id) : [-1])]),
    )
    .orderBy('id')
    .execute();
}

/** User-visible, live messages after `afterId` (the stream catch-up), oldest first. */
export async function listVisibleMessagesAfter(db: Db, chatId: string, afterId: number): Promise<ChatMessageRow[]> {
  return db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('id', '>', afterId)
    .where('deleted', '=', false)
    .where('visibility', 'in', ['user', 'both'])
    .orderBy('id')
    .execute();
}

/** A page of user-visible messages before `beforeId`, newest first; one extra row tells has_more. */
export async function listVisibleMessagesPage(
  db: Db,
  chatId: string,
  opts: { beforeId?: number; limit: number },
): Promise<{ rows: ChatMessageRow[]; hasMore: boolean }> {
  let q = db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('deleted', '=', false)
    .where('visibility', 'in', ['user', 'both']);
  if (opts.beforeId !== undefined) q = q.where('id', '<', opts.beforeId);
  const rows = await q
    .orderBy('id', 'desc')
    .limit(opts.limit + 1)
    .execute();
  return { rows: rows.slice(0, opts.limit), hasMore: rows.length > opts.limit };
}

/**
 * The model's view (reference §3.12): live messages visible to the model; once compacted, the
 * uncompressed system messages, the newest compressed summary and everything after it.
 */
export async function listPromptMessages(db: Db, chatId: string): Promise<ChatMessageRow[]> {
  return db
    .selectFrom('chat_messages as m')
    .selectAll()
    .where('m.chat_id', '=', chatId)
    .where('m.deleted', '=', false)
    .where('m.visibility', 'in', ['model', 'both'])
    .where((eb) =>
      eb.or([
        eb.and([eb('m.role', '=', 'system'), eb('m.compressed', '=', false)]),
        eb(
          'm.id',
          '>=',
          sql<number>`coalesce((select max(s.id) from chat_messages s where s.chat_id = ${chatId}
            and s.compressed and s.visibility = 'model' and not s.deleted), 0)`,
        ),
      ]),
    )
    .orderBy('m.id')
    .execute();
}

export async function listQueuedMessages(db: Db, chatId: string): Promise<ChatQueuedMessageRow[]> {
  return db.selectFrom('chat_queued_messages').selectAll().where('chat_id', '=', chatId).orderBy('id').execute();
}

/** Removes and returns the oldest queued message (caller holds the chat lock). */
export async function popQueuedMessage(
  trx: Transaction<Database>,
  chatId: string,
): Promise<ChatQueuedMessageRow | undefined> {
  const next = await trx
    .selectFrom('chat_queued_messages')
    .select('id')
    .where('chat_id', '=', chatId)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  if (!next) return undefined;
  return trx.deleteFrom('chat_queued_messages').where('id', '=', next.id).returningAll().executeTakeFirst();
}
