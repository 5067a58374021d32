/**
 * The stream event union sent to clients over SSE (docs/stream-events.md), and the wire shapes it
 * carries (messages, queued messages, tool approvals). The zod schemas here are the one definition:
 * the TypeScript types are inferred from them, and the OpenAPI document (src/api/openapi.ts) names
 * them as components (`.meta({ id })`), so the generated client sees the same shapes. Event `type`
 * strings and watch `kind`s are public API: add new ones, never rename. Payloads are snake_case like
 * the rest of the HTTP API.
 */
import { z } from 'zod';
import type { ChatStatus } from '../messages/chat-status';
import type { ErrorPayload } from '../messages/error-payload';
import type { ChatMessagePart } from '../messages/parts';

/** True when A and B are the same type; a mismatch fails to compile where it is asserted. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(proof: Same<A, B>): Same<A, B> => proof;

const timestamp = z.iso.datetime({ offset: true });

/** src/messages/chat-status.ts (import-free for the workflow sandbox) keeps the TypeScript union. */
export const chatStatusSchema = z
  .enum(['waiting', 'pending', 'running', 'paused', 'completed', 'error', 'requires_action'])
  .meta({ id: 'ChatStatus', description: 'A chat’s status; new values may be added.' });
same<z.infer<typeof chatStatusSchema>, ChatStatus>(true);

/** src/messages/error-payload.ts (import-free for the workflow sandbox) keeps the TypeScript interface. */
export const errorPayloadSchema = z
  .object({
    message: z.string().describe('Safe to show to the user.'),
    kind: z.string().describe('The classified kind (`rate_limit`, `usage_limit`, `generic`, …).'),
    provider: z
      .string()
      .nullable()
      .describe('The provider that failed, or null when the failure was not a provider’s.'),
    retryable: z.boolean(),
    status_code: z.number().int().nullable().describe('The provider’s HTTP status, when it answered with one.'),
  })
  .meta({ id: 'ErrorPayload', description: 'A classified failure, as a user is shown it.' });
same<z.infer<typeof errorPayloadSchema>, ErrorPayload>(true);

/**
 * One part of a message as clients see it (src/messages/parts.ts; its internal fields `signature`
 * and `provider_metadata` are never published). Which fields a part carries depends on its `type`.
 */
export const messagePartSchema = z
  .object({
    type: z.enum(['text', 'reasoning', 'tool-call', 'tool-result', 'source', 'file', 'file-reference', 'context-file']),
    text: z.string().optional(),
    tool_call_id: z.string().optional(),
    tool_name: z.string().optional(),
    mcp_server_config_id: z.string().optional(),
    args: z.unknown().optional(),
    args_delta: z.string().optional().describe('A streamed piece of a tool call’s arguments (`message_part` only).'),
    result: z.unknown().optional(),
    result_delta: z.string().optional().describe('A streamed piece of a tool result (`message_part` only).'),
    is_error: z.boolean().optional(),
    is_media: z.boolean().optional(),
    provider_executed: z.boolean().optional(),
    source_id: z.string().optional(),
    url: z.string().optional(),
    title: z.string().optional(),
    media_type: z.string().optional(),
    data: z.string().optional().describe('Inline base64 bytes of a file part that is not a stored file.'),
    file_id: z.string().optional(),
    file_name: z.string().optional(),
    start_line: z.number().int().optional(),
    end_line: z.number().int().optional(),
    content: z.string().optional(),
    context_file_path: z.string().optional(),
  })
  .meta({ id: 'ChatMessagePart', description: 'One part of a message; which fields it carries depends on `type`.' });
export type ChatMessagePartDto = z.infer<typeof messagePartSchema>;
same<ChatMessagePartDto, Omit<ChatMessagePart, 'signature' | 'provider_metadata'>>(true);

const tokenCount = z.number().int().nullable();

