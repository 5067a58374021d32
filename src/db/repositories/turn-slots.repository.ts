/**
 * Running-turn slots (fair scheduling; docs/operations.md "Fair scheduling"). A user's root chats take a
 * slot when a turn starts and give it back when the chat goes idle; `users.running_turns` counts the
 * slots and only moves in single UPDATEs whose row lock serialises them, so the cap is exact however many
 * workers start turns. Sub-agent turns ride on their root's slot (they never wait: a parent waiting for a
 * queued child would never finish).
 */
import {
  sql,
  type Kysely,
  type QueryCreator,
  type RawBuilder,
  type Transaction,
  type UpdateQueryBuilder,
} from 'kysely';
import type { Database } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** Chats of the same owner waiting for a slot since before `chatId` started waiting (or at all, if it is not). */
const olderWaiters = (chatId: string) => sql<boolean>`exists (
  select from chats w
   where w.owner_id = users.id and w.id <> ${chatId} and w.status = 'pending' and w.awaiting_slot_since is not null
     and w.awaiting_slot_since < coalesce((select awaiting_slot_since from chats c where c.id = ${chatId}), 'infinity')
)`;

/**
 * The UPDATE that takes a slot for turn `turn` of a root chat (to embed before the UPDATE that starts it):
 * the owner's count moves up when it is under `cap`, the chat holds no slot yet, and no older turn of the
 * owner waits. Returns the owner's id when it took one.
 *
 * Only a turn that may still start takes one: at this statement's snapshot the chat is at an older turn
 * (the transaction committing `turn` may still be open: markTurnRunningQuery waits for it) or at `turn` and
 * not stopped. A first step that runs after its turn was interrupted, or after it ended (a late duplicate
 * of the activity), would otherwise mark an idle chat as holding a slot that no turn end ever gives back.
 */
export function takeSlotQuery(
  db: QueryCreator<Database>,
  chatId: string,
  turn: number,
  cap: number,
): UpdateQueryBuilder<Database, 'users', 'users', { id: string }> {
  return db
    .updateTable('users')
    .set({ running_turns: sql<number>`running_turns + 1` })
    .where(
      'id',
      '=',
      sql<string>`(select owner_id from chats
        where id = ${chatId} and parent_chat_id is null and not holds_turn_slot
          and (turn < ${turn} or (turn = ${turn} and status in ('pending', 'running'))))`,
    )
    .where('running_turns', '<', cap)
    .where(sql<boolean>`not ${olderWaiters(chatId)}`)
    .returning('id');
}

/** The owner's chat other than `chatId` whose turn has waited longest for a slot (null: none). */
export const oldestWaiter = (ownerId: string | RawBuilder<string>, chatId: string): RawBuilder<string | null> => sql<
  string | null
>`select w.id from chats w
   where w.owner_id = ${ownerId} and w.id <> ${chatId} and w.status = 'pending'
     and w.awaiting_slot_since is not null
   order by w.awaiting_slot_since, w.id limit 1`;

/**
 * Gives back the chat's slot (and its place in the queue) when its chat went idle, in the caller's
 * transaction. Returns the oldest other turn of the owner still waiting, to be woken.
 */
export async function releaseSlot(
  trx: Transaction<Database>,
  chat: { id: string; owner_id: string },
): Promise<{ nextWaitingChatId: string | null }> {
  const { rows } = await sql<{ next_chat_id: string | null }>`
    with released as (
      update chats set holds_turn_slot = false, awaiting_slot_since = null
       where id = ${chat.id} and (holds_turn_slot or awaiting_slot_since is not null)
       returning id
    ), freed as (
      -- The subquery reads the row as it was before this statement: whether the chat held a slot.
      update users set running_turns = greatest(running_turns - 1, 0)
       where id = ${chat.owner_id} and exists (select from released)
         and (select holds_turn_slot from chats where id = ${chat.id})
       returning id
    )
    select (${oldestWaiter(chat.owner_id, chat.id)}) as next_chat_id`.execute(trx);
  return { nextWaitingChatId: rows[0]?.next_chat_id ?? null };
}

/**
 * Recounts a user's slots from the chats holding one (a slot lost to a terminated run comes back). The
 * owner's row is locked first and counted by a second statement: every take and release moves the counter
 * under that lock and commits with it, so the count's snapshot (taken after the lock) sees each of them.
 * A single UPDATE would count at the snapshot it started with, then wait for a racing take or release and
 * overwrite its effect (a slot too few, letting a turn over the cap through; or one too many, leaked).
 */
export async function recountSlots(db: Db, ownerId: string): Promise<void> {
  const recount = async (trx: Transaction<Database>): Promise<void> => {
    await trx.selectFrom('users').select('id').where('id', '=', ownerId).forUpdate().execute();
    await trx
      .updateTable('users')
      .set({
        running_turns: sql<number>`(select count(*)::int from chats where owner_id = ${ownerId} and holds_turn_slot)`,
      })
      .where('id', '=', ownerId)
      .execute();
  };
  if (db.isTransaction) await recount(db as Transaction<Database>);
  else await db.transaction().execute(recount);
}
