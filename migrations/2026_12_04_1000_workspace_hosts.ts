/**
 * Workspace hosts: the worker host that built a workspace (`CHATD_WORKSPACE_HOST_ID`, see README
 * "Workspace hosts"). Tool calls of a chat whose workspace has a host run on that host's own task
 * queue, and only that host may conclude the workspace is gone. Rows from before this migration
 * have no host (NULL) and keep the old behaviour: any worker serves them.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE workspaces ADD COLUMN host_id text CHECK (host_id <> '')`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE workspaces DROP COLUMN host_id`.execute(db);
}
