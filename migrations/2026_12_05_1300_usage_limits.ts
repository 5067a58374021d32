/**
 * Spend limits and the cost of side calls (docs/operations.md, "Spend limits and cost").
 *
 * - `chat_usage_limit_config`: the deployment's one limit setting (enabled flag, default limit, period);
 *   no row means disabled. Per-user and per-group limits already live on users and groups.
 * - `chat_usage_records`: model calls that are not steps of a turn, title generation and compaction
 *   summaries, with their tokens and cost. They count towards spend and cost reports like assistant
 *   messages do; they are rows of their own because they are not messages (no place in a chat's
 *   history, no context measurement) and a title call runs on another model than the chat's.
 * - The config generation moves when anything a limit is resolved from changes (the setting, a user's
 *   or a group's limit, a group membership), so workers' per-process limit caches see it at the next step.
 * - An index for spend and cost reads: assistant messages of a chat by creation time.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE chat_usage_limit_config (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      enabled boolean NOT NULL DEFAULT false,
      -- NULL: no default limit (only users with their own or a group's limit are limited).
      default_limit_micros bigint CHECK (default_limit_micros > 0),
      period text NOT NULL DEFAULT 'month' CHECK (period IN ('day', 'week', 'month')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE chat_usage_records (
      id bigserial PRIMARY KEY,
      chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('title', 'compaction')),
      -- The config whose prices applied; NULL when none matched the model that answered (unpriced).
      model_config_id uuid REFERENCES chat_model_configs (id),
      -- The model name the provider was asked for.
      model text NOT NULL,
      input_tokens bigint,
      output_tokens bigint,
      reasoning_tokens bigint,
      cache_creation_tokens bigint,
      cache_read_tokens bigint,
      -- NULL: unpriced, which is not the same as free.
      total_cost_micros bigint,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX chat_usage_records_chat_idx ON chat_usage_records (chat_id, created_at);

    CREATE INDEX chat_messages_assistant_created_idx ON chat_messages (chat_id, created_at) WHERE role = 'assistant';

    CREATE TRIGGER chat_usage_limit_config_bump_config_generation
      AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON chat_usage_limit_config
      FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
    -- Only writes of the limit column move the generation: other user and group writes leave the caches alone.
    CREATE TRIGGER users_limit_bump_config_generation
      AFTER UPDATE OF chat_spend_limit_micros ON users
      FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
    CREATE TRIGGER users_insert_limit_bump_config_generation
      AFTER INSERT ON users
      FOR EACH ROW WHEN (NEW.chat_spend_limit_micros IS NOT NULL) EXECUTE FUNCTION bump_config_generation();
    CREATE TRIGGER groups_limit_bump_config_generation
      AFTER UPDATE OF chat_spend_limit_micros OR DELETE ON groups
      FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
    CREATE TRIGGER groups_insert_limit_bump_config_generation
      AFTER INSERT ON groups
      FOR EACH ROW WHEN (NEW.chat_spend_limit_micros IS NOT NULL) EXECUTE FUNCTION bump_config_generation();
    CREATE TRIGGER group_members_bump_config_generation
      AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_members
      FOR EACH STATEMENT EXECUTE FUNCTION bump_config_generation();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TRIGGER group_members_bump_config_generation ON group_members;
    DROP TRIGGER groups_insert_limit_bump_config_generation ON groups;
    DROP TRIGGER groups_limit_bump_config_generation ON groups;
    DROP TRIGGER users_insert_limit_bump_config_generation ON users;
    DROP TRIGGER users_limit_bump_config_generation ON users;
    DROP INDEX chat_messages_assistant_created_idx;
    DROP TABLE chat_usage_records, chat_usage_limit_config;
  `.execute(db);
}
