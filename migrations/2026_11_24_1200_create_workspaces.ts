/**
 * Workspaces chats work in. A row records which provider built the workspace,
 * from which template, and the provider's own id for it (`provider_ref`); the provider stays the source
 * of truth for the lifecycle and `status` mirrors it. `chats.workspace_id` becomes a real foreign key.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE workspaces (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      -- No CHECK on provider: a new provider kind must not need a migration.
      provider text NOT NULL CHECK (provider <> ''),
      template_id text NOT NULL,
      name text NOT NULL,
      status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped', 'deleted')),
      provider_ref text NOT NULL CHECK (provider_ref <> ''),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX workspaces_owner_id_idx ON workspaces (owner_id);
    CREATE UNIQUE INDEX workspaces_provider_ref_key ON workspaces (provider, provider_ref);

    -- Before this migration no workspace existed, so any value in the column points at nothing.
    UPDATE chats SET workspace_id = NULL WHERE workspace_id IS NOT NULL;
    ALTER TABLE chats
      ADD CONSTRAINT chats_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE SET NULL;
    CREATE INDEX chats_workspace_id_idx ON chats (workspace_id) WHERE workspace_id IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP INDEX chats_workspace_id_idx;
    ALTER TABLE chats DROP CONSTRAINT chats_workspace_id_fkey;
    DROP TABLE workspaces;
  `.execute(db);
}