/** The JSON shape of a persisted message, as GET /messages returns it. */
export const chatMessageSchema = z
  .object({
    id: z.number().int(),
    chat_id: z.uuid(),
    created_by: z.uuid().nullable().describe('The user who sent it; null for the agent’s messages.'),
    model_config_id: z.uuid().nullable(),
    created_at: timestamp,
    role: z.enum(['system', 'user', 'assistant', 'tool']),
    content: z.array(messagePartSchema),
    usage: z
      .object({
        input_tokens: tokenCount,
        output_tokens: tokenCount,
        total_tokens: tokenCount,
        reasoning_tokens: tokenCount,
        cache_creation_tokens: tokenCount,
        cache_read_tokens: tokenCount,
        context_limit: tokenCount,
      })
      .optional()
      .describe('Assistant messages only.'),
    total_cost_micros: z.number().int().nullable().optional().describe('Assistant messages only.'),
    runtime_ms: z.number().int().nullable().optional().describe('Assistant messages only.'),
  })
  .meta({ id: 'ChatMessage', description: 'A persisted message.' });
export type ChatMessageDto = z.infer<typeof chatMessageSchema>;

export const queuedMessageSchema = z
  .object({
    id: z.number().int(),
    chat_id: z.uuid(),
    content: z.array(messagePartSchema),
    model_config_id: z
      .uuid()
      .nullable()
      .describe('The model config the message was sent with; null: the chat’s model when it runs.'),
    created_at: timestamp,
  })
  .meta({ id: 'QueuedMessage', description: 'A message waiting for the running turn to end.' });
export type ChatQueuedMessageDto = z.infer<typeof queuedMessageSchema>;

/** What `diff_status_change` says of a chat's new workspace diff (GET /chats/{id}/diff has the rest). */
export const diffStatusSummarySchema = z
  .object({
    git_repository: z.boolean(),
    changed_files: z.number().int(),
    additions: z.number().int(),
    deletions: z.number().int(),
    truncated: z.boolean().describe('The diff text or the file list was cut.'),
    computed_at: timestamp,
  })
  .meta({ id: 'DiffStatusSummary' });
export type DiffStatusSummary = z.infer<typeof diffStatusSummarySchema>;

/**
 * A tool call that waits, or waited, for the user's approval (docs/tool-approval.md). `chat_id` is the
 * chat whose call it is, which for a sub-agent's call is not the root chat that also shows it.
 */
export const toolApprovalSchema = z
  .object({
    chat_id: z.uuid().describe('The chat whose call it is (a sub-agent’s, in a root chat’s list).'),
    root_chat_id: z.uuid(),
    call_id: z.string(),
    tool_name: z.string(),
    turn: z.number().int(),
    step: z.number().int(),
    message_id: z
      .number()
      .int()
      .nullable()
      .describe('The assistant message holding the call and its arguments; null once that message is gone.'),
    args_sha256: z.string().describe('SHA-256 (hex) of the arguments as RFC 8785 canonical JSON: what was approved.'),
    requested_at: timestamp,
    expires_at: timestamp,
    decision: z.enum(['approved', 'approved_always', 'denied', 'expired']).nullable().describe('Null while waiting.'),
    reason: z.string().nullable(),
    decided_by: z.uuid().nullable().describe('The user who decided; null for an expiry, an interrupt or an archive.'),
    decided_at: timestamp.nullable(),
  })
  .meta({ id: 'ToolApproval', description: 'A tool call that waits, or waited, for the user’s approval.' });
export type ToolApprovalDto = z.infer<typeof toolApprovalSchema>;

const chatId = z.uuid();

