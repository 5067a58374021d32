/**
 * LLM provider endpoints and the model configs chats run on. API keys are
 * AES-256-GCM ciphertext with the id of the key that sealed them, so keys can be rotated.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE chat_providers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      provider text NOT NULL CHECK (provider IN ('openai', 'anthropic', 'openai-compat')),
      display_name text NOT NULL DEFAULT '',
      api_key_ciphertext bytea,
      api_key_key_id text,
      base_url text,
      api_mode text CHECK (api_mode IN ('responses', 'chat')),
      enabled boolean NOT NULL DEFAULT true,
      deleted boolean NOT NULL DEFAULT false,
      created_by uuid REFERENCES users (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((api_key_ciphertext IS NULL) = (api_key_key_id IS NULL))
    );
    -- One row per hosted provider; any number of OpenAI-compatible endpoints.
    CREATE UNIQUE INDEX chat_providers_provider_key ON chat_providers (provider)
      WHERE provider <> 'openai-compat' AND NOT deleted;

    CREATE TABLE chat_model_configs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      provider_id uuid NOT NULL REFERENCES chat_providers (id),
      model text NOT NULL CHECK (model <> ''),
      display_name text NOT NULL DEFAULT '',
      enabled boolean NOT NULL DEFAULT true,
      is_default boolean NOT NULL DEFAULT false,
      deleted boolean NOT NULL DEFAULT false,
      context_limit bigint NOT NULL CHECK (context_limit > 0),
      compression_threshold integer NOT NULL DEFAULT 70 CHECK (compression_threshold BETWEEN 0 AND 100),
      options jsonb NOT NULL DEFAULT '{}',
      created_by uuid REFERENCES users (id) ON DELETE SET NULL,
      updated_by uuid REFERENCES users (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX chat_model_configs_single_default ON chat_model_configs (is_default)
      WHERE is_default AND NOT deleted;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE chat_model_configs, chat_providers;`.execute(db);
}
