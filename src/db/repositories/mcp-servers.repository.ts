/**
 * MCP server configs, users' OAuth tokens for them and pending OAuth authorizations (docs/mcp.md).
 * Secrets arrive and leave sealed: sealing and opening them is src/mcp/secrets.ts's job.
 */
import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from 'kysely';
import type {
  Database,
  McpOAuthStateRow,
  McpServerRow,
  McpServersTable,
  McpServerUserTokenRow,
  McpServerUserTokensTable,
} from '../database';

type Db = Kysely<Database> | Transaction<Database>;

export type NewMcpServerRow = Insertable<McpServersTable>;
export type McpServerRowUpdate = Updateable<McpServersTable>;

export async function insertMcpServer(db: Db, row: NewMcpServerRow): Promise<McpServerRow> {
  return db.insertInto('mcp_servers').values(row).returningAll().executeTakeFirstOrThrow();
}

/** Updates a server and stamps `updated_at` (connection pools key their clients by it). */
export async function updateMcpServer(
  db: Db,
  id: string,
  patch: McpServerRowUpdate,
): Promise<McpServerRow | undefined> {
  return db
    .updateTable('mcp_servers')
    .set({ ...patch, updated_at: sql<Date>`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
}

/**
 * Deletes a server (its tokens and pending authorizations cascade) and removes it from every chat's
 * selection. False when there was no such server.
 */
export async function deleteMcpServer(trx: Transaction<Database>, id: string): Promise<boolean> {
  const deleted = await trx.deleteFrom('mcp_servers').where('id', '=', id).executeTakeFirst();
  if (deleted.numDeletedRows === 0n) return false;
  await trx
    .updateTable('chats')
    .set({ mcp_server_ids: sql<string[]>`array_remove(mcp_server_ids, ${id}::uuid)` })
    .where(sql<boolean>`${id}::uuid = any(mcp_server_ids)`)
    .execute();
  return true;
}

export async function findMcpServer(db: Db, id: string): Promise<McpServerRow | undefined> {
  return db.selectFrom('mcp_servers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Locks a server row for an update (admin writes run one at a time per server). */
export async function lockMcpServer(trx: Transaction<Database>, id: string): Promise<McpServerRow | undefined> {
  return trx.selectFrom('mcp_servers').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

/** Every server, oldest first; `enabledOnly` for what members may use. */
export async function listMcpServers(db: Db, opts: { enabledOnly?: boolean } = {}): Promise<McpServerRow[]> {
  let query = db.selectFrom('mcp_servers').selectAll();
  if (opts.enabledOnly) query = query.where('enabled', '=', true);
  return query.orderBy('created_at').orderBy('id').execute();
}

/**
 * The enabled servers a chat runs with: those among `ids` plus every `force_on` server, oldest first.
 */
export async function listChatMcpServers(db: Db, ids: readonly string[]): Promise<McpServerRow[]> {
  return db
    .selectFrom('mcp_servers')
    .selectAll()
    .where('enabled', '=', true)
    .where((eb) =>
      ids.length > 0
        ? eb.or([eb('id', 'in', [...ids]), eb('availability', '=', 'force_on')])
        : eb('availability', '=', 'force_on'),
    )
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function findUserToken(
  db: Db,
  serverId: string,
  userId: string,
): Promise<McpServerUserTokenRow | undefined> {
  return db
    .selectFrom('mcp_server_user_tokens')
    .selectAll()
    .where('server_id', '=', serverId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

/** The token row under a row lock: one refresh at a time per user and server, across processes. */
export async function lockUserToken(
  trx: Transaction<Database>,
  serverId: string,
  userId: string,
): Promise<McpServerUserTokenRow | undefined> {
  return trx
    .selectFrom('mcp_server_user_tokens')
    .selectAll()
    .where('server_id', '=', serverId)
    .where('user_id', '=', userId)
    .forUpdate()
    .executeTakeFirst();
}

/** Inserts or replaces a user's tokens for a server. */
export async function upsertUserToken(
  db: Db,
  row: Omit<Insertable<McpServerUserTokensTable>, 'created_at' | 'updated_at'>,
): Promise<void> {
  await db
    .insertInto('mcp_server_user_tokens')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['server_id', 'user_id']).doUpdateSet({
        tokens_ciphertext: row.tokens_ciphertext,
        tokens_key_id: row.tokens_key_id,
        token_type: row.token_type ?? 'Bearer',
        expires_at: row.expires_at ?? null,
        scope: row.scope ?? null,
        updated_at: sql<Date>`now()`,
      }),
    )
    .execute();
}

/** Removes a user's tokens for a server; false when there were none. */
export async function deleteUserToken(db: Db, serverId: string, userId: string): Promise<boolean> {
  const result = await db
    .deleteFrom('mcp_server_user_tokens')
    .where('server_id', '=', serverId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** The ids of the servers a user holds tokens for. */
export async function listConnectedServerIds(db: Db, userId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('mcp_server_user_tokens')
    .select('server_id')
    .where('user_id', '=', userId)
    .execute();
  return new Set(rows.map((r) => r.server_id));
}

export async function insertOAuthState(db: Db, row: Omit<McpOAuthStateRow, 'created_at'>): Promise<void> {
  await db.insertInto('mcp_oauth_states').values(row).execute();
}

/** Removes and returns a pending authorization that has not expired (a state is good for one use only). */
export async function takeOAuthState(db: Db, stateHash: Buffer): Promise<McpOAuthStateRow | undefined> {
  return db
    .deleteFrom('mcp_oauth_states')
    .where('state_hash', '=', stateHash)
    .where('expires_at', '>', sql<Date>`now()`)
    .returningAll()
    .executeTakeFirst();
}

/** Deletes expired pending authorizations. */
export async function pruneOAuthStates(db: Db): Promise<void> {
  await db
    .deleteFrom('mcp_oauth_states')
    .where('expires_at', '<=', sql<Date>`now()`)
    .execute();
}
