/**
 * Users, groups and API tokens. Tokens are stored as SHA-256 digests: they are random
 * 256-bit secrets, so a slow password hash buys nothing and would cost every request.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TYPE user_role AS ENUM ('admin', 'member');

    CREATE TABLE users (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      username text NOT NULL UNIQUE CHECK (username ~ '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$'),
      name text NOT NULL DEFAULT '',
      role user_role NOT NULL DEFAULT 'member',
      chat_spend_limit_micros bigint CHECK (chat_spend_limit_micros > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE api_tokens (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL DEFAULT '',
      token_hash bytea NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz,
      revoked_at timestamptz,
      last_used_at timestamptz
    );
    CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id);

    CREATE TABLE groups (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL UNIQUE,
      display_name text NOT NULL DEFAULT '',
      chat_spend_limit_micros bigint CHECK (chat_spend_limit_micros > 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE group_members (
      group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      PRIMARY KEY (group_id, user_id)
    );
    CREATE INDEX group_members_user_id_idx ON group_members (user_id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE group_members, groups, api_tokens, users; DROP TYPE user_role;`.execute(db);
}
