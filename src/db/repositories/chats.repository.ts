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
import { oldestWaiter } from './turn-slots.repository';

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

/** A chat row with its owner's unread flag, as the API shows it. */
export type ChatWithUnread = ChatRow & { has_unread: boolean };

/**
 * Whether the chat (the `chats` row in scope) has a user-visible assistant message newer than its
 * owner's read cursor; a NULL cursor has read nothing. An index range scan on (chat_id, id) from the
 * cursor on, stopping at the first match, so it stays cheap per row of a page.
 */
const hasUnreadSql = sql<boolean>`exists (
  select from chat_messages m
  where m.chat_id = chats.id and m.id > coalesce(chats.last_read_message_id, 0)
    and m.role = 'assistant' and not m.deleted and m.visibility in ('user', 'both'))`;

/** findChatForOwner with the unread flag, in one statement. */
export async function findChatWithUnreadForOwner(
  db: Db,
  id: string,
  ownerId: string,
): Promise<ChatWithUnread | undefined> {
  return db
    .selectFrom('chats')
    .selectAll()
    .select(hasUnreadSql.as('has_unread'))
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
}

/** The unread flag of one chat (false for a chat that does not exist). */
export async function chatHasUnread(db: Db, id: string): Promise<boolean> {
  const row = await db
    .selectFrom('chats')
    .select(hasUnreadSql.as('has_unread'))
    .where('id', '=', id)
    .executeTakeFirst();
  return row?.has_unread ?? false;
}

