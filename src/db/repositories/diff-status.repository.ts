/**
 * The latest git diff of each chat's workspace (`chat_diff_status`, one row per chat). Written by the
 * tool step on the workspace host, read by GET /chats/{id}/diff; a write that would store the same
 * content (same hash) changes nothing.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChatDiffStatusRow, Database, DiffFileJson } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

export interface NewDiffStatus {
  chat_id: string;
  workspace_id: string | null;
  git_repository: boolean;
  files: DiffFileJson[];
  files_truncated: boolean;
  additions: number;
  deletions: number;
  diff: string;
  truncated: boolean;
  content_hash: string;
}

/**
 * Stores `status` as the chat's diff unless the stored one has the same hash, in one statement.
 * Returns the stored row with `inserted` (the chat had none), or undefined when nothing changed.
 */
export async function upsertDiffStatus(
  db: Db,
  status: NewDiffStatus,
): Promise<(ChatDiffStatusRow & { inserted: boolean }) | undefined> {
  const values = { ...status, files: JSON.stringify(status.files), computed_at: sql<Date>`now()` };
  return (
    db
      .insertInto('chat_diff_status')
      .values(values)
      .onConflict((oc) =>
        oc
          .column('chat_id')
          .doUpdateSet((eb) => ({
            workspace_id: eb.ref('excluded.workspace_id'),
            git_repository: eb.ref('excluded.git_repository'),
            files: eb.ref('excluded.files'),
            files_truncated: eb.ref('excluded.files_truncated'),
            additions: eb.ref('excluded.additions'),
            deletions: eb.ref('excluded.deletions'),
            diff: eb.ref('excluded.diff'),
            truncated: eb.ref('excluded.truncated'),
            content_hash: eb.ref('excluded.content_hash'),
            computed_at: eb.ref('excluded.computed_at'),
          }))
          .where('chat_diff_status.content_hash', 'is distinct from', (eb) => eb.ref('excluded.content_hash')),
      )
      .returningAll()
      // xmax is 0 on a row version an INSERT created (PostgreSQL's usual "inserted or updated" test).
      .returning(sql<boolean>`xmax = 0`.as('inserted'))
      .executeTakeFirst()
  );
}

/**
 * The chat's stored diff for its owner, in one statement: undefined when the chat does not exist or
 * belongs to someone else; `diff` null when none was computed yet.
 */
export async function findDiffStatusForOwner(
  db: Db,
  chatId: string,
  ownerId: string,
): Promise<{ workspaceId: string | null; diff: ChatDiffStatusRow | null } | undefined> {
  const row = await db
    .selectFrom('chats')
    .leftJoin('chat_diff_status as d', 'd.chat_id', 'chats.id')
    .select(['chats.workspace_id as chat_workspace_id'])
    .selectAll('d')
    .where('chats.id', '=', chatId)
    .where('chats.owner_id', '=', ownerId)
    .executeTakeFirst();
  if (!row) return undefined;
  const { chat_workspace_id, ...diff } = row;
  return {
    workspaceId: chat_workspace_id,
    diff: diff.chat_id === null ? null : (diff as ChatDiffStatusRow),
  };
}
