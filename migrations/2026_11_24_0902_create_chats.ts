/**
 * Chats, their messages and their queue. `turn` is the fencing token: every
 * new turn (send, promote, edit) increments it and every write of a turn checks it, so output of a
 * turn that an edit superseded never lands. `step_key` makes step persistence idempotent.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TYPE chat_status AS ENUM
      ('waiting', 'pending', 'running', 'paused', 'completed', 'error', 'requires_action');
    CREATE TYPE chat_message_role AS ENUM ('system', 'user', 'assistant', 'tool');
    CREATE TYPE chat_message_visibility AS ENUM ('user', 'model', 'both');

    CREATE TABLE chats (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      workspace_id uuid,
      parent_chat_id uuid REFERENCES chats (id) ON DELETE CASCADE,
      root_chat_id uuid REFERENCES chats (id) ON DELETE SET NULL,
      last_model_config_id uuid NOT NULL REFERENCES chat_model_configs (id),
      title text NOT NULL DEFAULT 'New Chat',
      status chat_status NOT NULL DEFAULT 'waiting',
      last_error text,
      last_error_kind text,
      turn integer NOT NULL DEFAULT 0,
      archived boolean NOT NULL DEFAULT false,
      pin_order integer NOT NULL DEFAULT 0,
      labels jsonb NOT NULL DEFAULT '{}',
      mcp_server_ids uuid[] NOT NULL DEFAULT '{}',
      mode text,
      last_read_message_id bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    -- Keyset listing: newest first per owner, id breaking ties.
    CREATE INDEX chats_owner_listing_idx ON chats (owner_id, archived, updated_at DESC, id DESC);
    CREATE INDEX chats_parent_chat_id_idx ON chats (parent_chat_id) WHERE parent_chat_id IS NOT NULL;
    CREATE INDEX chats_root_chat_id_idx ON chats (root_chat_id) WHERE root_chat_id IS NOT NULL;
    CREATE INDEX chats_labels_idx ON chats USING gin (labels jsonb_path_ops);

    CREATE TABLE chat_messages (
      id bigserial PRIMARY KEY,
      chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      turn integer,
      step_key text,
      model_config_id uuid REFERENCES chat_model_configs (id),
      created_by uuid REFERENCES users (id) ON DELETE SET NULL,
      role chat_message_role NOT NULL,
      content jsonb NOT NULL,
      content_version smallint NOT NULL DEFAULT 1,
      visibility chat_message_visibility NOT NULL DEFAULT 'both',
      input_tokens bigint,
      output_tokens bigint,
      total_tokens bigint,
      reasoning_tokens bigint,
      cache_creation_tokens bigint,
      cache_read_tokens bigint,
      context_limit bigint,
      compressed boolean NOT NULL DEFAULT false,
      deleted boolean NOT NULL DEFAULT false,
      total_cost_micros bigint,
      runtime_ms bigint,
      provider_response_id text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX chat_messages_chat_id_idx ON chat_messages (chat_id, id);
    CREATE UNIQUE INDEX chat_messages_step_key ON chat_messages (chat_id, step_key) WHERE step_key IS NOT NULL;

    CREATE TABLE chat_queued_messages (
      id bigserial PRIMARY KEY,
      chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      content jsonb NOT NULL,
      created_by uuid REFERENCES users (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX chat_queued_messages_chat_id_idx ON chat_queued_messages (chat_id, id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE chat_queued_messages, chat_messages, chats;
    DROP TYPE chat_message_visibility, chat_message_role, chat_status;
  `.execute(db);
}
