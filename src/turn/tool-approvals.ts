/**
 * The database half of waiting for the user's approval (docs/tool-approval.md), below Temporal: the turn
 * records the calls of a step that need approval and moves the chat to `requires_action`, and later
 * records each decision, stores a result for every call that will not run (denied, expired, stopped) and
 * moves the chat back to `running` once nothing waits. The workflow holds the wait itself
 * (workflows/approvals.ts). Both steps are idempotent: a retried activity changes nothing twice.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ChatRow, ChatToolApprovalRow, Database, ToolApprovalDecision } from '../db/database';
import { findMessageByStepKey } from '../db/repositories/messages.repository';
import { findChat } from '../db/repositories/chats.repository';
import { insertPendingApprovals, recordDecisions } from '../db/repositories/tool-approvals.repository';
import { toToolApprovalDto } from '../messages/dto';
import { decodeParts } from '../messages/parts';
import { stepKey } from '../messages/rows';
import { publishStatusChange, type StreamBus } from '../stream/bus';
import type { StepInput } from './deps';
import type { ToolCallSummary } from './model-step';
import { storeToolResults } from './tool-results';

export interface ToolApprovalDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  log?: Logger;
  /** How long a call waits for a decision before it is denied (CHATD_TOOL_APPROVAL_TIMEOUT). */
  approvalTimeoutMs: number;
}

/** Arguments larger than this (as JSON) are left out of `action_required`; clients read the message. */
const MAX_EVENT_ARGS_BYTES = 4096;

export type ApprovalRequestResult =
  | { status: 'ok'; /** How long the workflow waits from now. */ waitMs: number; expiresAt: string }
  | { status: 'fenced' };

/** A decision as the workflow reports it; `stopped` decisions get their reason from the chat's state. */
export interface ToolDecision {
  callId: string;
  toolName: string;
  decision: ToolApprovalDecision;
  /** The user's reason for a denial; null otherwise. */
  reason: string | null;
  decidedBy: string | null;
  /** Workflow time of the decision (ISO 8601). */
  decidedAt: string;
  /** Denied because the turn stopped (interrupt, archive, edit), not by the user. */
  stopped?: boolean;
}

/** SHA-256 (hex) of a call's arguments as RFC 8785 canonical JSON. */
export function argsSha256(args: unknown): string {
  return createHash('sha256')
    .update(canonicalize(args ?? {}) ?? 'null')
    .digest('hex');
}

/**
 * Records `calls` of step `input.step` as waiting for approval and announces them (`action_required` on
 * the chat's stream and its root's, `requires_action` on the chat). `fenced` when the turn is over.
 */
export async function requestToolApprovals(
  deps: ToolApprovalDeps,
  input: StepInput & { calls: ToolCallSummary[] },
): Promise<ApprovalRequestResult> {
  const chat = await findChat(deps.db, input.chatId);
  const message = await findMessageByStepKey(deps.db, input.chatId, stepKey(input.turn, input.step, 'assistant'));
  if (!chat || chat.turn !== input.turn || !message) return { status: 'fenced' };
  const args = new Map(
    decodeParts(message.content)
      .filter((p) => p.type === 'tool-call' && p.tool_call_id)
      .map((p) => [p.tool_call_id!, p.args ?? {}] as const),
  );
  const now = new Date();
  const requested = new Date(now.getTime() + deps.approvalTimeoutMs);
  const written = await deps.db.transaction().execute((trx) =>
    insertPendingApprovals(
      trx,
      chat,
      { turn: input.turn, step: input.step, messageId: message.id },
      input.calls.map((c) => ({ callId: c.id, toolName: c.name, argsSha256: argsSha256(args.get(c.id)) })),
      now,
      requested,
    ),
  );
  if (!written) return { status: 'fenced' };
  if (written.changed) publishStatusChange(deps.bus, written.changed);
  for (const row of written.rows.filter((r) => r.decision === null)) {
    const callArgs = args.get(row.call_id) ?? {};
    const small = Buffer.byteLength(JSON.stringify(callArgs)) <= MAX_EVENT_ARGS_BYTES;
    const approval = {
      ...toToolApprovalDto(row),
      ...(small ? { args: callArgs } : { args: null, args_omitted: true as const }),
    };
    for (const streamChat of streams(row)) {
      deps.bus.publish(streamChat, { type: 'action_required', chat_id: streamChat, approval });
    }
  }
  const expiresAt = written.rows.reduce((at, r) => Math.min(at, r.expires_at.getTime()), requested.getTime());
  return { status: 'ok', waitMs: Math.max(0, expiresAt - Date.now()), expiresAt: new Date(expiresAt).toISOString() };
}

/**
 * Records `decisions` on calls of step `input.step`, stores the result of each call that will not run
 * and, when `settled` (nothing waits any more), moves the chat back to `running`.
 */
export async function recordToolDecisions(
  deps: ToolApprovalDeps,
  input: StepInput & { decisions: ToolDecision[]; settled: boolean },
): Promise<{ status: 'ok' | 'fenced' }> {
  const chat = await findChat(deps.db, input.chatId);
  if (!chat) return { status: 'fenced' };
  // A stop's decisions get their reason from the chat's state.
  const stoppedReason = stoppedBecause(chat, input.turn);
  const decided = input.decisions.map((d) => (d.stopped ? { ...d, reason: stoppedReason } : d));
  const { rows, statusChanged } = await deps.db.transaction().execute((trx) =>
    recordDecisions(
      trx,
      input.chatId,
      input,
      decided.map((d) => ({ ...d, decidedAt: new Date(d.decidedAt) })),
      input.settled,
    ),
  );
  // Every call that will not run gets its result, whether or not this attempt recorded the decision; the
  // result is stored before the decision is announced, so a client that sees `action_decided` finds it.
  const notRun = decided.filter((d) => d.decision === 'denied' || d.decision === 'expired');
  const stored =
    notRun.length === 0
      ? 0
      : await storeToolResults(
          deps,
          input,
          notRun.map((d) => ({ id: d.callId, name: d.toolName, result: { error: notRunMessage(d) }, isError: true })),
        );
  if (statusChanged) publishStatusChange(deps.bus, statusChanged);
  for (const row of rows) {
    for (const streamChat of streams(row)) {
      deps.bus.publish(streamChat, { type: 'action_decided', chat_id: streamChat, approval: toToolApprovalDto(row) });
    }
  }
  return { status: stored === null ? 'fenced' : 'ok' };
}

/** What the model reads for a call that did not run. */
export function notRunMessage(d: Pick<ToolDecision, 'decision' | 'reason' | 'stopped'>): string {
  if (d.decision === 'expired') return `Not run: nobody approved this tool call in time (${d.reason ?? 'expired'}).`;
  if (d.stopped) return `Not run: ${d.reason ?? 'the turn stopped'} before this tool call was approved.`;
  return d.reason
    ? `Not run: the user denied this tool call, saying: ${d.reason}`
    : 'Not run: the user denied this tool call.';
}

/** Why calls waiting in turn `turn` were denied when it stopped. */
function stoppedBecause(chat: ChatRow, turn: number): string {
  if (chat.archived) return 'the chat was archived';
  if (chat.turn !== turn) return 'the conversation was edited';
  return 'the user interrupted the turn';
}

/** The chats whose streams show an approval: its own, and its root's for a sub-agent's call. */
const streams = (row: ChatToolApprovalRow): string[] =>
  row.root_chat_id === row.chat_id ? [row.chat_id] : [row.chat_id, row.root_chat_id];
