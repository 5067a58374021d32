/**
 * Uploaded chat files and the key-value config rows (site-wide and per user).
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE chat_files (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL DEFAULT '',
      mimetype text NOT NULL,
      data bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX chat_files_owner_id_idx ON chat_files (owner_id);

    CREATE TABLE chat_file_links (
      chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      file_id uuid NOT NULL REFERENCES chat_files (id) ON DELETE CASCADE,
      PRIMARY KEY (chat_id, file_id)
    );

    CREATE TABLE site_configs (
      key text PRIMARY KEY,
      value jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE user_configs (
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      key text NOT NULL,
      value jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (user_id, key)
    );
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE user_configs, site_configs, chat_file_links, chat_files;`.execute(db);
}
