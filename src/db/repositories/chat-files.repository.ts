/**
 * Uploaded chat files. Reads are always scoped to the owner in SQL, so another
 * user's file is indistinguishable from a missing one.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { ChatFilesTable, Database } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** A chat_files row, bytes included. */
export type ChatFileRow = Selectable<ChatFilesTable>;

/** A chat file's metadata, without its bytes. */
export type ChatFileInfo = Omit<ChatFileRow, 'data'> & { size: number };

/** Stores a file and returns its metadata. */
export async function insertChatFile(
  db: Db,
  file: { ownerId: string; name: string; mimetype: string; data: Buffer },
): Promise<ChatFileInfo> {
  const row = await db
    .insertInto('chat_files')
    .values({ owner_id: file.ownerId, name: file.name, mimetype: file.mimetype, data: file.data })
    .returning(['id', 'owner_id', 'name', 'mimetype', 'created_at'])
    .executeTakeFirstOrThrow();
  return { ...row, size: file.data.length };
}

/** The file with this id if `ownerId` owns it, bytes included; otherwise undefined. */
export async function findChatFileForOwner(db: Db, id: string, ownerId: string): Promise<ChatFileRow | undefined> {
  return db
    .selectFrom('chat_files')
    .selectAll()
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .executeTakeFirst();
}
