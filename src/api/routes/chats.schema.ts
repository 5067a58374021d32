/**
 * Request schemas and route declarations of the chat routes. They validate every input edge and
 * also generate the OpenAPI document, so they carry the descriptions clients read.
 */
import { z } from 'zod';
import type { MessagesPage, SendMessageResult } from '../../chat/chat.service';
import { MAX_PIN_ORDER, type ChatsPage } from '../../chat/chat-list';
import type { ChatDto } from '../../messages/dto';
import { chatInputPartSchema } from '../../messages/parts';
import {
  chatMessageSchema,
  chatStatusSchema,
  queuedMessageSchema,
  streamEventSchema,
  toolApprovalSchema,
  watchEventSchema,
} from '../../stream/events';
import type { ChatStreamEnd, WatchStreamEnd } from '../limits/streams';
import { idempotencyKeyHeaderDoc, idempotencyResponseDocs } from '../middleware/idempotency';
import { defineRoute } from '../openapi';
import { sameType, timestamp, uuidParam } from './common.schema';

export const chatIdParams = z.object({ id: uuidParam('chat') });

/**
 * A bigint id in a path or query: digits only (no signs, exponents or hex that Number() would
 * accept) and within JavaScript's safe integers.
 */
const bigintId = (message: string) =>
  z
    .string()
    .regex(/^[1-9]\d{0,15}$/, message)
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n), message);

export const messageParams = chatIdParams.extend({ messageId: bigintId('Invalid chat message ID.') });
export const queuedMessageParams = chatIdParams.extend({ queuedId: bigintId('Invalid queued message ID.') });

/** PostgreSQL's text and jsonb cannot hold U+0000: a NUL is a 400 here, never a database error. */
const noNul = (label: string) =>
  [(s: string) => !s.includes('\u0000'), `${label} must not contain NUL characters.`] as const;

const labels = z
  .record(
    z
      .string()
      .min(1)
      .max(64)
      .refine(...noNul('A label key')),
    z
      .string()
      .max(256)
      .refine(...noNul('A label value')),
  )
  .refine((l) => Object.keys(l).length <= 50, 'At most 50 labels.')
  .describe('Arbitrary key/value labels, filterable in listings.');

const content = z.array(chatInputPartSchema).min(1, 'Content is required.').max(100);

const mcpServerIds = z.array(z.uuid({ message: 'Invalid MCP server id.' })).max(100);

/** A chat's own approval settings (docs/tool-approval.md). */
const toolApproval = z.strictObject({
  ask: z
    .array(z.string().regex(/^(\*|[A-Za-z0-9_.-]{1,128})$/, 'A tool name (letters, digits, `_`, `.`, `-`) or `*`.'))
    .max(200)
    .describe('Tools whose calls wait for the user’s approval even where the admin’s policy lets them run; `*`: all.'),
});

export const createChatBody = z.strictObject({
  content: content.describe('The first user message.'),
  model_config_id: z.uuid().optional().describe('Model config to use; the default one when omitted.'),
  labels: labels.optional(),
  workspace_id: uuidParam('workspace')
    .optional()
    .describe(
      'Attach one of the caller’s workspaces (GET /workspaces) that is not deleted; the chat’s tools act in it. ' +
        'Without it the agent is told to create one with `create_workspace` before using file tools.',
    ),
  mcp_server_ids: mcpServerIds
    .optional()
    .describe(
      'Enabled MCP servers (GET /mcp-servers) whose tools the chat offers. Omitted: the `default_on` servers. ' +
        '`force_on` servers are always added. An unknown or disabled id is a 400 (`mcp_server_not_found`).',
    ),
  tool_approval: toolApproval
    .optional()
    .describe('Ask for more approvals than the admin’s policy (never fewer); sub-agents inherit it.'),
});

/** A message may switch the chat's model from its turn on. */
const messageModel = z
  .uuid()
  .optional()
  .describe(
    'Run this message’s turn (and the chat from then on) on this model config; it must be enabled. ' +
      'Omitted: the chat’s current model.',
  );

export const sendMessageBody = z.strictObject({
  content,
  model_config_id: messageModel,
  busy_behavior: z
    .enum(['queue', 'interrupt'])
    .default('queue')
    .describe('When a turn is running: queue the message, or queue it and interrupt the turn.'),
});

export const editMessageBody = z.strictObject({
  content: content.describe('The new text of the message; it replaces the message and everything after it.'),
  model_config_id: messageModel,
});

