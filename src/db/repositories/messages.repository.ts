/**
 * Chat messages and queued messages. Step writes are idempotent through (chat_id, step_key): a
 * retried activity gets back the rows of its first attempt instead of inserting twice.
 */
import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder, type Transaction } from 'kysely';
import type {
  ChatMessageRow,
  ChatQueuedMessageRow,
  ChatRow,
  ChatRowUpdate,
  Database,
  NewChatMessageRow,
} from '../database';
import { touchIfCurrentTurn, touchIfCurrentTurnQuery } from './chats.repository';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * A stored message with, when it was inserted just now, the chat's newest message id before it (any role
 * or visibility; null for the chat's first). Rows returned as stored by a retry have none.
 */
export type InsertedMessageRow = ChatMessageRow & { prev_message_id?: number | null };

/**
 * The newest message of the row's chat before it, evaluated by the inserting statement: its snapshot
 * holds every message committed before it, and not the rows it inserts itself (withPrevIds chains those).
 * Exact when no other transaction inserts into the chat while this one waits for the chat's row lock:
 * inserts take that lock first (a preceding statement, or the turn fence of the same statement, and
 * within a turn a chat's messages are written one step after another).
 */
const prevMessageIdSql = (table: string) =>
  sql<
    number | null
  >`(select max(p.id) from chat_messages p where p.chat_id = ${sql.ref(`${table}.chat_id`)} and p.id < ${sql.ref(`${table}.id`)})`;

/** Rows of one insert in id order, each after the one before it. */
function withPrevIds(rows: InsertedMessageRow[]): InsertedMessageRow[] {
  const sorted = [...rows].sort((a, b) => a.id - b.id);
  for (let i = 1; i < sorted.length; i++) sorted[i]!.prev_message_id = sorted[i - 1]!.id;
  return sorted;
}

/** Inserts in array order (ids ascend in that order); rows whose step_key exists are returned as stored. */
export async function insertMessages(db: Db, rows: NewChatMessageRow[]): Promise<InsertedMessageRow[]> {
  if (rows.length === 0) return [];
  const inserted = await db
    .insertInto('chat_messages')
    .values(rows)
    .onConflict((oc) => oc.columns(['chat_id', 'step_key']).where('step_key', 'is not', null).doNothing())
    .returningAll()
    .returning(prevMessageIdSql('chat_messages').as('prev_message_id'))
    .execute();
  return withStoredDuplicates(db, rows, withPrevIds(inserted.map(numericPrev)));
}

/**
 * Updates the chat (whose row lock the transaction holds) and inserts one message, in one statement: the
 * start of a turn with its user message. The chat row as updated is the caller's copy with `patch`
 * applied and `updated_at` set to the message's `created_at` (both are the transaction's `now()`).
 */
export async function updateChatInsertingMessage(
  trx: Transaction<Database>,
  chat: ChatRow,
  patch: ChatRowUpdate,
  row: NewChatMessageRow,
): Promise<{ chat: ChatRow; message: InsertedMessageRow }> {
  const inserted = await trx
    .with('updated', (db) =>
      db
        .updateTable('chats')
        .set({ ...patch, updated_at: sql<Date>`now()` })
        .where('id', '=', chat.id)
        .returning('id'),
    )
    .insertInto('chat_messages')
    .values(row)
    .returningAll()
    .returning(prevMessageIdSql('chat_messages').as('prev_message_id'))
    .executeTakeFirstOrThrow();
  const message = numericPrev(inserted);
  return { chat: { ...chat, ...patch, updated_at: message.created_at } as ChatRow, message };
}

/** bigint ids come back as strings from subqueries: make the prev id a number like the row's id. */
function numericPrev<T extends { prev_message_id?: unknown }>(row: T): T & { prev_message_id: number | null } {
  const prev = row.prev_message_id;
  return { ...row, prev_message_id: prev === null || prev === undefined ? null : Number(prev) };
}

/**
 * insertMessages under the turn fence, in one statement: the chat's row is touched (and locked) only
 * if `turn` is still its turn, and the rows are inserted only if it was. Null when fenced. All rows
 * must set the same columns (columns they leave out get their defaults).
 */
export async function insertMessagesIfCurrentTurn(
  db: Db,
  chatId: string,
  turn: number,
  rows: NewChatMessageRow[],
): Promise<InsertedMessageRow[] | null> {
  const [first, ...more] = rows;
  if (!first) return (await touchIfCurrentTurn(db, chatId, turn)) ? [] : null;
  return (await insertMessagesIfCurrentTurnWith(db, chatId, turn, [first, ...more], sql<null>`null`))?.rows ?? null;
}

