/**
 * Uploaded chat files. Reads are always scoped to the owner in SQL, so another
 * user's file is indistinguishable from a missing one.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
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

/** The metadata of the files among `ids` that `ownerId` owns; missing and foreign ids are left out. */
export async function findOwnedChatFileInfos(db: Db, ownerId: string, ids: readonly string[]): Promise<ChatFileInfo[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('chat_files')
    .select(['id', 'owner_id', 'name', 'mimetype', 'created_at'])
    .select(sql<number>`octet_length(data)`.as('size'))
    .where('id', 'in', [...ids])
    .where('owner_id', '=', ownerId)
    .execute();
}

/** The bytes of the files among `ids` that `ownerId` owns, by id; missing and foreign ids are left out. */
export async function readOwnedChatFileData(
  db: Db,
  ownerId: string,
  ids: readonly string[],
): Promise<Map<string, Buffer>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('chat_files')
    .select(['id', 'data'])
    .where('id', 'in', [...ids])
    .where('owner_id', '=', ownerId)
    .execute();
  return new Map(rows.map((row) => [row.id, row.data]));
}

/** Records that `chatId` uses these files; a link that exists already is kept as it is. */
export async function linkChatFiles(db: Db, chatId: string, fileIds: readonly string[]): Promise<void> {
  if (fileIds.length === 0) return;
  await db
    .insertInto('chat_file_links')
    .values([...new Set(fileIds)].map((fileId) => ({ chat_id: chatId, file_id: fileId })))
    .onConflict((oc) => oc.columns(['chat_id', 'file_id']).doNothing())
    .execute();
}
