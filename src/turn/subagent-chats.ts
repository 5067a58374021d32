/**
 * Sub-agents: a root chat's agent can start child chats that work in parallel.
 * This module holds the database side: creating the child chat (idempotently, so a retried
 * activity never creates two), the descendant check, the child's state and answer, and follow-up
 * messages. The orchestration (child workflow, durable wait) lives in the turn workflow.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { ChatRow } from '../db/database';
import { findChat } from '../db/repositories/chats.repository';
import { findMessageByStepKey, insertMessages } from '../db/repositories/messages.repository';
import { findWorkspace } from '../db/repositories/workspaces.repository';
import { WAIT_AGENT_DEFAULT_SECONDS } from '../tools/subagent-names';
import { CloseAgentArgs, MessageAgentArgs, SpawnAgentArgs, WaitAgentArgs } from '../tools/subagent.tools';
import { interruptChat, sendMessage, type ChatServiceDeps } from '../chat/chat.service';
import { toMessageDto } from '../messages/dto';
import { decodeParts } from '../messages/parts';
import { messageRow, stepKey } from '../messages/rows';
import { fallbackTitle, normalizeTitle } from '../chat/title';
import { workspaceAwarenessRow } from '../chat/workspace-awareness';
import { UsageLimitExceededError } from '../usage/limits';

export interface SubagentCall {
  chatId: string;
  turn: number;
  step: number;
  callId: string;
}

export interface SpawnedChild {
  chatId: string;
  ownerId: string;
  rootChatId: string;
  modelConfigId: string;
}

export type SubagentResult = { result: Record<string, unknown>; isError: boolean };

const fail = (error: string): SubagentResult => ({ result: { error }, isError: true });

/** A stable chat id per (parent, tool call): a retried spawn finds the chat it already created. */
export function childChatId(parentId: string, callId: string): string {
  const h = createHash('sha256').update(`${parentId}:${callId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

async function callArgs<T extends z.ZodType>(
  deps: Pick<ChatServiceDeps, 'db'>,
  call: SubagentCall,
  schema: T,
): Promise<z.infer<T> | string> {
  const message = await findMessageByStepKey(deps.db, call.chatId, stepKey(call.turn, call.step, 'assistant'));
  const part =
    message && decodeParts(message.content).find((p) => p.type === 'tool-call' && p.tool_call_id === call.callId);
  if (!part) return 'The tool call was not found.';
  const parsed = schema.safeParse(part.args);
  return parsed.success ? parsed.data : `Invalid arguments: ${parsed.error.issues.map((i) => i.message).join('; ')}`;
}

/** The child if `childId` is a sub-agent of `parentId` (descendants only; other chats are "not found"). */
async function ownChild(deps: Pick<ChatServiceDeps, 'db'>, parentId: string, childId: string): Promise<ChatRow | null> {
  const child = await findChat(deps.db, childId);
  return child && child.parent_chat_id === parentId && child.id !== parentId ? child : null;
}

/**
 * The error result of a spawn over the owner's spend limit, or null. A retried spawn whose first attempt
 * created the child already goes on with it: that child was accepted under the limit.
 */
async function spendLimitRefusal(
  deps: ChatServiceDeps,
  ownerId: string,
  childId: string,
): Promise<SubagentResult | null> {
  try {
    await deps.usage?.assertWithinLimit(ownerId);
    return null;
  } catch (err) {
    if (!(err instanceof UsageLimitExceededError)) throw err;
    return (await findChat(deps.db, childId)) ? null : fail(err.message);
  }
}

/**
 * Creates the child chat with its first messages (status pending, turn 1): the model-only workspace
 * awareness message (the parent's workspace, which the child shares) and the prompt. Depth 1:
 * children cannot spawn.
 */
export async function spawnSubagent(
  deps: ChatServiceDeps,
  call: SubagentCall,
): Promise<{ child: SpawnedChild } | { error: SubagentResult }> {
  const parent = await findChat(deps.db, call.chatId);
  if (!parent) return { error: fail('The chat no longer exists.') };
  if (parent.parent_chat_id) return { error: fail('Sub-agents cannot start sub-agents of their own.') };
  const args = await callArgs(deps, call, SpawnAgentArgs);
  if (typeof args === 'string') return { error: fail(args) };

  const id = childChatId(parent.id, call.callId);
  const refused = await spendLimitRefusal(deps, parent.owner_id, id);
  if (refused) return { error: refused };
  const rootChatId = parent.root_chat_id ?? parent.id;
  const created = await deps.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('chats')
      .values({
        id,
        owner_id: parent.owner_id,
        workspace_id: parent.workspace_id,
        parent_chat_id: parent.id,
        root_chat_id: rootChatId,
        last_model_config_id: parent.last_model_config_id,
        title: normalizeTitle(args.title ?? '') || fallbackTitle(args.prompt),
        status: 'pending',
        turn: 1,
        last_error: null,
        last_error_kind: null,
        labels: JSON.stringify({}),
        // The child uses its parent's MCP servers and asks about every tool its parent asks about.
        mcp_server_ids: parent.mcp_server_ids,
        tool_approval_ask: parent.tool_approval_ask,
        mode: null,
        last_read_message_id: null,
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    const workspace = row.workspace_id ? await findWorkspace(trx, row.workspace_id) : undefined;
    const attached = workspace && workspace.owner_id === row.owner_id && workspace.status !== 'deleted';
    const inserted = await insertMessages(trx, [
      workspaceAwarenessRow(row, attached ? workspace : null, true),
      messageRow({
        chatId: id,
        turn: 1,
        role: 'user',
        content: [{ type: 'text', text: args.prompt }],
        modelConfigId: row.last_model_config_id,
        createdBy: row.owner_id,
      }),
    ]);
    return { row, message: inserted.find((m) => m.role === 'user')! };
  });
  if (created) {
    deps.bus.publish(id, { type: 'message', chat_id: id, message: toMessageDto(created.message) });
    deps.bus.publishWatch(parent.owner_id, {
      kind: 'created',
      chat: { id, status: 'pending', title: created.row.title, parent_chat_id: parent.id, archived: false },
    });
  }
  return { child: { chatId: id, ownerId: parent.owner_id, rootChatId, modelConfigId: parent.last_model_config_id } };
}

export interface SubagentState {
  found: boolean;
  status?: ChatRow['status'];
  /** The child is idle: its last turn ended (waiting or error). */
  done?: boolean;
  /** The child's last answer, cut to a summary size (it also stays readable in the child chat). */
  answer?: string;
  error?: string | null;
}

const ANSWER_LIMIT = 4000;

export async function subagentState(
  deps: Pick<ChatServiceDeps, 'db'>,
  parentId: string,
  childId: string,
): Promise<SubagentState> {
  const child = await ownChild(deps, parentId, childId);
  if (!child) return { found: false };
  const done = child.status === 'waiting' || child.status === 'error';
  const last = await deps.db
    .selectFrom('chat_messages')
    .select('content')
    .where('chat_id', '=', child.id)
    .where('role', '=', 'assistant')
    .where('deleted', '=', false)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  const text = last
    ? decodeParts(last.content)
        .filter((p) => p.type === 'text')
        .map((p) => p.text)
        .join('')
    : '';
  return {
    found: true,
    status: child.status,
    done,
    answer:
      text.length > ANSWER_LIMIT
        ? `${text.slice(0, ANSWER_LIMIT)}\u2026 (truncated; the full answer is in chat ${child.id})`
        : text,
    error: child.last_error,
  };
}

/** message_agent: queues the message on the child and interrupts its running turn so it is read next. */
export async function messageSubagent(deps: ChatServiceDeps, call: SubagentCall): Promise<SubagentResult> {
  const args = await callArgs(deps, call, MessageAgentArgs);
  if (typeof args === 'string') return fail(args);
  const child = await ownChild(deps, call.chatId, args.chat_id);
  if (!child) return fail('No sub-agent with that chat id belongs to this chat.');
  const sent = await sendMessage(deps, { id: child.owner_id, role: 'member' }, child.id, {
    content: [{ type: 'text', text: args.message }],
    busy_behavior: 'interrupt',
  }).catch((err: unknown) => {
    // Over the spend limit the model is told so; anything else fails the activity (and is retried).
    if (err instanceof UsageLimitExceededError) return fail(err.message);
    throw err;
  });
  if ('isError' in sent) return sent;
  return { result: { chat_id: child.id, delivered: true, queued: sent.queued }, isError: false };
}

/** wait_agent's arguments, resolved: the child (a descendant) with its state, or an error result. */
export async function prepareWaitAgent(
  deps: Pick<ChatServiceDeps, 'db'>,
  call: SubagentCall,
): Promise<{ childChatId: string; timeoutSeconds: number; state: SubagentState } | { error: SubagentResult }> {
  const args = await callArgs(deps, call, WaitAgentArgs);
  if (typeof args === 'string') return { error: fail(args) };
  const state = await subagentState(deps, call.chatId, args.chat_id);
  if (!state.found) return { error: fail('No sub-agent with that chat id belongs to this chat.') };
  return { childChatId: args.chat_id, timeoutSeconds: args.timeout_seconds ?? WAIT_AGENT_DEFAULT_SECONDS, state };
}

/** close_agent: stops the child's running turn; its chat stays. */
export async function closeSubagent(deps: ChatServiceDeps, call: SubagentCall): Promise<SubagentResult> {
  const args = await callArgs(deps, call, CloseAgentArgs);
  if (typeof args === 'string') return fail(args);
  const child = await ownChild(deps, call.chatId, args.chat_id);
  if (!child) return fail('No sub-agent with that chat id belongs to this chat.');
  const chat = await interruptChat(deps, { id: child.owner_id, role: 'member' }, child.id);
  return { result: { chat_id: child.id, status: chat.status }, isError: false };
}