export const promoteQueuedBody = z.strictObject({
  model_config_id: z
    .uuid()
    .optional()
    .describe('Run the turn on this model config; omitted: the one the message was queued with, else the chat’s.'),
});

export const updateChatBody = z
  .strictObject({
    title: z
      .string()
      .trim()
      .min(1, 'The title must not be empty.')
      .max(200)
      .refine(...noNul('The title'))
      .optional(),
    labels: labels.optional().describe('Replaces all labels.'),
    archived: z
      .boolean()
      .optional()
      .describe('Archive (hides the chat and its sub-agent chats, stops their turns, unpins them) or unarchive.'),
    pin_order: z
      .number()
      .int('pin_order is an integer.')
      .min(0, 'pin_order is 0 (unpinned) or a position from 1.')
      .max(MAX_PIN_ORDER)
      .optional()
      .describe(
        '0 unpins the chat. N > 0 pins it at position N among the caller’s pinned chats (1 is the top): the ' +
          'chats from position N on move down one, and a position past the last pinned chat means last. ' +
          'Positions stay 1..n without gaps; the response holds the position the chat got.',
      ),
    mcp_server_ids: mcpServerIds
      .optional()
      .describe(
        'Replaces the chat’s MCP servers from its next step on; `force_on` servers are always added. An unknown ' +
          'or disabled id is a 400 (`mcp_server_not_found`) and nothing changes.',
      ),
    tool_approval: toolApproval
      .optional()
      .describe(
        'Replaces the tools the chat asks about, from its next step on; a tool named here (every tool, for `*`) ' +
          'is no longer approved for the rest of the chat.',
      ),
  })
  .refine(
    (b) => Object.keys(b).length > 0,
    'Give at least one of title, labels, archived, pin_order, mcp_server_ids, tool_approval.',
  );

export const markReadBody = z.strictObject({
  message_id: z
    .number()
    .int('message_id is an integer.')
    .min(1, 'message_id is a message id.')
    .max(Number.MAX_SAFE_INTEGER)
    .optional()
    .describe(
      'Mark the chat read up to this message (one of its own; send the newest one you displayed). ' +
        'Omitted: up to its newest message.',
    ),
});

/** Cursors are message ids: positive integers within JavaScript's safe range. */
export const messageCursor = bigintId('Invalid cursor.');

const limit = z.coerce.number().int().min(1).max(200).default(50);

export const listMessagesQuery = z.object({
  before_id: messageCursor.optional(),
  limit,
});

const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

export const listChatsQuery = z.object({
  archived: booleanQuery.default(false).describe('List archived chats instead of active ones.'),
  label: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .pipe(
      z
        .array(
          z
            .string()
            .regex(/^[^:]{1,64}:.{0,256}$/s, 'A label filter is `key:value`.')
            .refine(...noNul('A label filter')),
        )
        .max(50),
    )
    .describe('Repeatable `key:value` filter; a chat must carry every given label.'),
  cursor: z.string().max(512).optional().describe('`next_cursor` of the previous page.'),
  after_id: z.uuid({ message: 'Invalid cursor.' }).optional().describe('List the chats after this chat.'),
  limit,
});

export const streamQuery = z.object({
  after_id: messageCursor.optional().describe('Resume after this message id (or send Last-Event-ID).'),
  access_token: z.string().optional(),
});

export const watchQuery = z.object({ access_token: z.string().optional() });

const chatsTag = 'Chats';

/** The 429 of the two streams: their per-user cap first (README "Request limits"). */
const TOO_MANY_STREAMS = {
  description:
    'The user already holds CHATD_MAX_STREAMS_PER_USER open streams on this API process (`too_many_streams`), ' +
    'or a rate limit (`rate_limited`, `too_many_auth_failures`, with `Retry-After`).',
};

/** A chat as every /chats route returns it (src/messages/dto.ts). */
export const chatSchema = z
  .object({
    id: z.uuid(),
    owner_id: z.uuid(),
    parent_chat_id: z.uuid().nullable().describe('The chat that started this sub-agent chat; null for a root chat.'),
    root_chat_id: z.uuid().describe('The root of the sub-agent tree; a root chat’s own id.'),
    workspace_id: z.uuid().nullable(),
    last_model_config_id: z.uuid().describe('The model config the chat runs on.'),
    title: z.string(),
    status: chatStatusSchema,
    last_error: z.string().nullable(),
    last_error_kind: z.string().nullable(),
    archived: z.boolean(),
    pin_order: z.number().int().describe('0: not pinned; otherwise the 1-based position among the pinned chats.'),
    has_unread: z.boolean().describe('A user-visible assistant message newer than `last_read_message_id` exists.'),
    last_read_message_id: z
      .number()
      .int()
      .nullable()
      .describe('The caller’s read cursor (a message id); null until the chat is first marked read.'),
    labels: z.record(z.string(), z.string()),
    mcp_server_ids: z.array(z.uuid()),
    tool_approval: z
      .object({ ask: z.array(z.string()), granted: z.array(z.string()) })
      .describe('What this chat adds to the admin’s approval policy (docs/tool-approval.md).'),
    waiting_for_slot_since: timestamp
      .nullable()
      .describe('Set while the turn waits for one of the owner’s running-turn slots.'),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: 'Chat', description: 'A chat.' });