/**
 * insertMessagesIfCurrentTurn for at least one row, evaluating `context` once in the same statement: a
 * SQL expression that may read the chat row as the fence touched it (the CTE `fence`, every column of
 * `chats`) and otherwise sees the statement's snapshot, without the rows it inserts. Null when fenced.
 */
export async function insertMessagesIfCurrentTurnWith<C>(
  db: Db,
  chatId: string,
  turn: number,
  rows: [NewChatMessageRow, ...NewChatMessageRow[]],
  context: RawBuilder<C>,
): Promise<{ rows: InsertedMessageRow[]; context: C } | null> {
  const columns = sharedColumns(rows);
  // Everything but the content travels as one jsonb array typed by the table's row type; the
  // contents, already JSON text, travel beside it and are parsed once, by the server.
  const fields = rows.map((row) => Object.fromEntries(columns.map((c) => [c, row[c]])));
  const contents = rows.map((row) => row.content);
  const { rows: result } = await sql<InsertedMessageRow & { current_turn: boolean; context: C }>`
    with fence as (${touchIfCurrentTurnQuery(db, chatId, turn)}), inserted as (
      insert into chat_messages (${sql.join(columns.map((c) => sql.ref(c)))}, content)
      select ${sql.join(columns.map((c) => sql.ref(`r.${c}`)))}, c.content::jsonb
        from jsonb_populate_recordset(null::chat_messages, ${JSON.stringify(fields)}::jsonb) with ordinality as r
        join unnest(${contents}::text[]) with ordinality as c (content, n) on c.n = r.ordinality
       where exists (select from fence)
       order by r.ordinality
      on conflict (chat_id, step_key) where step_key is not null do nothing
      returning *
    )
    select exists (select from fence) as current_turn, inserted.*, ${prevMessageIdSql('inserted')} as prev_message_id,
           ctx.context
      from (values (1)) as one cross join (select ${context} as context) as ctx left join inserted on true
     order by inserted.id`.execute(db);
  if (!result[0]?.current_turn) return null;
  const inserted = result
    .filter((r) => r.id !== null)
    .map(({ current_turn: _current, context: _context, ...row }) => numericPrev(row));
  return { rows: await withStoredDuplicates(db, rows, withPrevIds(inserted)), context: result[0].context };
}

/** The columns (content aside) every row sets; rows setting different columns are a programming error. */
function sharedColumns(rows: NewChatMessageRow[]): Array<Exclude<keyof NewChatMessageRow, 'content'>> {
  const columnsOf = (row: NewChatMessageRow) =>
    (Object.keys(row) as Array<keyof NewChatMessageRow>)
      .filter((c): c is Exclude<keyof NewChatMessageRow, 'content'> => c !== 'content' && row[c] !== undefined)
      .sort();
  const columns = columnsOf(rows[0]!);
  if (rows.some((row) => columnsOf(row).join() !== columns.join())) {
    throw new Error('the rows of one message batch must set the same columns');
  }
  return columns;
}

