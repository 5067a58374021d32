/**
 * A model config may name a fallback config: a model step whose provider stays overloaded or
 * rate-limited runs its next attempts on the fallback. NULL: no failover.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE chat_model_configs ADD COLUMN fallback_model_config_id uuid REFERENCES chat_model_configs (id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE chat_model_configs DROP COLUMN fallback_model_config_id;`.execute(db);
}
