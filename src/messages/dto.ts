/**
 * Row → JSON mappers for the HTTP API and stream events. Internal part fields never leave here.
 */
import type { ChatMessageRow, ChatQueuedMessageRow, ChatRow, ChatToolApprovalRow } from '../db/database';
import type { ChatMessageDto, ChatQueuedMessageDto, ToolApprovalDto, WatchChat } from '../stream/events';
import { decodeParts, stripInternal } from './parts';

export interface ChatDto {
  id: string;
  owner_id: string;
  parent_chat_id: string | null;
  root_chat_id: string;
  workspace_id: string | null;
  last_model_config_id: string;
  title: string;
  status: ChatRow['status'];
  last_error: string | null;
  last_error_kind: string | null;
  archived: boolean;
  /** 0: not pinned; otherwise the chat's 1-based position among the owner's pinned chats. */
  pin_order: number;
  /** A user-visible assistant message newer than `last_read_message_id` exists. */
  has_unread: boolean;
  /** The owner's read cursor (a message id); null until the chat is first marked read. */
  last_read_message_id: number | null;
  labels: Record<string, string>;
  mcp_server_ids: string[];
  /** What this chat adds to the admin's approval policy (docs/tool-approval.md). */
  tool_approval: { ask: string[]; granted: string[] };
  /** Set while the chat's turn waits for one of its owner's running-turn slots (`turn_queued` events say where). */
  waiting_for_slot_since: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/** `hasUnread` is computed in SQL with the row (chatHasUnread and the listing queries in chats.repository.ts). */
export function toChatDto(row: ChatRow, hasUnread: boolean): ChatDto {
  return {
    id: row.id,
    owner_id: row.owner_id,
    parent_chat_id: row.parent_chat_id,
    // Roots store NULL; the API reports a root chat as its own root.
    root_chat_id: row.root_chat_id ?? row.id,
    workspace_id: row.workspace_id,
    last_model_config_id: row.last_model_config_id,
    title: row.title,
    status: row.status,
    last_error: row.last_error,
    last_error_kind: row.last_error_kind,
    archived: row.archived,
    pin_order: row.pin_order,
    has_unread: hasUnread,
    last_read_message_id: row.last_read_message_id,
    labels: row.labels,
    mcp_server_ids: row.mcp_server_ids,
    tool_approval: { ask: row.tool_approval_ask, granted: row.tool_approval_granted },
    waiting_for_slot_since: row.awaiting_slot_since === null ? null : iso(row.awaiting_slot_since),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

export function toMessageDto(row: ChatMessageRow): ChatMessageDto {
  const dto: ChatMessageDto = {
    id: row.id,
    chat_id: row.chat_id,
    created_by: row.created_by,
    model_config_id: row.model_config_id,
    created_at: iso(row.created_at),
    role: row.role,
    content: decodeParts(row.content).map(stripInternal),
  };
  if (row.role === 'assistant') {
    dto.usage = {
      input_tokens: row.input_tokens,
      output_tokens: row.output_tokens,
      total_tokens: row.total_tokens,
      reasoning_tokens: row.reasoning_tokens,
      cache_creation_tokens: row.cache_creation_tokens,
      cache_read_tokens: row.cache_read_tokens,
      context_limit: row.context_limit,
    };
    dto.total_cost_micros = row.total_cost_micros;
    dto.runtime_ms = row.runtime_ms;
  }
  return dto;
}

export function toQueuedDto(row: ChatQueuedMessageRow): ChatQueuedMessageDto {
  return {
    id: row.id,
    chat_id: row.chat_id,
    content: decodeParts(row.content).map(stripInternal),
    model_config_id: row.model_config_id,
    created_at: iso(row.created_at),
  };
}

export function toToolApprovalDto(row: ChatToolApprovalRow): ToolApprovalDto {
  return {
    chat_id: row.chat_id,
    root_chat_id: row.root_chat_id,
    call_id: row.call_id,
    tool_name: row.tool_name,
    turn: row.turn,
    step: row.step,
    message_id: row.message_id === null ? null : Number(row.message_id),
    args_sha256: row.args_sha256,
    requested_at: iso(row.requested_at),
    expires_at: iso(row.expires_at),
    decision: row.decision,
    reason: row.reason,
    decided_by: row.decided_by,
    decided_at: row.decided_at === null ? null : iso(row.decided_at),
  };
}

/** What every watch event says of a chat. */
export function toWatchChat(row: Pick<ChatRow, 'id' | 'status' | 'title' | 'parent_chat_id' | 'archived'>): WatchChat {
  return {
    id: row.id,
    status: row.status,
    title: row.title,
    parent_chat_id: row.parent_chat_id,
    archived: row.archived,
  };
}
