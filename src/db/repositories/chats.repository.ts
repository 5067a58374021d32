/**
 * Chat rows. Every mutation of a chat's status runs in a transaction holding the row lock
 * (`lockChat`), which is what serialises the API, the worker and the queue promoter.
 */
import {
  sql,
  type Kysely,
  type QueryCreator,
  type Transaction,
  type UpdateQueryBuilder,
  type UpdateResult,
} from 'kysely';
import { BUSY_STATUSES, type ChatStatus } from '../../messages/chat-status';
import type { ChatRow, ChatRowUpdate, Database, NewChatRow } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

export async function insertChat(db: Db, row: NewChatRow): Promise<ChatRow> {
  return db.insertInto('chats').values(row).returningAll().executeTakeFirstOrThrow();
}

/** The chat if `ownerId` owns it; other users' chats are indistinguishable from missing ones. */
export async function findChatForOwner(db: Db, id: string, ownerId: string): Promise<ChatRow | undefined> {
  return db.selectFrom('chats').selectAll().where('id', '=', id).where('owner_id', '=', ownerId).executeTakeFirst();
}

export async function findChat(db: Db, id: string): Promise<ChatRow | undefined> {
  return db.selectFrom('chats').selectAll().where('id', '=', id).executeTakeFirst();
}

/** SELECT … FOR UPDATE: holds the chat's row lock until the transaction ends. */
export async function lockChat(trx: Transaction<Database>, id: string): Promise<ChatRow | undefined> {
  return trx.selectFrom('chats').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** lockChat, plus how many messages wait in the chat's queue (one statement instead of two). */
export async function lockChatCountingQueue(
  trx: Transaction<Database>,
  id: string,
): Promise<{ chat: ChatRow; queued: number } | undefined> {
  const row = await trx
    .selectFrom('chats')
    .selectAll('chats')
    .select((eb) =>
      eb
        .selectFrom('chat_queued_messages')
        .select(eb.fn.countAll<string>().as('n'))
        .whereRef('chat_queued_messages.chat_id', '=', 'chats.id')
        .as('queued'),
    )
    .where('chats.id', '=', id)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return undefined;
  const { queued, ...chat } = row;
  return { chat, queued: Number(queued ?? 0) };
}

export async function updateChat(db: Db, id: string, patch: ChatRowUpdate): Promise<ChatRow> {
  return db
    .updateTable('chats')
    .set({ ...patch, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The UPDATE that moves a chat into `running` for `turn`, unless the turn was superseded (edit) or
 * stopped before it began (interrupt, archive): a row that cannot start keeps its values (check the
 * returned row with isRunningTurn). It waits for a transaction that is still committing the turn's
 * user message, so a turn never starts ahead of its own input: the row is selected by id and by a
 * turn not yet past `turn`, a condition the last committed version meets whenever the pending one
 * does (turns only grow), so the UPDATE queues for the row lock and then decides on the newest
 * version. Filtering on `turn = $turn` would test the last committed version and skip the row at once.
 */
export function markTurnRunningQuery(
  db: QueryCreator<Database>,
  id: string,
  turn: number,
): UpdateQueryBuilder<Database, 'chats', 'chats', UpdateResult> {
  const starts = sql<boolean>`turn = ${turn} and status in ('pending', 'running')`;
  return db
    .updateTable('chats')
    .set({
      status: sql<ChatStatus>`case when ${starts} then 'running'::chat_status else status end`,
      updated_at: sql<Date>`case when ${starts} then now() else updated_at end`,
    })
    .where('id', '=', id)
    .where('turn', '<=', turn);
}

/** Whether the row markTurnRunningQuery returned runs `turn`. */
export const isRunningTurn = (chat: Pick<ChatRow, 'turn' | 'status'>, turn: number): boolean =>
  chat.turn === turn && chat.status === 'running';

/**
 * Ends the chat's current turn (caller holds the row lock, so the queue read here is current): pops
 * the oldest queued message and moves the chat to the next turn (`pending`) if there was one, to
 * `waiting` otherwise, clearing the last error. One statement; returns the chat and the popped
 * message's content, which the caller inserts as the next turn's user message.
 */
export async function endTurnPromotingQueued(
  trx: Transaction<Database>,
  id: string,
): Promise<{ chat: ChatRow; promotedContent: unknown[] | null }> {
  const { promoted_content, ...chat } = await trx
    .with('popped', (db) =>
      db
        .deleteFrom('chat_queued_messages')
        .where('id', '=', (eb) =>
          eb.selectFrom('chat_queued_messages').select('id').where('chat_id', '=', id).orderBy('id').limit(1),
        )
        .returning(['content', 'model_config_id']),
    )
    .updateTable('chats')
    .set({
      status: sql<ChatStatus>`case when exists (select from popped) then 'pending'::chat_status else 'waiting' end`,
      turn: sql<number>`turn + (select count(*) from popped)::int`,
      // The promoted message runs on the model it was sent with, if it named one.
      last_model_config_id: sql<string>`coalesce((select model_config_id from popped), last_model_config_id)`,
      last_error: null,
      last_error_kind: null,
      updated_at: sql<Date>`now()`,
    })
    .where('id', '=', id)
    .returningAll()
    .returning((eb) => eb.selectFrom('popped').select('content').as('promoted_content'))
    .executeTakeFirstOrThrow();
  return { chat, promotedContent: promoted_content ?? null };
}

/** Touches the chat if `turn` is still its current turn (the persist fence); false when fenced. */
export async function touchIfCurrentTurn(db: Db, id: string, turn: number): Promise<boolean> {
  return (await touchIfCurrentTurnQuery(db, id, turn).executeTakeFirst()) !== undefined;
}

/** The UPDATE of touchIfCurrentTurn (returning the id when the turn is current), to embed in a larger statement. */
export function touchIfCurrentTurnQuery(
  db: Db,
  id: string,
  turn: number,
): UpdateQueryBuilder<Database, 'chats', 'chats', { id: string }> {
  return db
    .updateTable('chats')
    .set({ updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('turn', '=', turn)
    .returning('id');
}

/**
 * Keyset position in a chat listing: `updated_at` with its full microsecond precision (an ISO
 * string in UTC, so a JavaScript Date never rounds it) and the id that breaks ties.
 */
export interface ChatListKey {
  updatedAt: string;
  id: string;
}

/** The filters and page of a chat listing; all of them are applied in SQL, so pages are never short. */
export interface ChatListQuery {
  archived: boolean;
  /** Every pair must be present in the chat's labels (jsonb containment). */
  labels: Record<string, string>;
  /** Rows strictly after this key in (updated_at, id) DESC order. */
  after?: ChatListKey;
  limit: number;
}

const listKeyTs = sql<string>`to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * One page of the owner's chats, newest activity first, and the key of its last row when more
 * rows follow (null on the last page).
 */
export async function listChatsPage(
  db: Db,
  ownerId: string,
  query: ChatListQuery,
): Promise<{ rows: ChatRow[]; next: ChatListKey | null }> {
  let q = db
    .selectFrom('chats')
    .selectAll()
    .select(listKeyTs.as('list_key_ts'))
    .where('owner_id', '=', ownerId)
    .where('archived', '=', query.archived);
  if (Object.keys(query.labels).length > 0) {
    q = q.where(sql<boolean>`labels @> ${JSON.stringify(query.labels)}::jsonb`);
  }
  if (query.after) {
    q = q.where(sql<boolean>`(updated_at, id) < (${query.after.updatedAt}::timestamptz, ${query.after.id}::uuid)`);
  }
  const rows = await q
    .orderBy('updated_at', 'desc')
    .orderBy('id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const next = rows.length > query.limit && last ? { updatedAt: last.list_key_ts, id: last.id } : null;
  return { rows: page.map(({ list_key_ts: _key, ...row }) => row), next };
}

/** The listing key of one of the owner's chats (the `after_id` form of the cursor). */
export async function findChatListKey(db: Db, ownerId: string, chatId: string): Promise<ChatListKey | undefined> {
  const row = await db
    .selectFrom('chats')
    .select(['id', listKeyTs.as('list_key_ts')])
    .where('id', '=', chatId)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
  return row ? { updatedAt: row.list_key_ts, id: row.id } : undefined;
}

/**
 * Sets `archived` on a chat and its sub-agent chats (`root_chat_id = rootId`); archiving also unpins.
 * Returns the rows that changed. The caller holds the root's row lock; the UPDATE locks the rest.
 */
export async function setChatTreeArchived(
  trx: Transaction<Database>,
  rootId: string,
  archived: boolean,
): Promise<ChatRow[]> {
  return trx
    .updateTable('chats')
    .set({ archived, ...(archived ? { pin_order: 0 } : {}), updated_at: sql<Date>`now()` })
    .where((eb) => eb.or([eb('id', '=', rootId), eb('root_chat_id', '=', rootId)]))
    .where('archived', '!=', archived)
    .returningAll()
    .execute();
}

/**
 * Moves every busy chat of a tree (`pending`, `running`, `requires_action`) to `waiting`, as an
 * interrupt does, and returns them with the turn each one was running. Caller holds the root's lock.
 */
export async function stopChatTree(trx: Transaction<Database>, rootId: string): Promise<ChatRow[]> {
  // Lock the tree by ids first: filtering the UPDATE on status alone would test the last committed
  // version and skip a row another transaction is moving into a turn right now.
  await trx
    .selectFrom('chats')
    .select('id')
    .where((eb) => eb.or([eb('id', '=', rootId), eb('root_chat_id', '=', rootId)]))
    .orderBy('id')
    .forUpdate()
    .execute();
  return trx
    .updateTable('chats')
    .set({ status: 'waiting', updated_at: sql<Date>`now()` })
    .where((eb) => eb.or([eb('id', '=', rootId), eb('root_chat_id', '=', rootId)]))
    .where('status', 'in', BUSY_STATUSES)
    .returningAll()
    .execute();
}

/** Deletes a chat with its messages and queue (cascade): undoing a creation whose turn could not start. */
export async function deleteChat(db: Db, id: string): Promise<void> {
  await db.deleteFrom('chats').where('id', '=', id).execute();
}
