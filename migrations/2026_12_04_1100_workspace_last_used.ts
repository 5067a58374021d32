/**
 * Workspace use and the git diff of a chat's workspace. `workspaces.last_used_at` is when a chat's tools
 * last ran in the workspace (NULL: never), bumped at most once a minute per workspace. `chat_diff_status`
 * holds, per chat, the latest diff of its workspace's git repository as computed on the workspace host
 * after a step whose tools may change files (src/workspaces/diff-status.ts); GET /chats/{id}/diff reads it.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE workspaces ADD COLUMN last_used_at timestamptz;

    CREATE TABLE chat_diff_status (
      chat_id uuid PRIMARY KEY REFERENCES chats (id) ON DELETE CASCADE,
      -- The workspace the diff was computed in; NULL once that workspace row is gone.
      workspace_id uuid REFERENCES workspaces (id) ON DELETE SET NULL,
      -- False when the workspace root is not a git repository (files empty, diff '').
      git_repository boolean NOT NULL,
      -- [{path, old_path?, status, additions, deletions, binary?}], at most the cap of the writer.
      files jsonb NOT NULL,
      files_truncated boolean NOT NULL,
      additions integer NOT NULL CHECK (additions >= 0),
      deletions integer NOT NULL CHECK (deletions >= 0),
      -- Unified diff text, capped by the writer; truncated says whether it was cut.
      diff text NOT NULL,
      truncated boolean NOT NULL,
      -- sha256 of the content above: a new diff is written (and announced) only when it changes.
      content_hash text NOT NULL CHECK (content_hash <> ''),
      computed_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE chat_diff_status;
    ALTER TABLE workspaces DROP COLUMN last_used_at;
  `.execute(db);
}
