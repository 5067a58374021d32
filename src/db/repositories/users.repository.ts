/**
 * Users and API tokens. Token lookups are by SHA-256 digest; expired and revoked tokens never match.
 */
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { LiveToken } from '../../security/tokens';
import type { ApiTokensTable, Database, UserRole, UserRow } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** An api_tokens row (the digest never leaves src/db and src/chat). */
export type ApiTokenRow = Selectable<ApiTokensTable>;

export async function countUsers(db: Db): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select(sql<number>`count(*)::int`.as('n'))
    .executeTakeFirstOrThrow();
  return row.n;
}

export async function insertUser(db: Db, user: { username: string; name?: string; role: UserRole }): Promise<UserRow> {
  return db
    .insertInto('users')
    .values({ username: user.username, name: user.name ?? '', role: user.role, chat_spend_limit_micros: null })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function insertApiToken(
  db: Db,
  token: { userId: string; name: string; tokenHash: Buffer; expiresAt: Date | null },
): Promise<Pick<ApiTokenRow, 'id' | 'name' | 'created_at' | 'expires_at'>> {
  return db
    .insertInto('api_tokens')
    .values({
      user_id: token.userId,
      name: token.name,
      token_hash: token.tokenHash,
      expires_at: token.expiresAt,
      revoked_at: null,
      last_used_at: null,
    })
    .returning(['id', 'name', 'created_at', 'expires_at'])
    .executeTakeFirstOrThrow();
}

/** The live token with this digest and its owner's id and role, or undefined. */
export async function findLiveToken(db: Db, tokenHash: Buffer): Promise<LiveToken | undefined> {
  const row = await db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .select(['api_tokens.id as token_id', 'api_tokens.expires_at', 'users.id as user_id', 'users.role'])
    .where('api_tokens.token_hash', '=', tokenHash)
    .where('api_tokens.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', sql<Date>`now()`)]))
    .executeTakeFirst();
  return row && { tokenId: row.token_id, userId: row.user_id, role: row.role, expiresAt: row.expires_at };
}

/** The user with this id, or undefined. */
export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Every user, by username (admin listing). */
export async function listUsers(db: Db): Promise<UserRow[]> {
  return db.selectFrom('users').selectAll().orderBy('username').orderBy('id').execute();
}

/** The token with this id (live, expired or revoked), or undefined. */
export async function findApiToken(db: Db, id: string): Promise<ApiTokenRow | undefined> {
  return db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Marks the token revoked now; a token already revoked keeps its first revocation time. */
export async function revokeApiToken(db: Db, id: string): Promise<void> {
  await db
    .updateTable('api_tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .execute();
}