/** One schema per event `type` (docs/stream-events.md "Event types"). */
export const streamEventSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('status'), chat_id: chatId, status: chatStatusSchema }),
    z.object({
      type: z.literal('message_part'),
      chat_id: chatId,
      role: z.enum(['assistant', 'tool']),
      part: messagePartSchema,
    }),
    z.object({ type: z.literal('message'), chat_id: chatId, message: chatMessageSchema }),
    z.object({ type: z.literal('queue_update'), chat_id: chatId, queued_messages: z.array(queuedMessageSchema) }),
    z.object({
      type: z.literal('retry'),
      chat_id: chatId,
      attempt: z.number().int(),
      delay_ms: z.number().int(),
      retrying_at: timestamp,
      error: errorPayloadSchema,
      model: z
        .string()
        .optional()
        .describe('The model the next attempt runs on (another one after a failover); absent when not known.'),
    }),
    errorPayloadSchema.extend({ type: z.literal('error'), chat_id: chatId }),
    z.object({ type: z.literal('title_change'), chat_id: chatId, title: z.string() }),
    z
      .object({ type: z.literal('history_truncated'), chat_id: chatId, from_message_id: z.number().int() })
      .describe(
        'History was rewritten (an edit): every message with `id >= from_message_id` is gone, and so is the ' +
          'in-flight partial; the replacement arrives as `message` events.',
      ),
    z
      .object({ type: z.literal('diff_status_change'), chat_id: chatId, diff_status: diffStatusSummarySchema })
      .describe('The git diff of the chat’s workspace changed.'),
    z
      .object({
        type: z.literal('action_required'),
        chat_id: chatId,
        approval: toolApprovalSchema.extend({
          args: z.unknown().describe('The call’s arguments; null with `args_omitted` when too large for an event.'),
          args_omitted: z.literal(true).optional(),
        }),
      })
      .describe(
        'A tool call waits for the user’s approval (POST /chats/{chat_id}/tool-calls/{call_id}/decision, with ' +
          'the approval’s own `chat_id`). Also sent on the root chat’s stream for a sub-agent’s call.',
      ),
    z
      .object({ type: z.literal('turn_queued'), chat_id: chatId, position: z.number().int() })
      .describe('The turn waits for one of its owner’s running-turn slots; `position` 1 starts next.'),
    z
      .object({ type: z.literal('action_decided'), chat_id: chatId, approval: toolApprovalSchema })
      .describe('A waiting tool call was decided (by the user, its expiry, an interrupt or an archive).'),
  ])
  .meta({
    id: 'StreamEvent',
    description: 'An event of GET /chats/{id}/stream: the SSE `event` is `type`, `data` the whole object.',
  });
export type StreamEvent = z.infer<typeof streamEventSchema>;

/**
 * Where a `status` or `message` hint stands in its chat's history, set by the producer that wrote it:
 * `turn`, the chat's turn with that status; `prev_message_id`, the chat's newest message (any role or
 * visibility) before this one, read under the chat's row lock. With it the stream feed
 * (src/stream/chat-stream.ts) can send the hint's payload as it is, without reading the database
 * again. Internal to the bus: clients never see it.
 */
export interface HintOrder {
  turn?: number;
  prev_message_id?: number | null;
}

/** A stream event as producers publish it: with its hint order when they know it. */
export type BusEvent = StreamEvent & { order?: HintOrder };

export type StreamEventType = StreamEvent['type'];

/** What every watch event says of its chat. */
export const watchChatSchema = z
  .object({
    id: z.uuid(),
    status: chatStatusSchema,
    title: z.string(),
    parent_chat_id: z.uuid().nullable(),
    archived: z.boolean(),
  })
  .meta({ id: 'WatchChat' });
export type WatchChat = z.infer<typeof watchChatSchema>;

/**
 * Lifecycle events of GET /chats/watch, per owner (docs/stream-events.md#watch-stream). Kinds are
 * public API like event types; each kind may add fields to `chat`, never remove them.
 */
export const watchEventSchema = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal(['created', 'deleted', 'title_change']), chat: watchChatSchema }),
    z
      .object({
        kind: z.literal('status_change'),
        chat: watchChatSchema.extend({
          has_unread: z
            .boolean()
            .optional()
            .describe('Present when a turn ended: the answer may have made the chat unread.'),
        }),
      })
      .describe('The chat’s status changed.'),
    z
      .object({
        kind: z.literal('read_change'),
        chat: watchChatSchema.extend({ has_unread: z.boolean(), last_read_message_id: z.number().int().nullable() }),
      })
      .describe('The owner’s read cursor moved (POST /chats/{id}/read).'),
    z
      .object({ kind: z.literal('pin_change'), chat: watchChatSchema.extend({ pin_order: z.number().int() }) })
      .describe('The chat was pinned, unpinned or moved among the pinned chats.'),
  ])
  .meta({
    id: 'WatchEvent',
    description: 'An event of GET /chats/watch: the SSE `event` is `kind`, `data` the whole object.',
  });
export type WatchEvent = z.infer<typeof watchEventSchema>;

export type WatchEventKind = WatchEvent['kind'];

/** Out-of-band control messages to the process running a chat's turn (the interrupt fast path). */
export type ControlMessage = { type: 'interrupt'; turn: number };
