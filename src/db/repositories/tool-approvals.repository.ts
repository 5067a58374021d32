/**
 * Tool calls waiting for, or decided by, the user (chat_tool_approvals; docs/tool-approval.md). The turn
 * writes them (src/turn/tool-approvals.ts); the API reads them (src/chat/tool-approvals.service.ts).
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { ChatRow, ChatToolApprovalRow, Database, ToolApprovalDecision } from '../database';

type Db = Kysely<Database> | Transaction<Database>;

/** What the turn knows of a call when it starts waiting. */
export interface NewToolApproval {
  callId: string;
  toolName: string;
  argsSha256: string;
}

/**
 * Records the calls of a step as asked at `requestedAt` and waiting until `expiresAt` (a retried request
 * keeps the rows and the expiry it wrote first) and moves a chat still running turn `turn` to `requires_action`. Returns the
 * calls' rows and the chat row when its status changed, or null when the turn is no longer the chat's.
 */
export async function insertPendingApprovals(
  trx: Transaction<Database>,
  chat: Pick<ChatRow, 'id' | 'root_chat_id'>,
  at: { turn: number; step: number; messageId: number | null },
  calls: NewToolApproval[],
  requestedAt: Date,
  expiresAt: Date,
): Promise<{ rows: ChatToolApprovalRow[]; changed: ChatRow | null } | null> {
  const locked = await trx.selectFrom('chats').selectAll().where('id', '=', chat.id).forUpdate().executeTakeFirst();
  if (!locked || locked.turn !== at.turn) return null;
  await trx
    .insertInto('chat_tool_approvals')
    .values(
      calls.map((call) => ({
        chat_id: chat.id,
        call_id: call.callId,
        root_chat_id: chat.root_chat_id ?? chat.id,
        turn: at.turn,
        step: at.step,
        message_id: at.messageId,
        tool_name: call.toolName,
        args_sha256: call.argsSha256,
        requested_at: requestedAt,
        expires_at: expiresAt,
      })),
    )
    .onConflict((oc) => oc.columns(['chat_id', 'turn', 'step', 'call_id']).doNothing())
    .execute();
  const rows = await trx
    .selectFrom('chat_tool_approvals')
    .selectAll()
    .where('chat_id', '=', chat.id)
    .where('turn', '=', at.turn)
    .where('step', '=', at.step)
    .where(
      'call_id',
      'in',
      calls.map((c) => c.callId),
    )
    .execute();
  const changed =
    locked.status === 'running'
      ? await trx
          .updateTable('chats')
          .set({ status: 'requires_action', updated_at: sql`now()` })
          .where('id', '=', chat.id)
          .returningAll()
          .executeTakeFirstOrThrow()
      : null;
  return { rows, changed };
}

/** One decision as the turn records it. */
export interface ToolDecisionRecord {
  callId: string;
  decision: ToolApprovalDecision;
  reason: string | null;
  decidedBy: string | null;
  decidedAt: Date;
}

/**
 * Records decisions on calls still waiting (a decision never overwrites another), grants the tools of
 * `approved_always` decisions for the rest of the chat and, when `settled`, moves a chat of turn `turn`
 * that is still `requires_action` back to `running`. Returns the decided rows and the chat row when its
 * status changed.
 */
export async function recordDecisions(
  trx: Transaction<Database>,
  chatId: string,
  at: { turn: number; step: number },
  decisions: ToolDecisionRecord[],
  settled: boolean,
): Promise<{ rows: ChatToolApprovalRow[]; statusChanged: ChatRow | null }> {
  const rows: ChatToolApprovalRow[] = [];
  for (const d of decisions) {
    const row = await trx
      .updateTable('chat_tool_approvals')
      .set({ decision: d.decision, reason: d.reason, decided_by: d.decidedBy, decided_at: d.decidedAt })
      .where('chat_id', '=', chatId)
      .where('turn', '=', at.turn)
      .where('step', '=', at.step)
      .where('call_id', '=', d.callId)
      .where('decision', 'is', null)
      .returningAll()
      .executeTakeFirst();
    if (row) rows.push(row);
  }
  const granted = [...new Set(rows.filter((r) => r.decision === 'approved_always').map((r) => r.tool_name))];
  if (granted.length > 0) {
    await trx
      .updateTable('chats')
      .set({ tool_approval_granted: sql<string[]>`array(select distinct unnest(tool_approval_granted || ${granted}))` })
      .where('id', '=', chatId)
      .execute();
  }
  const statusChanged = settled
    ? ((await trx
        .updateTable('chats')
        .set({ status: 'running', updated_at: sql`now()` })
        .where('id', '=', chatId)
        .where('turn', '=', at.turn)
        .where('status', '=', 'requires_action')
        .returningAll()
        .executeTakeFirst()) ?? null)
    : null;
  return { rows, statusChanged };
}

/** A chat's newest approval of a call id (one still waiting first, should an id come back in a later step). */
export async function findApproval(db: Db, chatId: string, callId: string): Promise<ChatToolApprovalRow | undefined> {
  return db
    .selectFrom('chat_tool_approvals')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('call_id', '=', callId)
    .orderBy(sql`decision is null`, 'desc')
    .orderBy('turn', 'desc')
    .orderBy('step', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * A chat's approvals, newest first: its own, and with `includeSubagents` those of its sub-agents too
 * (a root chat sees every call of its tree waiting). `pendingOnly` keeps the calls still waiting.
 */
export async function listApprovals(
  db: Db,
  chatId: string,
  options: { includeSubagents: boolean; pendingOnly: boolean; limit: number },
): Promise<ChatToolApprovalRow[]> {
  let query = db.selectFrom('chat_tool_approvals').selectAll();
  query = options.includeSubagents
    ? query.where((eb) => eb.or([eb('chat_id', '=', chatId), eb('root_chat_id', '=', chatId)]))
    : query.where('chat_id', '=', chatId);
  if (options.pendingOnly) query = query.where('decision', 'is', null);
  return query.orderBy('requested_at', 'desc').orderBy('call_id').limit(options.limit).execute();
}

/** The approvals of the calls in the given assistant messages (shown with the messages). */
export async function listApprovalsForMessages(
  db: Db,
  chatId: string,
  messageIds: number[],
): Promise<ChatToolApprovalRow[]> {
  if (messageIds.length === 0) return [];
  return db
    .selectFrom('chat_tool_approvals')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('message_id', 'in', messageIds)
    .execute();
}