/** The inserted rows, or, when some step_keys already existed (a retried step), the rows as stored. */
async function withStoredDuplicates(
  db: Db,
  rows: NewChatMessageRow[],
  inserted: InsertedMessageRow[],
): Promise<InsertedMessageRow[]> {
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

/**
 * User-visible, live messages after `afterId` (the stream catch-up), oldest first; with `upToId`,
 * only those up to and including it (a bounded catch-up).
 */
export async function listVisibleMessagesAfter(
  db: Db,
  chatId: string,
  afterId: number,
  upToId?: number,
): Promise<ChatMessageRow[]> {
  let query = db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('id', '>', afterId)
    .where('deleted', '=', false)
    .where('visibility', 'in', ['user', 'both']);
  if (upToId !== undefined) query = query.where('id', '<=', upToId);
  return query.orderBy('id').execute();
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

/** What a prompt is built from. */
export type PromptRow = Pick<ChatMessageRow, 'id' | 'role' | 'content' | 'model_config_id' | 'provider_response_id'>;

/**
 * The model's view, oldest first, as a query to embed in a step's read: live
 * messages visible to the model; once compacted, the uncompressed system messages, the newest
 * compressed summary and everything after it.
 */
export function promptRowsQuery(db: Db, chatId: string): SelectQueryBuilder<Database, 'chat_messages', PromptRow> {
  return db
    .selectFrom('chat_messages')
    .select(['id', 'role', 'content', 'model_config_id', 'provider_response_id'])
    .where('chat_id', '=', chatId)
    .where('deleted', '=', false)
    .where('visibility', 'in', ['model', 'both'])
    .where((eb) =>
      eb.or([
        eb.and([eb('role', '=', 'system'), eb('compressed', '=', false)]),
        eb(
          'id',
          '>=',
          sql<number>`coalesce((select max(s.id) from chat_messages s where s.chat_id = ${chatId}
            and s.compressed and s.visibility = 'model' and not s.deleted), 0)`,
        ),
      ]),
    )
    .orderBy('id');
}

export async function listQueuedMessages(db: Db, chatId: string): Promise<ChatQueuedMessageRow[]> {
  return db.selectFrom('chat_queued_messages').selectAll().where('chat_id', '=', chatId).orderBy('id').execute();
}

/** The message a step wrote under `stepKey` (see src/turn/model-step.ts), if any. */
export async function findMessageByStepKey(db: Db, chatId: string, key: string): Promise<ChatMessageRow | undefined> {
  return db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('step_key', '=', key)
    .executeTakeFirst();
}

/** A live, user-visible message of the chat (what a client can see and therefore edit). */
export async function findVisibleMessage(db: Db, chatId: string, id: number): Promise<ChatMessageRow | undefined> {
  return db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('id', '=', id)
    .where('deleted', '=', false)
    .where('visibility', 'in', ['user', 'both'])
    .executeTakeFirst();
}

/**
 * Soft-deletes message `fromId` and every later message of the chat (an edit's truncation). The
 * rows stay, so their cost still counts. Returns how many rows changed. Caller holds the chat lock.
 */
export async function softDeleteMessagesFrom(
  trx: Transaction<Database>,
  chatId: string,
  fromId: number,
): Promise<number> {
  const result = await trx
    .updateTable('chat_messages')
    .set({ deleted: true })
    .where('chat_id', '=', chatId)
    .where('id', '>=', fromId)
    .where('deleted', '=', false)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * Where a client holding messages up to `cursorId` must cut its history: when the newest
 * user-visible message at or before the cursor was deleted by an edit, the first id of that deleted
 * run (the client drops every message from it on). Null when the client's history is still valid.
 */
/** The id of the chat's newest message of any role or visibility, deleted too; 0 when it has none. */
export async function findNewestMessageId(db: Db, chatId: string): Promise<number> {
  const row = await db
    .selectFrom('chat_messages')
    .select((eb) => eb.fn.max('id').as('newest'))
    .where('chat_id', '=', chatId)
    .executeTakeFirst();
  return Number(row?.newest ?? 0);
}

export async function findTruncationPoint(db: Db, chatId: string, cursorId: number): Promise<number | null> {
  if (cursorId <= 0) return null;
  const visible = ['user', 'both'] as const;
  const row = await db
    .selectFrom('chat_messages as m')
    .select((eb) => eb.fn.min('m.id').as('from_id'))
    .where('m.chat_id', '=', chatId)
    .where('m.id', '<=', cursorId)
    .where('m.deleted', '=', true)
    .where('m.visibility', 'in', visible)
    .where(
      'm.id',
      '>',
      sql<number>`coalesce((select max(l.id) from chat_messages l where l.chat_id = ${chatId}
        and l.id <= ${cursorId} and not l.deleted and l.visibility in ('user', 'both')), 0)`,
    )
    .executeTakeFirst();
  return row?.from_id == null ? null : Number(row.from_id);
}

/** Appends a message to the chat's queue. Caller holds the chat lock (the queue bound is checked there). */
export async function insertQueuedMessage(
  trx: Transaction<Database>,
  row: { chat_id: string; content: string; created_by: string | null; model_config_id?: string | null },
): Promise<ChatQueuedMessageRow> {
  // The chat's row gets a new version with the message: a turn end that decided on an older version
  // (endTurnIfNothingQueued in chats.repository.ts) sees it changed and takes the locked path instead.
  return trx
    .with('touched', (db) =>
      db
        .updateTable('chats')
        .set({ updated_at: sql<Date>`now()` })
        .where('id', '=', row.chat_id)
        .returning('id'),
    )
    .insertInto('chat_queued_messages')
    .values(row)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Removes one queued message of the chat; undefined when the chat has no such entry. */
export async function deleteQueuedMessage(
  trx: Transaction<Database>,
  chatId: string,
  id: number,
): Promise<ChatQueuedMessageRow | undefined> {
  return trx
    .deleteFrom('chat_queued_messages')
    .where('chat_id', '=', chatId)
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Empties the chat's queue (an edit); returns how many entries were removed. */
export async function clearQueuedMessages(trx: Transaction<Database>, chatId: string): Promise<number> {
  const result = await trx.deleteFrom('chat_queued_messages').where('chat_id', '=', chatId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