sameType<z.infer<typeof chatSchema>, ChatDto>(true);

export const chatsPageSchema = z
  .object({
    chats: z.array(chatSchema),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  })
  .meta({ id: 'ChatPage' });
sameType<z.infer<typeof chatsPageSchema>, ChatsPage>(true);

export const messagesPageSchema = z
  .object({
    messages: z.array(chatMessageSchema).describe('Oldest first within the page.'),
    queued_messages: z.array(queuedMessageSchema),
    tool_approvals: z.array(toolApprovalSchema).describe('The approvals of the tool calls in `messages`.'),
    has_more: z.boolean().describe('Older messages exist: pass the first id as `before_id`.'),
  })
  .meta({ id: 'MessagePage' });
sameType<z.infer<typeof messagesPageSchema>, MessagesPage>(true);

/** POST /chats/{id}/messages: the message started a turn, or it was queued. */
export const sendMessageResultSchema = z
  .discriminatedUnion('queued', [
    z.object({ queued: z.literal(false), message: chatMessageSchema }).describe('A turn started with the message.'),
    z
      .object({ queued: z.literal(true), queued_message: queuedMessageSchema })
      .describe('The chat was busy (or had a queue): the message waits in the queue.'),
  ])
  .meta({ id: 'SendMessageResult' });
// The service's looser interface admits every variant (and nothing else is sent).
sameType<z.infer<typeof sendMessageResultSchema> extends SendMessageResult ? true : false, true>(true);

const streamEndReason = z
  .enum(['token_revoked', 'token_expired'])
  .describe('Why the server ended the stream: its token was revoked or expired.');

/** The last event of a chat stream that the server ends for its token (docs/stream-events.md). */
export const chatStreamEndSchema = z
  .object({ type: z.literal('stream_end'), chat_id: z.uuid(), reason: streamEndReason })
  .meta({ id: 'ChatStreamEnd', description: 'The final event of a chat stream whose token stopped working.' });
sameType<z.infer<typeof chatStreamEndSchema>, ChatStreamEnd>(true);

export const watchStreamEndSchema = z
  .object({ kind: z.literal('stream_end'), reason: streamEndReason })
  .meta({ id: 'WatchStreamEnd', description: 'The final event of a watch stream whose token stopped working.' });
sameType<z.infer<typeof watchStreamEndSchema>, WatchStreamEnd>(true);

/** GET /chats/{id}/diff (src/workspaces/diff-status.ts). */
export const chatDiffResponse = z.object({
  chat_id: z.uuid(),
  workspace_id: z.uuid().nullable().describe('The workspace the diff was computed in.'),
  git_repository: z
    .boolean()
    .describe('False when the workspace root is not a git repository (or nothing was computed).'),
  files: z
    .array(
      z.object({
        path: z.string(),
        old_path: z.string().optional().describe('The previous path of a renamed or copied file.'),
        status: z.enum(['added', 'modified', 'deleted', 'renamed', 'copied', 'type_changed', 'unmerged', 'unknown']),
        additions: z.number().int(),
        deletions: z.number().int(),
        binary: z.boolean().optional(),
      }),
    )
    .describe('Changed files (untracked ones as `added`), at most 1,000.'),
  files_truncated: z.boolean().describe('More files changed than `files` lists.'),
  additions: z.number().int(),
  deletions: z.number().int(),
  diff: z.string().describe('Unified diff against HEAD (the empty tree before the first commit), at most 256 KiB.'),
  truncated: z.boolean().describe('`diff` was cut at a line end.'),
  computed_at: timestamp.nullable().describe('When this diff was computed; null when none was yet.'),
});

/**
 * The /chats routes (chats.routes.ts mounts them with `mountRoute`; the OpenAPI catalogue lists
 * them). Order matters for matching: `/chats/watch` comes before `/chats/:id`.
 */
