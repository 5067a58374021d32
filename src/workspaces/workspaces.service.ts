/**
 * Workspaces as the API shows them to their owner. The rows are kept by the workers that run the
 * workspaces (src/workspaces/chat-workspaces.ts); this side only reads them.
 */
import type { Kysely } from 'kysely';
import type { Database, WorkspaceRow } from '../db/database';
import { listWorkspacesForOwner } from '../db/repositories/workspaces.repository';

/** A workspace in GET /workspaces. */
export interface WorkspaceDto {
  id: string;
  name: string;
  template_id: string;
  status: WorkspaceRow['status'];
  created_at: string;
  last_used_at: string | null;
}

export function toWorkspaceDto(row: WorkspaceRow): WorkspaceDto {
  return {
    id: row.id,
    name: row.name,
    template_id: row.template_id,
    status: row.status,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at ? row.last_used_at.toISOString() : null,
  };
}

/** The actor's workspaces that are not deleted, newest first. */
export async function listWorkspaces(deps: { db: Kysely<Database> }, actor: { id: string }): Promise<WorkspaceDto[]> {
  return (await listWorkspacesForOwner(deps.db, actor.id)).map(toWorkspaceDto);
}
