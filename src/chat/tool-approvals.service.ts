/**
 * Tool approval as the API drives it (docs/tool-approval.md): a chat's approvals (with its sub-agents'
 * for a root chat), and the user's decision on a waiting call, which the running turn takes or refuses.
 */
import { listApprovals, findApproval } from '../db/repositories/tool-approvals.repository';
import { ConflictError, NotFoundError } from '../errors';
import { toToolApprovalDto } from '../messages/dto';
import type { Actor } from '../security/actor';
import type { ToolApprovalDto } from '../stream/events';
import { getChat, type ChatServiceDeps } from './chat.service';
import type { ToolCallDecisionInput } from './turn-launcher';

/** The approvals GET /chats/{id}/tool-approvals lists. */
export async function listToolApprovals(
  deps: Pick<ChatServiceDeps, 'db'>,
  actor: Actor,
  chatId: string,
  options: { pendingOnly: boolean; limit: number },
): Promise<{ approvals: ToolApprovalDto[] }> {
  const chat = await getChat(deps, actor, chatId);
  const rows = await listApprovals(deps.db, chat.id, {
    includeSubagents: chat.root_chat_id === null,
    pendingOnly: options.pendingOnly,
    limit: options.limit,
  });
  return { approvals: rows.map(toToolApprovalDto) };
}

/**
 * Decides a waiting call of the caller's chat: 404 for an unknown call, 409 `tool_call_not_waiting` for
 * one already decided, expired or no longer waited on (the running turn is the judge, so two racing
 * decisions cannot both win). Returns the approval as decided.
 */
export async function decideToolCall(
  deps: Pick<ChatServiceDeps, 'db' | 'turns'>,
  actor: Actor,
  chatId: string,
  callId: string,
  input: Pick<ToolCallDecisionInput, 'decision' | 'reason'>,
): Promise<ToolApprovalDto> {
  const chat = await getChat(deps, actor, chatId);
  const row = await findApproval(deps.db, chat.id, callId);
  if (!row) throw new NotFoundError('tool_call', 'tool_call_not_found');
  const notWaiting = (decision: string | null) =>
    new ConflictError('tool_call_not_waiting', `Tool call ${callId} is not waiting for a decision.`, {
      decision,
    });
  if (row.decision !== null) throw notWaiting(row.decision);
  const taken = await deps.turns.decideToolCall(chat.id, {
    callId,
    decision: input.decision,
    ...(input.reason !== undefined ? { reason: input.reason } : {}),
    userId: actor.id,
  });
  if (taken === 'not_waiting') throw notWaiting((await findApproval(deps.db, chat.id, callId))?.decision ?? null);
  return {
    ...toToolApprovalDto(row),
    decision: taken.decision,
    reason: taken.decision === 'denied' ? (input.reason ?? null) : null,
    decided_by: actor.id,
    decided_at: taken.decidedAt,
  };
}
