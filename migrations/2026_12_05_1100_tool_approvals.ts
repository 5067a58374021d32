/**
 * Human approval of tool calls (docs/tool-approval.md). Each chat may ask for more approvals than the
 * admin's policy (`tool_approval_ask`, tool names or `*`) and remembers the tools its user approved for
 * the rest of the chat (`tool_approval_granted`). `chat_tool_approvals` holds one row per call that
 * waited for a decision: what was asked (the tool and a SHA-256 of its arguments), until when, and the
 * decision with who made it and why. Rows outlive nothing: they go with their chat.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE chats
      ADD COLUMN tool_approval_ask text[] NOT NULL DEFAULT '{}',
      ADD COLUMN tool_approval_granted text[] NOT NULL DEFAULT '{}';

    CREATE TABLE chat_tool_approvals (
      chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      call_id text NOT NULL,
      root_chat_id uuid NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
      turn integer NOT NULL,
      step integer NOT NULL,
      message_id bigint REFERENCES chat_messages (id) ON DELETE SET NULL,
      tool_name text NOT NULL,
      args_sha256 text NOT NULL,
      requested_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      decision text CHECK (decision IN ('approved', 'approved_always', 'denied', 'expired')),
      reason text,
      decided_by uuid REFERENCES users (id) ON DELETE SET NULL,
      decided_at timestamptz,
      -- Providers' call ids are unique, but an OpenAI-compatible server may number them per answer.
      PRIMARY KEY (chat_id, turn, step, call_id),
      CHECK ((decision IS NULL) = (decided_at IS NULL))
    );
    CREATE INDEX chat_tool_approvals_call_idx ON chat_tool_approvals (chat_id, call_id);
    CREATE INDEX chat_tool_approvals_message_idx ON chat_tool_approvals (message_id);
    CREATE INDEX chat_tool_approvals_pending_idx ON chat_tool_approvals (root_chat_id) WHERE decision IS NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE chat_tool_approvals;
    ALTER TABLE chats DROP COLUMN tool_approval_ask, DROP COLUMN tool_approval_granted;
  `.execute(db);
}