/** Whether `messageId` is one of the chat's messages (live or deleted by an edit). */
export async function chatHasMessage(db: Db, chatId: string, messageId: number): Promise<boolean> {
  const row = await db
    .selectFrom('chat_messages')
    .select('id')
    .where('id', '=', messageId)
    .where('chat_id', '=', chatId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Moves the owner's read cursor forward to `upTo`, or to the chat's newest message when it is
 * undefined; never backwards. Returns the updated row with its unread flag, or undefined when the
 * cursor did not move (already there or past it, a chat without messages, or not the owner's chat).
 * One statement, so two concurrent calls leave the larger cursor. `updated_at` is untouched: reading
 * is not activity and must not reorder the owner's list.
 */
export async function advanceReadCursor(
  db: Db,
  chatId: string,
  ownerId: string,
  upTo: number | undefined,
): Promise<ChatWithUnread | undefined> {
  const target =
    upTo !== undefined
      ? sql<number>`${upTo}::bigint`
      : sql<number>`(select max(id) from chat_messages where chat_id = ${chatId}::uuid)`;
  return db
    .updateTable('chats')
    .set({ last_read_message_id: target })
    .where('id', '=', chatId)
    .where('owner_id', '=', ownerId)
    .where(sql<boolean>`coalesce(last_read_message_id, 0) < ${target}`)
    .returningAll()
    .returning(hasUnreadSql.as('has_unread'))
    .executeTakeFirst();
}

/** SELECT … FOR UPDATE: holds the chat's row lock until the transaction ends. */
export async function lockChat(trx: Transaction<Database>, id: string): Promise<ChatRow | undefined> {
  return trx.selectFrom('chats').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** lockChat, plus whether the owner has an unread answer in the chat (one statement instead of two). */
export async function lockChatReadingUnread(
  trx: Transaction<Database>,
  id: string,
): Promise<(ChatRow & { has_unread: boolean }) | undefined> {
  return trx
    .selectFrom('chats')
    .selectAll()
    .select(hasUnreadSql.as('has_unread'))
    .where('id', '=', id)
    .forUpdate()
    .executeTakeFirst();
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
  slots: 'off' | 'after admitted' = 'off',
): UpdateQueryBuilder<Database, 'chats', 'chats', UpdateResult> {
  const starts = sql<boolean>`turn = ${turn} and status in ('pending', 'running')`;
  if (slots === 'off') {
    return db
      .updateTable('chats')
      .set({
        status: sql<ChatStatus>`case when ${starts} then 'running'::chat_status else status end`,
        updated_at: sql<Date>`case when ${starts} then now() else updated_at end`,
        // A turn that waited for a slot before the cap was turned off leaves the queue as it starts.
        awaiting_slot_since: sql<Date | null>`case when ${starts} then null else awaiting_slot_since end`,
      })
      .where('id', '=', id)
      .where('turn', '<=', turn);
  }
  // With fair scheduling (a CTE `admitted` took a slot, or did not: turn-slots.repository.ts) a root chat
  // starts only holding a slot; one that does not get one stays `pending` and joins the queue.
  const took = sql<boolean>`exists (select from admitted)`;
  const mayRun = sql<boolean>`(parent_chat_id is not null or holds_turn_slot or ${took})`;
  return db
    .updateTable('chats')
    .set({
      status: sql<ChatStatus>`case when ${starts} and ${mayRun} then 'running'::chat_status else status end`,
      updated_at: sql<Date>`case when ${starts} and ${mayRun} then now() else updated_at end`,
      holds_turn_slot: sql<boolean>`holds_turn_slot or ${took}`,
      awaiting_slot_since: sql<Date | null>`case
        when ${starts} and ${mayRun} then null
        when ${starts} then coalesce(awaiting_slot_since, now())
        else awaiting_slot_since end`,
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

/** The chat as endTurnIfNothingQueued left it, with what the turn's end reports. */
export type EndedTurn = ChatRow & {
  has_unread: boolean;
  /** The owner's oldest turn waiting for a running-turn slot, when this chat gave one back. */
  next_waiting_chat_id: string | null;
};

/**
 * The usual end of a turn, in one statement and without a transaction: if `turn` is still the chat's
 * turn, the chat is not archived and nothing is queued, the chat goes `waiting` and gives back its
 * running-turn slot (or its place in the queue for one). Undefined when any of that does not hold, and
 * also when the row changed between this statement's snapshot and its lock (the queue read would be
 * stale: queuing a message gives the row a new version, see insertQueuedMessage): the caller then ends
 * the turn under the row lock (lockChatReadingUnread, endTurnPromotingQueued, releaseSlot).
 */
export async function endTurnIfNothingQueued(db: Db, id: string, turn: number): Promise<EndedTurn | undefined> {
  const { rows } = await sql<EndedTurn>`
    with before as (
      select owner_id, holds_turn_slot, awaiting_slot_since is not null as awaits_slot, xmin::text as version
        from chats where id = ${id}
    ), ended as (
      update chats set status = 'waiting', last_error = null, last_error_kind = null,
             holds_turn_slot = false, awaiting_slot_since = null, updated_at = now()
       where id = ${id} and turn = ${turn} and not archived
         -- Re-checked on the newest version when a concurrent writer updated the row first.
         and xmin::text = (select version from before)
         and not exists (select from chat_queued_messages q where q.chat_id = ${id})
       returning *
    ), freed as (
      update users set running_turns = greatest(running_turns - 1, 0)
       where id = (select owner_id from ended) and (select holds_turn_slot from before)
       returning id
    )
    select ended.*,
           exists (select from chat_messages m
                    where m.chat_id = ended.id and m.id > coalesce(ended.last_read_message_id, 0)
                      and m.role = 'assistant' and not m.deleted and m.visibility in ('user', 'both')) as has_unread,
           case when (select holds_turn_slot or awaits_slot from before)
                then (${oldestWaiter(sql`ended.owner_id`, id)}) end as next_waiting_chat_id
      from ended`.execute(db);
  return rows[0];
}

/** Touches the chat if `turn` is still its current turn (the persist fence); false when fenced. */
export async function touchIfCurrentTurn(db: Db, id: string, turn: number): Promise<boolean> {
  return (await touchIfCurrentTurnQuery(db, id, turn).executeTakeFirst()) !== undefined;
}

/**
 * The UPDATE of touchIfCurrentTurn, to embed in a larger statement: returns the chat row as touched (and
 * locked) when the turn is current, nothing otherwise.
 */
export function touchIfCurrentTurnQuery(
  db: Db,
  id: string,
  turn: number,
): UpdateQueryBuilder<Database, 'chats', 'chats', ChatRow> {
  return db
    .updateTable('chats')
    .set({ updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('turn', '=', turn)
    .returningAll();
}

/**
 * Keyset position in a chat listing. The listing shows pinned chats first (`pin_order` ascending),
 * then the rest; within each part the most recently active first (`updated_at` descending, with its
 * full microsecond precision as an ISO string in UTC, so a JavaScript Date never rounds it), the id
 * breaking ties (descending). `pinOrder` 0 places the key among the unpinned chats.
 */
export interface ChatListKey {
  pinOrder: number;
  updatedAt: string;
  id: string;
}

/** The filters and page of a chat listing; all of them are applied in SQL, so pages are never short. */
export interface ChatListQuery {
  archived: boolean;
  /** Every pair must be present in the chat's labels (jsonb containment). */
  labels: Record<string, string>;
  /** Rows strictly after this key in the listing order. */
  after?: ChatListKey;
  limit: number;
}

const listKeyTs = sql<string>`to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * One page of the owner's chats in listing order (ChatListKey), each with its unread flag, and the
 * key of its last row when more rows follow (null on the last page).
 *
 * The pinned and the unpinned part are two index scans (`chats_owner_pinned_idx`, partial on pinned
 * rows, and `chats_owner_listing_idx`), each limited to the page, joined by UNION ALL in one
 * statement (one snapshot); only the at most 2 × (limit + 1) rows they yield are sorted. A key
 * among the unpinned chats needs the second scan only.
 */
export async function listChatsPage(
  db: Db,
  ownerId: string,
  query: ChatListQuery,
): Promise<{ rows: ChatWithUnread[]; next: ChatListKey | null }> {
  const { after, limit } = query;
  const base = () => {
    let q = db
      .selectFrom('chats')
      .selectAll()
      .select([listKeyTs.as('list_key_ts'), hasUnreadSql.as('has_unread')])
      .where('owner_id', '=', ownerId)
      .where('archived', '=', query.archived);
    if (Object.keys(query.labels).length > 0) {
      q = q.where(sql<boolean>`labels @> ${JSON.stringify(query.labels)}::jsonb`);
    }
    return q;
  };
  const afterRecency = (key: ChatListKey) =>
    sql<boolean>`(updated_at, id) < (${key.updatedAt}::timestamptz, ${key.id}::uuid)`;

  // Literal conditions (not parameters), so the planner can match the partial index on pinned rows.
  let unpinned = base().where(sql<boolean>`pin_order = 0`);
  if (after && after.pinOrder === 0) unpinned = unpinned.where(afterRecency(after));
  unpinned = unpinned
    .orderBy('updated_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);

  let rows;
  if (after && after.pinOrder === 0) {
    rows = await unpinned.execute();
  } else {
    let pinned = base().where(sql<boolean>`pin_order > 0`);
    if (after) {
      pinned = pinned.where((eb) =>
        eb.or([
          eb('pin_order', '>', after.pinOrder),
          eb.and([eb('pin_order', '=', after.pinOrder), afterRecency(after)]),
        ]),
      );
    }
    pinned = pinned
      .orderBy('pin_order')
      .orderBy('updated_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1);
    // Each part in a subquery of its own: a UNION operand cannot carry ORDER BY and LIMIT directly.
    rows = await db
      .selectFrom((eb) =>
        eb
          .selectFrom(pinned.as('pinned'))
          .selectAll()
          .unionAll(eb.selectFrom(unpinned.as('unpinned')).selectAll())
          .as('page'),
      )
      .selectAll()
      .orderBy(sql`pin_order = 0`)
      .orderBy('pin_order')
      .orderBy('updated_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next =
    rows.length > limit && last ? { pinOrder: last.pin_order, updatedAt: last.list_key_ts, id: last.id } : null;
  return { rows: page.map(({ list_key_ts: _key, ...row }) => row), next };
}

/** The listing key of one of the owner's chats (the `after_id` form of the cursor). */
export async function findChatListKey(db: Db, ownerId: string, chatId: string): Promise<ChatListKey | undefined> {
  const row = await db
    .selectFrom('chats')
    .select(['id', 'pin_order', listKeyTs.as('list_key_ts')])
    .where('id', '=', chatId)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
  return row ? { pinOrder: row.pin_order, updatedAt: row.list_key_ts, id: row.id } : undefined;
}

/**
 * Serialises the changes of one owner's pin positions (and archiving, which unpins): a transaction
 * lock on the owner, taken before any chat row lock, so two renumberings never interleave and never
 * wait on each other's rows.
 */
export async function lockOwnerPins(trx: Transaction<Database>, ownerId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`chatd.pins:${ownerId}`}, 0))`.execute(trx);
}

/**
 * Puts a chat at 1-based `position` among the owner's pinned, unarchived chats, or unpins it with 0,
 * and renumbers the pinned chats 1..n in their current order (pin_order, then as the listing),
 * which also closes the gap an unpinned or archived chat left. A position past the end means last.
 * Writes only the rows whose value changes (`updated_at` untouched: pinning is not activity) and
 * returns them, the chat itself first, then the others by position; empty when nothing moved.
 * Caller holds lockOwnerPins and the chat's row lock.
 */
export async function placePinnedChat(
  trx: Transaction<Database>,
  ownerId: string,
  chatId: string,
  position: number,
): Promise<ChatRow[]> {
  const { rows } = await sql<ChatRow>`
    with others as (
      select id, row_number() over (order by pin_order, updated_at desc, id desc) as rank
      from chats
      where owner_id = ${ownerId}::uuid and not archived and pin_order > 0 and id <> ${chatId}::uuid
    ),
    slot as (
      select case when ${position}::int = 0 then 0
                  else least(${position}::int, (select count(*) from others) + 1) end as at
    ),
    wanted as (
      select id, (case when (select at from slot) = 0 or rank < (select at from slot) then rank else rank + 1 end)::int
        as pin_order
      from others
      union all
      select ${chatId}::uuid, (select at from slot)::int
    )
    update chats c set pin_order = wanted.pin_order
    from wanted
    where c.id = wanted.id and c.pin_order <> wanted.pin_order
      -- Rechecked on the newest row version: a chat archived meanwhile is never pinned again.
      and (c.id = ${chatId}::uuid or (not c.archived and c.pin_order > 0))
    returning c.*`.execute(trx);
  const rank = (row: ChatRow) => (row.id === chatId ? -1 : row.pin_order);
  return rows.sort((a, b) => rank(a) - rank(b));
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
