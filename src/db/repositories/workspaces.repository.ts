/**
 * Workspace rows and the chat → workspace link. A chat reaches a workspace only through
 * `chats.workspace_id`, and only one owned by the chat's owner, so a stray link never exposes another
 * user's workspace. The provider owns the lifecycle; these rows record it for queries and the API.
 */
import { sql, type Kysely, type SelectQueryBuilder, type Transaction } from 'kysely';
import type { Database, NewWorkspaceRow, WorkspaceRow, WorkspaceRowStatus } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

export async function insertWorkspace(db: Db, row: NewWorkspaceRow): Promise<WorkspaceRow> {
  return db.insertInto('workspaces').values(row).returningAll().executeTakeFirstOrThrow();
}

export async function findWorkspace(db: Db, id: string): Promise<WorkspaceRow | undefined> {
  return db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The workspace linked to `chatId`, whatever its status; undefined when the chat does not exist, has no
 * workspace, or is linked to a workspace of another owner.
 */
export async function findWorkspaceForChat(db: Db, chatId: string): Promise<WorkspaceRow | undefined> {
  return db
    .selectFrom('chats')
    .innerJoin('workspaces', (join) =>
      join.onRef('workspaces.id', '=', 'chats.workspace_id').onRef('workspaces.owner_id', '=', 'chats.owner_id'),
    )
    .selectAll('workspaces')
    .where('chats.id', '=', chatId)
    .executeTakeFirst();
}

/**
 * What reaching a chat's workspace needs of its row (see ChatWorkspaces.forChat); `host_id` is the
 * worker host that holds it, where its tool calls are routed (README "Workspace hosts").
 */
export type LinkedWorkspace = Pick<WorkspaceRow, 'id' | 'provider' | 'provider_ref' | 'status' | 'host_id'>;

/** findWorkspaceForChat as a query to embed in a step's read, with the columns reaching it needs. */
export function linkedWorkspaceQuery(
  db: Db,
  chatId: string,
): SelectQueryBuilder<Database, 'chats' | 'workspaces', LinkedWorkspace> {
  return db
    .selectFrom('chats')
    .innerJoin('workspaces', (join) =>
      join.onRef('workspaces.id', '=', 'chats.workspace_id').onRef('workspaces.owner_id', '=', 'chats.owner_id'),
    )
    .select([
      'workspaces.id',
      'workspaces.provider',
      'workspaces.provider_ref',
      'workspaces.status',
      'workspaces.host_id',
    ])
    .where('chats.id', '=', chatId);
}

/** Records a status the provider reported; undefined when the row does not exist. */
export async function setWorkspaceStatus(
  db: Db,
  id: string,
  status: WorkspaceRowStatus,
): Promise<WorkspaceRow | undefined> {
  return db
    .updateTable('workspaces')
    .set({ status, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/** Points the chat at `workspaceId` (null unlinks); false when the chat does not exist. */
export async function linkChatWorkspace(db: Db, chatId: string, workspaceId: string | null): Promise<boolean> {
  const row = await db
    .updateTable('chats')
    .set({ workspace_id: workspaceId, updated_at: sql<Date>`now()` })
    .where('id', '=', chatId)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** How often at most `last_used_at` moves per workspace (an SQL interval). */
export const WORKSPACE_USE_INTERVAL = '1 minute';

/**
 * Records that a chat's tools ran in the workspace: sets `last_used_at` unless it moved within the
 * last WORKSPACE_USE_INTERVAL (so many chats and steps cost one write a minute). False when not due.
 */
export async function touchWorkspaceUsed(db: Db, id: string): Promise<boolean> {
  const row = await db
    .updateTable('workspaces')
    .set({ last_used_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<', sql<Date>`now() - ${sql.lit(WORKSPACE_USE_INTERVAL)}::interval`),
      ]),
    )
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** The owner's workspaces that are not deleted, newest first (GET /workspaces). */
export async function listWorkspacesForOwner(db: Db, ownerId: string): Promise<WorkspaceRow[]> {
  return db
    .selectFrom('workspaces')
    .selectAll()
    .where('owner_id', '=', ownerId)
    .where('status', '<>', 'deleted')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
}

/** The workspace if `ownerId` owns it (any status), locked against deletion until the transaction ends. */
export async function findOwnedWorkspaceForShare(
  trx: Transaction<Database>,
  id: string,
  ownerId: string,
): Promise<WorkspaceRow | undefined> {
  return trx
    .selectFrom('workspaces')
    .selectAll()
    .where('id', '=', id)
    .where('owner_id', '=', ownerId)
    .forShare()
    .executeTakeFirst();
}
