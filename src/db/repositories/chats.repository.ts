/**
 * Chat rows. Every mutation of a chat's status runs in a transaction holding the row lock
 * (`lockChat`), which is what serialises the API, the worker and the queue promoter.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChatRow, ChatRowUpdate, ChatStatus, Database, NewChatRow } from '../database';

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

export async function updateChat(db: Db, id: string, patch: ChatRowUpdate): Promise<ChatRow> {
  return db
    .updateTable('chats')
    .set({ ...patch, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Moves a chat into `running` for `turn`, unless the turn was superseded (edit) or stopped before it
 * began (interrupt, archive). Blocks on the row lock of a transaction that is still committing the
 * turn's user message, so a turn never starts ahead of its own input.
 */
export async function markTurnRunning(db: Db, id: string, turn: number): Promise<ChatRow | undefined> {
  return db
    .updateTable('chats')
    .set({ status: 'running', updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('turn', '=', turn)
    .where('status', 'in', ['pending', 'running'] satisfies ChatStatus[])
    .returningAll()
    .executeTakeFirst();
}

/** Touches the chat if `turn` is still its current turn (the persist fence); false when fenced. */
export async function touchIfCurrentTurn(db: Db, id: string, turn: number): Promise<boolean> {
  const row = await db
    .updateTable('chats')
    .set({ updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('turn', '=', turn)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}
