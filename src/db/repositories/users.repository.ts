/**
 * Users and API tokens. Token lookups are by SHA-256 digest; expired and revoked tokens never match.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, UserRole, UserRow } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

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
): Promise<{ id: string }> {
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
    .returning('id')
    .executeTakeFirstOrThrow();
}

/** The user owning a live token with this digest, or undefined. */
export async function findUserByTokenHash(db: Db, tokenHash: Buffer): Promise<UserRow | undefined> {
  return db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    .selectAll('users')
    .where('api_tokens.token_hash', '=', tokenHash)
    .where('api_tokens.revoked_at', 'is', null)
    .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', sql<Date>`now()`)]))
    .executeTakeFirst();
}
