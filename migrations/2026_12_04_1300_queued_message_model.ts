/**
 * A queued message remembers the model config it was sent with: when it is promoted into a turn (by the
 * worker after the running turn, or by the user), that turn runs on it. NULL: the chat's model at the time.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE chat_queued_messages ADD COLUMN model_config_id uuid REFERENCES chat_model_configs (id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE chat_queued_messages DROP COLUMN model_config_id;`.execute(db);
}
