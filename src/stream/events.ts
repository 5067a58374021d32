/**
 * The stream event union sent to clients over SSE (docs/stream-events.md). Event `type` strings are
 * public API: add new ones, never rename. Payloads are snake_case like the rest of the HTTP API.
 */
import type { ChatStatus } from '../messages/chat-status';
import type { ErrorPayload } from '../messages/error-payload';
import type { ChatMessagePart } from '../messages/parts';

/** The JSON shape of a persisted message, as GET /messages returns it. */
export interface ChatMessageDto {
  id: number;
  chat_id: string;
  created_by: string | null;
  model_config_id: string | null;
  created_at: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: ChatMessagePart[];
  usage?: {
    input_tokens: number | null;
    output_tokens: number | null;
    total_tokens: number | null;
    reasoning_tokens: number | null;
    cache_creation_tokens: number | null;
    cache_read_tokens: number | null;
    context_limit: number | null;
  };
  total_cost_micros?: number | null;
  runtime_ms?: number | null;
}

export interface ChatQueuedMessageDto {
  id: number;
  chat_id: string;
  content: ChatMessagePart[];
  /** The model config the message was sent with; null: the chat's model when it runs. */
  model_config_id: string | null;
  created_at: string;
}

/** What `diff_status_change` says of a chat's new workspace diff (GET /chats/{id}/diff has the rest). */
export interface DiffStatusSummary {
  git_repository: boolean;
  changed_files: number;
  additions: number;
  deletions: number;
  /** The diff text or the file list was cut. */
  truncated: boolean;
  computed_at: string;
}

/**
 * A tool call that waits, or waited, for the user's approval (docs/tool-approval.md). `chat_id` is the
 * chat whose call it is, which for a sub-agent's call is not the root chat that also shows it.
 */
export interface ToolApprovalDto {
  chat_id: string;
  root_chat_id: string;
  call_id: string;
  tool_name: string;
  turn: number;
  step: number;
  /** The assistant message holding the call (its arguments are there); null once that message is gone. */
  message_id: number | null;
  /** SHA-256 (hex) of the call's arguments as RFC 8785 canonical JSON: what was approved. */
  args_sha256: string;
  requested_at: string;
  expires_at: string;
  /** Null while the call waits. */
  decision: 'approved' | 'approved_always' | 'denied' | 'expired' | null;
  reason: string | null;
  /** The user who decided; null for an expiry, an interrupt or an archive. */
  decided_by: string | null;
  decided_at: string | null;
}

export type StreamEvent =
  | { type: 'status'; chat_id: string; status: ChatStatus }
  | { type: 'message_part'; chat_id: string; role: 'assistant' | 'tool'; part: ChatMessagePart }
  | { type: 'message'; chat_id: string; message: ChatMessageDto }
  | { type: 'queue_update'; chat_id: string; queued_messages: ChatQueuedMessageDto[] }
  | {
      type: 'retry';
      chat_id: string;
      attempt: number;
      delay_ms: number;
      retrying_at: string;
      error: ErrorPayload;
      /** The model the next attempt runs on (another one after a failover); absent when not known. */
      model?: string;
    }
  | ({ type: 'error'; chat_id: string } & ErrorPayload)
  | { type: 'title_change'; chat_id: string; title: string }
  /**
   * History was rewritten (an edit): every message with `id >= from_message_id` is gone, and so is
   * the in-flight partial. The replacement arrives as `message` events. Also sent in the snapshot
   * when the client's cursor points into a deleted run, so a reconnect after an edit stays correct.
   */
  | { type: 'history_truncated'; chat_id: string; from_message_id: number }
  /** The git diff of the chat's workspace changed after a step that may change files (src/workspaces/diff-status.ts). */
  | { type: 'diff_status_change'; chat_id: string; diff_status: DiffStatusSummary }
  /**
   * A tool call waits for the user's approval (POST /chats/{chat_id}/tool-calls/{call_id}/decision, with
   * the approval's own `chat_id`). Also sent on the root chat's stream for a sub-agent's call. `args` is
   * null with `args_omitted` when the arguments are too large for an event: read them from the message.
   */
  | {
      type: 'action_required';
      chat_id: string;
      approval: ToolApprovalDto & { args: unknown; args_omitted?: true };
    }
  /**
   * The chat's turn waits for one of its owner's running-turn slots (the chat stays `pending`); `position` 1
   * starts next. Sent again with the new position each time the turn tries again.
   */
  | { type: 'turn_queued'; chat_id: string; position: number }
  /** A waiting tool call was decided (by the user, its expiry, an interrupt or an archive). */
  | { type: 'action_decided'; chat_id: string; approval: ToolApprovalDto };

export type StreamEventType = StreamEvent['type'];

/** What every watch event says of its chat. */
export interface WatchChat {
  id: string;
  status: ChatStatus;
  title: string;
  parent_chat_id: string | null;
  archived: boolean;
}

/**
 * Lifecycle events of GET /chats/watch, per owner (docs/stream-events.md#watch-stream). Kinds are
 * public API like event types; each kind may add fields to `chat`, never remove them.
 */
export type WatchEvent =
  | { kind: 'created' | 'deleted' | 'title_change'; chat: WatchChat }
  /** `has_unread` is present when a turn ended (src/turn/finish-turn.ts): the answer may have made the chat unread. */
  | { kind: 'status_change'; chat: WatchChat & { has_unread?: boolean } }
  /** The owner's read cursor moved (POST /chats/{id}/read). */
  | { kind: 'read_change'; chat: WatchChat & { has_unread: boolean; last_read_message_id: number | null } }
  /** The chat was pinned, unpinned or moved among the pinned chats; one event per chat whose position changed. */
  | { kind: 'pin_change'; chat: WatchChat & { pin_order: number } };

export type WatchEventKind = WatchEvent['kind'];

/** Out-of-band control messages to the process running a chat's turn (the interrupt fast path). */
export type ControlMessage = { type: 'interrupt'; turn: number };