export const chatsApi = {
  create: defineRoute({
    operationId: 'createChat',
    method: 'post',
    path: '/chats',
    summary: 'Create a chat',
    description: 'Inserts the first user message and starts the chat’s first turn.',
    tag: chatsTag,
    access: 'user',
    schemas: { body: createChatBody },
    headers: [idempotencyKeyHeaderDoc],
    responses: {
      201: { description: 'The chat (status `pending`).', schema: chatSchema },
      400: {
        description:
          '`workspace_not_found` (unknown, or not the caller’s), `workspace_deleted` or `mcp_server_not_found`; ' +
          'nothing is created.',
      },
      409: { description: `A usage limit was reached, or ${idempotencyResponseDocs.inProgress}` },
      422: idempotencyResponseDocs[422],
      503: { description: 'The workflow service is unavailable (`dependency_unavailable`).' },
    },
  }),
  list: defineRoute({
    operationId: 'listChats',
    method: 'get',
    path: '/chats',
    summary: 'List the caller’s chats',
    description:
      'Pinned chats first (`pin_order` ascending), then the others, most recently active first (`updated_at`, ' +
      'then id); filtered in SQL by `archived` and `label`. Each chat carries `has_unread`. Page with `cursor` = ' +
      'the previous `next_cursor` (or `after_id` = the last chat id seen).',
    tag: chatsTag,
    access: 'user',
    schemas: { query: listChatsQuery },
    responses: {
      200: { description: 'A page of chats; `next_cursor` is null on the last page.', schema: chatsPageSchema },
    },
  }),
  watch: defineRoute({
    operationId: 'watchChats',
    method: 'get',
    path: '/chats/watch',
    summary: 'Watch the caller’s chats (Server-Sent Events)',
    description:
      'Lifecycle events of all the caller’s chats: `created`, `deleted` (archived), `status_change` (with ' +
      '`has_unread` when a turn ended), `title_change`, `read_change`, `pin_change`, each with data `{kind, chat}`. ' +
      'Starts with a `: ping` comment; live only. A revoked or expired token ends it with `stream_end` ' +
      '(data `{kind, reason}`).',
    tag: chatsTag,
    access: 'user',
    schemas: { query: watchQuery },
    responses: {
      200: {
        description: 'An event stream of `WatchEvent`s (no ids), ended by `WatchStreamEnd` when the token goes.',
        sse: { data: z.union([watchEventSchema, watchStreamEndSchema]), ids: false },
      },
      429: TOO_MANY_STREAMS,
    },
  }),
  get: defineRoute({
    operationId: 'getChat',
    method: 'get',
    path: '/chats/:id',
    summary: 'Get a chat',
    description: 'With `has_unread`: an assistant message newer than the caller’s read cursor exists.',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams },
    responses: { 200: { description: 'The chat.', schema: chatSchema } },
  }),
  update: defineRoute({
    operationId: 'updateChat',
    method: 'patch',
    path: '/chats/:id',
    summary: 'Rename, relabel, pin, archive or unarchive a chat',
    description:
      'Archiving cascades to the chat’s sub-agent chats and stops their running turns (queued messages stay). ' +
      'Unarchiving a chat that is not archived is a 400 (`chat_not_archived`); pinning an archived chat is a 400 ' +
      '(`chat_archived`). Every chat whose pin position changed gets a `pin_change` watch event.',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams, body: updateChatBody },
    responses: {
      200: { description: 'The updated chat.', schema: chatSchema },
      400: { description: '`chat_not_archived`, `chat_archived` or `mcp_server_not_found`; nothing changes.' },
    },
  }),
  markRead: defineRoute({
    operationId: 'markChatRead',
    method: 'post',
    path: '/chats/:id/read',
    summary: 'Mark a chat read',
    description:
      'Moves the caller’s read cursor (`last_read_message_id`) forward to `message_id`, or to the chat’s newest ' +
      'message; never backwards, so repeating or racing the call is harmless. `has_unread` turns false unless an ' +
      'assistant message newer than the cursor exists. A move sends `read_change` on the watch feed.',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams, body: markReadBody },
    responses: {
      200: { description: 'The chat.', schema: chatSchema },
      400: { description: '`message_not_found`: `message_id` is not one of this chat’s messages; nothing is written.' },
    },
  }),
  listMessages: defineRoute({
    operationId: 'listMessages',
    method: 'get',
    path: '/chats/:id/messages',
    summary: 'List a chat’s messages',
    description: 'Newest first, paginated by `before_id`; includes the queued messages and `has_more`.',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams, query: listMessagesQuery },
    responses: {
      200: { description: 'A page of messages, the queue and the page’s approvals.', schema: messagesPageSchema },
    },
  }),
  sendMessage: defineRoute({
    operationId: 'sendMessage',
    method: 'post',
    path: '/chats/:id/messages',
    summary: 'Send a message',
    description: 'Starts a turn on an idle chat; queues the message on a busy one (or interrupts, on request).',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams, body: sendMessageBody },
    headers: [idempotencyKeyHeaderDoc],
    responses: {
      200: { description: 'The started message, or the queued one.', schema: sendMessageResultSchema },
      409: {
        description: `A usage limit was reached (also for a message that would queue), or ${idempotencyResponseDocs.inProgress}`,
      },
      422: idempotencyResponseDocs[422],
      429: { description: 'The queue is full (`queue_full`).' },
    },
  }),
  editMessage: defineRoute({
    operationId: 'editMessage',
    method: 'patch',
    path: '/chats/:id/messages/:messageId',
    summary: 'Edit a user message',
    description:
      'Soft-deletes the message and every later one, inserts the new text as a new message, clears the queue ' +
      'and starts a new turn (a running turn is superseded). Streams get `history_truncated`.',
    tag: chatsTag,
    access: 'user',
    schemas: { params: messageParams, body: editMessageBody },
    responses: {
      200: { description: 'The new message (a new id).', schema: chatMessageSchema },
      409: { description: 'A usage limit was reached (`usage_limit_exceeded`); nothing changes.' },
    },
  }),
  deleteQueued: defineRoute({
    operationId: 'deleteQueuedMessage',
    method: 'delete',
    path: '/chats/:id/queue/:queuedId',
    summary: 'Remove a queued message',
    tag: chatsTag,
    access: 'user',
    schemas: { params: queuedMessageParams },
    responses: { 204: { description: 'Removed.' } },
  }),
  promoteQueued: defineRoute({
    operationId: 'promoteQueuedMessage',
    method: 'post',
    path: '/chats/:id/queue/:queuedId/promote',
    summary: 'Send a queued message now',
    description: 'It becomes the user message of a new turn (a running turn is superseded).',
    tag: chatsTag,
    access: 'user',
    schemas: { params: queuedMessageParams, body: promoteQueuedBody },
    responses: {
      200: { description: 'The new user message.', schema: chatMessageSchema },
      409: { description: 'A usage limit was reached (`usage_limit_exceeded`); the message stays queued.' },
    },
  }),
  interrupt: defineRoute({
    operationId: 'interruptChat',
    method: 'post',
    path: '/chats/:id/interrupt',
    summary: 'Interrupt the running turn',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams },
    responses: { 200: { description: 'The chat, with status `waiting`.', schema: chatSchema } },
  }),
  diff: defineRoute({
    operationId: 'getChatDiff',
    method: 'get',
    path: '/chats/:id/diff',
    summary: 'The git diff of the chat’s workspace',
    description:
      'The working tree of the git repository at the workspace root against HEAD, untracked files included, as ' +
      'last computed on the workspace host after a step of this chat whose tools may change files (a sub-agent’s ' +
      'edits show in its own chat). Streams announce a new one with `diff_status_change`. Empty, with ' +
      '`computed_at` null, when nothing was computed yet (no workspace, or no such step).',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams },
    responses: { 200: { description: 'The stored diff.', schema: chatDiffResponse } },
  }),
  stream: defineRoute({
    operationId: 'streamChat',
    method: 'get',
    path: '/chats/:id/stream',
    summary: 'Stream a chat (Server-Sent Events)',
    description:
      'A snapshot (status, messages after the cursor, the in-flight partial, the queue), then live events. ' +
      'Resume with `Last-Event-ID` or `after_id`. EventSource clients may pass the token as `access_token`. ' +
      'When that token is revoked or expires, a final `stream_end` event (`reason`) ends the stream.',
    tag: chatsTag,
    access: 'user',
    schemas: { params: chatIdParams, query: streamQuery },
    headers: [{ name: 'Last-Event-ID', description: 'The id of the last event received, to resume after it.' }],
    responses: {
      200: {
        description: 'An event stream of `StreamEvent`s, ended by `ChatStreamEnd` when the token goes.',
        sse: { data: z.union([streamEventSchema, chatStreamEndSchema]), ids: true },
      },
      429: TOO_MANY_STREAMS,
    },
  }),
};
