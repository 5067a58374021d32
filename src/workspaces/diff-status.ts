/**
 * The git diff of a chat's workspace as the API serves it. The tool step refreshes it on the workspace
 * host after a step whose tools may have changed files (one git run, src/workspaces/git-diff.ts),
 * stores it per chat and publishes `diff_status_change` when its content changed; GET /chats/{id}/diff
 * only reads the stored row, so the API never reaches the workspace host.
 *
 * Attribution: the diff is stored for the chat whose tools ran. A sub-agent works in its parent's
 * workspace, so its edits show in its own diff at once and in the parent's after the parent's next
 * file-changing step.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ChatDiffStatusRow, Database, DiffFileJson } from '../db/database';
import { findDiffStatusForOwner, upsertDiffStatus } from '../db/repositories/diff-status.repository';
import { NotFoundError } from '../errors';
import type { StreamBus } from '../stream/bus';
import type { DiffStatusSummary } from '../stream/events';
import { computeWorkspaceDiff, diffContentHash, DIFF_TIMEOUT_MS, GitDiffError, NO_REPOSITORY } from './git-diff';
import type { Workspace } from './types';

/**
 * Tools whose calls may change the workspace's files: the file writers, commands, and the process
 * tools (a background process keeps changing files while the model looks at it).
 */
export const FILE_CHANGING_TOOLS: ReadonlySet<string> = new Set([
  'write_file',
  'edit_files',
  'execute',
  'process_output',
  'process_list',
  'process_signal',
]);

/** Tools that give the chat a workspace (or start one), whose template may already hold changes. */
export const WORKSPACE_PROVISIONING_TOOLS: ReadonlySet<string> = new Set(['create_workspace', 'start_workspace']);

/** GET /chats/{id}/diff. */
export interface ChatDiffDto {
  chat_id: string;
  /** The workspace the diff was computed in; the chat's workspace when none was computed yet. */
  workspace_id: string | null;
  git_repository: boolean;
  files: DiffFileJson[];
  files_truncated: boolean;
  additions: number;
  deletions: number;
  diff: string;
  truncated: boolean;
  /** When this diff was computed; null when none was (no workspace, or no file-changing step yet). */
  computed_at: string | null;
}

export interface DiffStatusDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  log?: Logger;
}

/** The hash of "no repository", which a chat without a stored diff also shows: storing it is no change. */
const EMPTY_HASH = diffContentHash(NO_REPOSITORY);

/**
 * Computes the diff of `workspace` (the row `workspaceId`) for `chatId`, stores it and publishes
 * `diff_status_change` when it differs from the stored one. Never throws: a failed git run or write
 * keeps the previous diff (the next file-changing step tries again). Resolves with whether an event
 * was published.
 */
export async function refreshDiffStatus(
  deps: DiffStatusDeps,
  chatId: string,
  workspaceId: string,
  workspace: Workspace,
  options: { timeoutMs?: number } = {},
): Promise<boolean> {
  try {
    const diff = await computeWorkspaceDiff(workspace, { timeoutMs: options.timeoutMs ?? DIFF_TIMEOUT_MS });
    const hash = diffContentHash(diff);
    const stored = await upsertDiffStatus(deps.db, {
      chat_id: chatId,
      workspace_id: workspaceId,
      git_repository: diff.gitRepository,
      files: diff.files,
      files_truncated: diff.filesTruncated,
      additions: diff.additions,
      deletions: diff.deletions,
      diff: diff.diff,
      truncated: diff.truncated,
      content_hash: hash,
    });
    if (!stored || (stored.inserted && hash === EMPTY_HASH)) return false;
    deps.bus.publish(chatId, { type: 'diff_status_change', chat_id: chatId, diff_status: summaryOf(stored) });
    return true;
  } catch (err) {
    if (err instanceof GitDiffError) deps.log?.debug({ err, chatId }, 'workspace diff not computed');
    else deps.log?.warn({ err, chatId }, 'workspace diff refresh failed');
    return false;
  }
}

/** The small summary a `diff_status_change` event carries (the full diff is read with GET). */
export function summaryOf(row: ChatDiffStatusRow): DiffStatusSummary {
  return {
    git_repository: row.git_repository,
    changed_files: row.files.length,
    additions: row.additions,
    deletions: row.deletions,
    truncated: row.truncated || row.files_truncated,
    computed_at: row.computed_at.toISOString(),
  };
}

/** The chat's stored diff for its owner; 404 `chat_not_found` for anyone else. */
export async function getChatDiff(
  deps: { db: Kysely<Database> },
  actor: { id: string },
  chatId: string,
): Promise<ChatDiffDto> {
  const found = await findDiffStatusForOwner(deps.db, chatId, actor.id);
  if (!found) throw new NotFoundError('chat');
  const row = found.diff;
  if (!row) {
    return {
      chat_id: chatId,
      workspace_id: found.workspaceId,
      git_repository: false,
      files: [],
      files_truncated: false,
      additions: 0,
      deletions: 0,
      diff: '',
      truncated: false,
      computed_at: null,
    };
  }
  return {
    chat_id: chatId,
    workspace_id: row.workspace_id,
    git_repository: row.git_repository,
    files: row.files,
    files_truncated: row.files_truncated,
    additions: row.additions,
    deletions: row.deletions,
    diff: row.diff,
    truncated: row.truncated,
    computed_at: row.computed_at.toISOString(),
  };
}
