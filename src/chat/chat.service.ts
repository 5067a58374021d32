/**
 * Chat lifecycle as the API drives it: create, list, update (pins included) and archive, mark read,
 * send (start a turn or queue), edit, queue control, interrupt. Each mutation commits under the chat's row lock; a new
 * turn is requested from the orchestrator INSIDE that transaction, so a failed request rolls the
 * message back and the turn's first activity, which needs the same row lock, can never run ahead of
 * the committed message (creation differs slightly: see createChat). Events are published after
 * the commit, so nobody sees uncommitted state.
 */
import type { Actor } from '../security/actor';
import { isBusy } from '../messages/chat-status';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { ChatQueuedMessageRow, ChatRow, Database } from '../db/database';
import {
  advanceReadCursor,
  chatHasMessage,
  chatHasUnread,
  deleteChat,
  findChatForOwner,
  findChatWithUnreadForOwner,
  insertChat,
  lockChat,
  lockChatCountingQueue,
  lockOwnerPins,
  placePinnedChat,
  setChatTreeArchived,
  stopChatTree,
  updateChat,
} from '../db/repositories/chats.repository';
import {
  clearQueuedMessages,
  deleteQueuedMessage,
  findVisibleMessage,
  insertMessages,
  updateChatInsertingMessage,
  insertQueuedMessage,
  listQueuedMessages,
  listVisibleMessagesPage,
  softDeleteMessagesFrom,
} from '../db/repositories/messages.repository';
import { findDefaultModelConfig, findModelConfig } from '../db/repositories/model-configs.repository';
import { findOwnedWorkspaceForShare } from '../db/repositories/workspaces.repository';
import { NotFoundError, RateLimitedError, ValidationError } from '../errors';
import { messageEvent, publishStatusChange, type StreamBus } from '../stream/bus';
import type { ChatMessageDto, ChatQueuedMessageDto, ToolApprovalDto } from '../stream/events';
import { messageRow } from '../messages/rows';
import { toChatDto, toMessageDto, toQueuedDto, toToolApprovalDto, toWatchChat, type ChatDto } from '../messages/dto';
import { listApprovalsForMessages } from '../db/repositories/tool-approvals.repository';
import { encodeParts, type ChatInputPart, type ChatMessagePart } from '../messages/parts';
import { linkFileParts, withOwnedFiles } from './file-parts';
import { resolveMcpSelection } from './mcp-selection';
import { askingMore, askList } from './approval-settings';
import { fallbackTitle } from './title';
import { workspaceAwarenessRow } from './workspace-awareness';
import type { TurnLauncher } from './turn-launcher';
import { requestTurnOrFail } from './turn-request';
import type { SpendCheck } from '../usage/spend-check';

/** At most this many queued messages per chat; one more is refused with 429 `queue_full`. */
export const MAX_QUEUE_SIZE = 20;

/**
 * Runs inside a mutation's transaction just before it commits, with the response the API will send: the API
 * stores an Idempotency-Key's response there, so the effect and its replay commit together.
 */
export type BeforeCommit<T> = (trx: Transaction<Database>, response: T) => Promise<void>;

export interface ChatServiceDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  turns: TurnLauncher;
  log: Logger;
  /** The spend limit check of requests that start model work (src/usage/spend-check.ts); unset: none. */
  usage?: SpendCheck;
}

/** Validates user input parts: at least one non-blank text or a file. */
function toUserParts(parts: ChatInputPart[]): ChatMessagePart[] {
  const hasContent = parts.some((p) => (p.type === 'text' ? p.text.trim() !== '' : true));
  if (!hasContent) throw new ValidationError('Content is required.', undefined, 'content_required');
  return parts.filter((p) => p.type !== 'text' || p.text.trim() !== '').map((p) => ({ ...p }));
}

/** A user message of the chat's current turn; `content` is already encoded for jsonb. */
function userMessageRow(chat: ChatRow, createdBy: string, content: string) {
  return messageRow({
    chatId: chat.id,
    turn: chat.turn,
    role: 'user',
    content,
    modelConfigId: chat.last_model_config_id,
    createdBy,
  });
}

/**
 * Moves a locked chat into its next turn: the fence for everything the previous turn still writes. With
 * `modelConfigId` the turn (and the chat from then on) runs on that model config.
 */
function startNextTurn(trx: Transaction<Database>, chat: ChatRow, modelConfigId?: string | null): Promise<ChatRow> {
  return updateChat(trx, chat.id, nextTurnPatch(chat, modelConfigId));
}

function nextTurnPatch(chat: ChatRow, modelConfigId?: string | null) {
  return {
    status: 'pending' as const,
    turn: chat.turn + 1,
    last_error: null,
    last_error_kind: null,
    ...(modelConfigId ? { last_model_config_id: modelConfigId } : {}),
  };
}

/** startNextTurn with the new turn's user message (`content` encoded for jsonb), in one statement. */
async function startNextTurnWith(
  trx: Transaction<Database>,
  chat: ChatRow,
  createdBy: string,
  content: string,
  modelConfigId?: string | null,
) {
  const patch = nextTurnPatch(chat, modelConfigId);
  const next = { ...chat, ...patch };
  return updateChatInsertingMessage(trx, chat, patch, userMessageRow(next, createdBy, content));
}

/** The default model config of new chats; a 400 when there is none usable. */
async function defaultModelConfig(trx: Transaction<Database>): Promise<string> {
  const config = await findDefaultModelConfig(trx);
  if (!config || config.deleted || !config.enabled) {
    throw new ValidationError('No default chat model config is configured.', undefined, 'no_default_model_config');
  }
  return config.id;
}

/** A model config a message may name: it exists, is not deleted and is enabled; a 400 otherwise (nothing written). */
async function usableModelConfig(trx: Transaction<Database>, id: string): Promise<string> {
  const config = await findModelConfig(trx, id);
  if (!config || config.deleted || !config.enabled) {
    throw new ValidationError('Model config not found.', undefined, 'model_config_not_found');
  }
  return config.id;
}

/**
 * Stops a chat's running turn after its status was set to `waiting`: the bus message aborts the
 * provider call at once; the Temporal signal makes the outcome certain if that message is lost.
 */
async function stopTurn(deps: ChatServiceDeps, chat: ChatRow, turn: number): Promise<void> {
  deps.bus.sendControl(chat.id, { type: 'interrupt', turn });
  publishStatusChange(deps.bus, chat);
  try {
    await deps.turns.interrupt(chat.id, turn);
  } catch (err) {
    // The status is already waiting; the fence and finishTurn keep the outcome right without it.
    deps.log.warn({ err, chatId: chat.id }, 'interrupt signal failed');
  }
}

export interface CreateChatInput {
  content: ChatInputPart[];
  model_config_id?: string;
  labels?: Record<string, string>;
  /** One of the actor's workspaces that is not deleted; the chat's tools act in it. */
  workspace_id?: string;
  /** Enabled MCP servers for the chat; omitted: the `default_on` ones (`force_on` ones always). */
  mcp_server_ids?: string[];
  /** Tools (or `*`) whose calls wait for the user's approval beyond the admin's policy. */
  tool_approval?: { ask: string[] };
}

/** The workspace a new chat attaches to: the actor's own and not deleted, else a 400 (nothing is written). */
async function attachableWorkspace(trx: Transaction<Database>, actor: Actor, workspaceId: string | undefined) {
  if (workspaceId === undefined) return null;
  const workspace = await findOwnedWorkspaceForShare(trx, workspaceId, actor.id);
  if (!workspace) throw new ValidationError('Workspace not found.', undefined, 'workspace_not_found');
  if (workspace.status === 'deleted') {
    throw new ValidationError('The workspace was deleted; it cannot be attached.', undefined, 'workspace_deleted');
  }
  return workspace;
}

/**
 * Creates a chat with its first message and starts its first turn. Unlike the other mutations the
 * turn is requested after the commit: a row another session cannot see yet cannot make the turn's
 * first activity wait either, so it must exist first. Nobody else knows the chat's id before this
 * returns, so no lock is needed, and the request holds no connection; if it fails, the chat is
 * removed again and nothing is left behind.
 */
export async function createChat(
  deps: ChatServiceDeps,
  actor: Actor,
  input: CreateChatInput,
  beforeCommit?: BeforeCommit<ChatDto>,
): Promise<ChatDto> {
  const parts = toUserParts(input.content);
  await deps.usage?.assertWithinLimit(actor.id);
  const text = parts.find((p) => p.type === 'text')?.text ?? '';
  const { chat, message } = await deps.db.transaction().execute(async (trx) => {
    const modelConfigId = input.model_config_id
      ? await usableModelConfig(trx, input.model_config_id)
      : await defaultModelConfig(trx);
    const workspace = await attachableWorkspace(trx, actor, input.workspace_id);
    const mcpServerIds = await resolveMcpSelection(trx, input.mcp_server_ids);
    const content = await withOwnedFiles(trx, actor.id, parts);
    const chat = await insertChat(trx, {
      mcp_server_ids: mcpServerIds,
      tool_approval_ask: askList(input.tool_approval?.ask ?? []),
      owner_id: actor.id,
      workspace_id: workspace?.id ?? null,
      parent_chat_id: null,
      root_chat_id: null,
      last_model_config_id: modelConfigId,
      title: fallbackTitle(text),
      status: 'pending',
      turn: 1,
      last_error: null,
      last_error_kind: null,
      labels: JSON.stringify(input.labels ?? {}),
      mode: null,
      last_read_message_id: null,
    });
    // The model-only awareness message first, so the model reads it before the user's request.
    const inserted = await insertMessages(trx, [
      workspaceAwarenessRow(chat, workspace),
      userMessageRow(chat, actor.id, encodeParts(content)),
    ]);
    await linkFileParts(trx, chat.id, content);
    await beforeCommit?.(trx, toChatDto(chat, false));
    return { chat, message: inserted.find((m) => m.role === 'user')! };
  });
  try {
    await requestTurnOrFail(deps, chat);
  } catch (err) {
    await deleteChat(deps.db, chat.id);
    throw err;
  }
  deps.bus.publish(chat.id, messageEvent(message));
  deps.bus.publishWatch(actor.id, { kind: 'created', chat: toWatchChat(chat) });
  // Nothing to read yet: a new chat turns unread with its first answer.
  return toChatDto(chat, false);
}

/** The chat if the actor owns it; 404 otherwise (never 403: existence is not revealed). */
export async function getChat(deps: Pick<ChatServiceDeps, 'db'>, actor: Actor, chatId: string): Promise<ChatRow> {
  const chat = await findChatForOwner(deps.db, chatId, actor.id);
  if (!chat) throw new NotFoundError('chat');
  return chat;
}

/** GET /chats/{id}: the chat as the API shows it, with its unread flag; 404 unless the actor owns it. */
export async function getChatDto(deps: Pick<ChatServiceDeps, 'db'>, actor: Actor, chatId: string): Promise<ChatDto> {
  const chat = await findChatWithUnreadForOwner(deps.db, chatId, actor.id);
  if (!chat) throw new NotFoundError('chat');
  return toChatDto(chat, chat.has_unread);
}

async function lockOwnedChat(trx: Transaction<Database>, actor: Actor, chatId: string): Promise<ChatRow> {
  const chat = await lockChat(trx, chatId);
  if (!chat || chat.owner_id !== actor.id) throw new NotFoundError('chat');
  return chat;
}

export interface UpdateChatInput {
  title?: string;
  labels?: Record<string, string>;
  archived?: boolean;
  /** 0 unpins; N > 0 moves the chat to position N among the owner's pinned chats (placePinnedChat). */
  pin_order?: number;
  /** Replaces the chat's MCP servers (`force_on` ones are always added); used from its next step on. */
  mcp_server_ids?: string[];
  /** Replaces the tools the chat asks about; a tool named here is no longer approved for the rest of the chat. */
  tool_approval?: { ask: string[] };
}

/**
 * Renames, relabels, archives, unarchives, pins, unpins or moves a chat among the pinned ones.
 * Archiving cascades to its sub-agent chats and stops their running turns as an interrupt does
 * (queued messages stay); it also unpins them and closes the gap in the pinned order. Unarchiving a
 * chat that is not archived, or pinning a chat that is (or becomes) archived, is a 400 that writes
 * nothing. Pin changes and archiving take the owner's pin lock first (lockOwnerPins), before the
 * chat's row lock, so renumberings of one owner run one at a time.
 */
export async function updateChatSettings(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  input: UpdateChatInput,
): Promise<ChatDto> {
  const result = await deps.db.transaction().execute(async (trx) => {
    const renumbers = input.pin_order !== undefined || input.archived === true;
    if (renumbers) await lockOwnerPins(trx, actor.id);
    let chat = await lockOwnedChat(trx, actor, chatId);
    if (input.archived === false && !chat.archived) {
      throw new ValidationError('The chat is not archived.', undefined, 'chat_not_archived');
    }
    if (input.pin_order !== undefined && input.pin_order > 0 && (input.archived ?? chat.archived)) {
      throw new ValidationError('An archived chat cannot be pinned.', undefined, 'chat_archived');
    }
    const titleChanged = input.title !== undefined && input.title !== chat.title;
    if (titleChanged || input.labels !== undefined) {
      chat = await updateChat(trx, chat.id, {
        ...(titleChanged ? { title: input.title } : {}),
        ...(input.labels !== undefined ? { labels: JSON.stringify(input.labels) } : {}),
      });
    }
    if (input.mcp_server_ids !== undefined) {
      chat = await updateChat(trx, chat.id, { mcp_server_ids: await resolveMcpSelection(trx, input.mcp_server_ids) });
    }
    if (input.tool_approval !== undefined)
      chat = await updateChat(trx, chat.id, askingMore(chat, input.tool_approval.ask));
    let changedTree: ChatRow[] = [];
    let stopped: Array<{ chat: ChatRow; turn: number }> = [];
    if (input.archived !== undefined && input.archived !== chat.archived) {
      if (input.archived) {
        // Status first: stopTurn needs each chat's turn, which the archive update does not change.
        stopped = (await stopChatTree(trx, chat.id)).map((row) => ({ chat: row, turn: row.turn }));
      }
      changedTree = await setChatTreeArchived(trx, chat.id, input.archived);
      chat = changedTree.find((row) => row.id === chat.id) ?? chat;
      const archivedById = new Map(changedTree.map((row) => [row.id, row]));
      stopped = stopped.map((s) => ({ chat: archivedById.get(s.chat.id) ?? s.chat, turn: s.turn }));
    }
    let pinMoves: ChatRow[] = [];
    if (renumbers) {
      // Archiving already set the tree's pin_order to 0; this closes the gap it left among the rest.
      pinMoves = await placePinnedChat(trx, actor.id, chat.id, input.pin_order ?? 0);
      chat = pinMoves.find((row) => row.id === chat.id) ?? chat;
    }
    return { chat, titleChanged, changedTree, stopped, pinMoves, hasUnread: await chatHasUnread(trx, chat.id) };
  });

  const { chat } = result;
  if (result.titleChanged) {
    deps.bus.publish(chat.id, { type: 'title_change', chat_id: chat.id, title: chat.title });
    deps.bus.publishWatch(chat.owner_id, { kind: 'title_change', chat: toWatchChat(chat) });
  }
  for (const row of result.changedTree) {
    deps.bus.publishWatch(row.owner_id, { kind: row.archived ? 'deleted' : 'created', chat: toWatchChat(row) });
  }
  for (const row of result.pinMoves) {
    deps.bus.publishWatch(row.owner_id, {
      kind: 'pin_change',
      chat: { ...toWatchChat(row), pin_order: row.pin_order },
    });
  }
  await Promise.all(result.stopped.map((s) => stopTurn(deps, s.chat, s.turn)));
  return toChatDto(chat, result.hasUnread);
}

/**
 * Marks the chat read up to `message_id` (one of its messages, deleted ones included), or up to its
 * newest message. The cursor only moves forward: an older id leaves it as it is, so the call is
 * idempotent and safe to repeat or race. 404 unless the actor owns the chat; 400
 * `message_not_found` for an id that is not this chat's (nothing written). A move publishes
 * `read_change` on the owner's watch feed.
 */
export async function markChatRead(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  input: { message_id?: number },
): Promise<ChatDto> {
  const chat = await findChatForOwner(deps.db, chatId, actor.id);
  if (!chat) throw new NotFoundError('chat');
  if (input.message_id !== undefined && !(await chatHasMessage(deps.db, chat.id, input.message_id))) {
    throw new ValidationError('The message is not one of this chat’s.', undefined, 'message_not_found');
  }
  const moved = await advanceReadCursor(deps.db, chat.id, actor.id, input.message_id);
  if (moved) {
    deps.bus.publishWatch(moved.owner_id, {
      kind: 'read_change',
      chat: { ...toWatchChat(moved), has_unread: moved.has_unread, last_read_message_id: moved.last_read_message_id },
    });
    return toChatDto(moved, moved.has_unread);
  }
  return getChatDto(deps, actor, chat.id);
}

export interface MessagesPage {
  messages: ChatMessageDto[];
  queued_messages: ChatQueuedMessageDto[];
  /** The approvals of the tool calls in `messages` (docs/tool-approval.md). */
  tool_approvals: ToolApprovalDto[];
  has_more: boolean;
}

/** A page of the chat's user-visible messages (oldest first within the page) and its queue. */
export async function listMessages(
  deps: Pick<ChatServiceDeps, 'db'>,
  actor: Actor,
  chatId: string,
  opts: { beforeId?: number; limit: number },
): Promise<MessagesPage> {
  const chat = await getChat(deps, actor, chatId);
  const [page, queue] = await Promise.all([
    listVisibleMessagesPage(deps.db, chat.id, opts),
    listQueuedMessages(deps.db, chat.id),
  ]);
  const asked = page.rows.filter((r) => r.role === 'assistant').map((r) => r.id);
  const approvals = await listApprovalsForMessages(deps.db, chat.id, asked);
  return {
    messages: page.rows.reverse().map(toMessageDto),
    queued_messages: queue.map(toQueuedDto),
    tool_approvals: approvals.map(toToolApprovalDto),
    has_more: page.hasMore,
  };
}

export interface SendMessageResult {
  queued: boolean;
  message?: ChatMessageDto;
  queued_message?: ChatQueuedMessageDto;
}

/**
 * Sends a message: on an idle chat with an empty queue it starts a turn; otherwise it queues
 * (FIFO, at most 20) and, with `interrupt`, also stops the running turn so the queue drains.
 */
export async function sendMessage(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  input: { content: ChatInputPart[]; busy_behavior: 'queue' | 'interrupt'; model_config_id?: string },
  beforeCommit?: BeforeCommit<SendMessageResult>,
): Promise<SendMessageResult> {
  const parts = toUserParts(input.content);
  await deps.usage?.assertWithinLimit(actor.id, chatId);
  const result = await deps.db.transaction().execute(async (trx) => {
    const locked = await lockChatCountingQueue(trx, chatId);
    if (!locked || locked.chat.owner_id !== actor.id) throw new NotFoundError('chat');
    const { chat } = locked;
    const modelConfigId = input.model_config_id ? await usableModelConfig(trx, input.model_config_id) : null;
    // Files are checked and linked now, also for a queued message: its promotion reuses the stored content.
    const content = await withOwnedFiles(trx, actor.id, parts);
    await linkFileParts(trx, chat.id, content);
    // A backlog queues too, even on an idle chat: messages are answered in the order they were sent.
    if (isBusy(chat.status) || locked.queued > 0) {
      if (locked.queued >= MAX_QUEUE_SIZE) {
        throw new RateLimitedError('queue_full', `A chat can hold at most ${MAX_QUEUE_SIZE} queued messages.`);
      }
      const queued = await insertQueuedMessage(trx, {
        chat_id: chat.id,
        content: encodeParts(content),
        created_by: actor.id,
        model_config_id: modelConfigId,
      });
      await beforeCommit?.(trx, { queued: true, queued_message: toQueuedDto(queued) });
      return { kind: 'queued' as const, chat, queued, queue: await listQueuedMessages(trx, chat.id) };
    }
    const { chat: next, message } = await startNextTurnWith(trx, chat, actor.id, encodeParts(content), modelConfigId);
    const request = await requestTurnOrFail(deps, next, true);
    await beforeCommit?.(trx, { queued: false, message: toMessageDto(message) });
    return { kind: 'started' as const, chat: next, message, request };
  });

  if (result.kind === 'queued') {
    deps.bus.publish(chatId, { type: 'queue_update', chat_id: chatId, queued_messages: result.queue.map(toQueuedDto) });
    if (input.busy_behavior === 'interrupt') await interruptChat(deps, actor, chatId);
    return { queued: true, queued_message: toQueuedDto(result.queued) };
  }
  deps.turns.turnCommitted?.(result.request);
  deps.bus.publish(chatId, messageEvent(result.message));
  const message = toMessageDto(result.message);
  publishStatusChange(deps.bus, result.chat);
  return { queued: false, message };
}

/**
 * Edits a user message: it and every later message are soft-deleted (their cost rows stay), the
 * new text is inserted as a new message, the queue is cleared and a new turn starts. The turn
 * number moves on, so a turn still running is superseded and nothing it writes afterwards lands.
 * Streams learn of it through `history_truncated` (drop messages from the edited id on), then the
 * replacement `message`, an empty `queue_update` and `status`.
 */
export async function editMessage(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  messageId: number,
  input: { content: ChatInputPart[]; model_config_id?: string },
): Promise<ChatMessageDto> {
  const parts = toUserParts(input.content);
  await deps.usage?.assertWithinLimit(actor.id, chatId);
  const result = await deps.db.transaction().execute(async (trx) => {
    const chat = await lockOwnedChat(trx, actor, chatId);
    const modelConfigId = input.model_config_id ? await usableModelConfig(trx, input.model_config_id) : null;
    const edited = await findVisibleMessage(trx, chat.id, messageId);
    if (!edited) throw new NotFoundError('chat_message');
    if (edited.role !== 'user') {
      throw new ValidationError('Only user messages can be edited.', undefined, 'message_not_editable');
    }
    const content = await withOwnedFiles(trx, actor.id, parts);
    await softDeleteMessagesFrom(trx, chat.id, edited.id);
    const clearedQueue = (await clearQueuedMessages(trx, chat.id)) > 0;
    const next = await startNextTurn(trx, chat, modelConfigId);
    const [message] = await insertMessages(trx, [userMessageRow(next, actor.id, encodeParts(content))]);
    await linkFileParts(trx, chat.id, content);
    // Signal-with-start: a run still open for the old turn receives `turn-requested` and supersedes itself.
    await requestTurnOrFail(deps, next);
    return { previous: chat, chat: next, message: message!, clearedQueue };
  });

  const { chat } = result;
  if (isBusy(result.previous.status)) {
    deps.bus.sendControl(chat.id, { type: 'interrupt', turn: result.previous.turn });
  }
  deps.bus.publish(chat.id, { type: 'history_truncated', chat_id: chat.id, from_message_id: messageId });
  deps.bus.publish(chat.id, messageEvent(result.message));
  const message = toMessageDto(result.message);
  if (result.clearedQueue) deps.bus.publish(chat.id, { type: 'queue_update', chat_id: chat.id, queued_messages: [] });
  publishStatusChange(deps.bus, chat);
  return message;
}

/** Removes one queued message. 404 when the chat has no such entry. */
export async function deleteQueuedMessageById(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  queuedId: number,
): Promise<void> {
  const queue = await deps.db.transaction().execute(async (trx) => {
    // The chat lock first: the turn's finish pops the queue under the same lock.
    const chat = await lockOwnedChat(trx, actor, chatId);
    if (!(await deleteQueuedMessage(trx, chat.id, queuedId))) throw new NotFoundError('queued_message');
    return listQueuedMessages(trx, chat.id);
  });
  deps.bus.publish(chatId, { type: 'queue_update', chat_id: chatId, queued_messages: queue.map(toQueuedDto) });
}

/**
 * Sends a queued message now: it becomes the user message of a new turn, ahead of the rest of the
 * queue. A turn still running is superseded (as by an edit, its later output does not land).
 * Refused over the spend limit (the message stays queued): its turn could not call the model anyway.
 * Promotion at the end of a turn is not checked; that turn stops at its first model call instead.
 */
export async function promoteQueuedMessage(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  queuedId: number,
  input: { model_config_id?: string } = {},
): Promise<ChatMessageDto> {
  await deps.usage?.assertWithinLimit(actor.id, chatId);
  const result = await deps.db.transaction().execute(async (trx) => {
    const chat = await lockOwnedChat(trx, actor, chatId);
    const chosen = input.model_config_id ? await usableModelConfig(trx, input.model_config_id) : null;
    const queued: ChatQueuedMessageRow | undefined = await deleteQueuedMessage(trx, chat.id, queuedId);
    if (!queued) throw new NotFoundError('queued_message');
    // The model named now, else the one the message was sent with, else the chat's.
    const next = await startNextTurn(trx, chat, chosen ?? queued.model_config_id);
    // The stored content is already encoded (NUL escaping); it moves over as it is.
    const row = userMessageRow(next, queued.created_by ?? actor.id, JSON.stringify(queued.content));
    const [message] = await insertMessages(trx, [row]);
    await requestTurnOrFail(deps, next);
    return { previous: chat, chat: next, message: message!, queue: await listQueuedMessages(trx, chat.id) };
  });

  const { chat } = result;
  if (isBusy(result.previous.status)) {
    deps.bus.sendControl(chat.id, { type: 'interrupt', turn: result.previous.turn });
  }
  deps.bus.publish(chat.id, messageEvent(result.message));
  const message = toMessageDto(result.message);
  deps.bus.publish(chat.id, { type: 'queue_update', chat_id: chat.id, queued_messages: result.queue.map(toQueuedDto) });
  publishStatusChange(deps.bus, chat);
  return message;
}

/**
 * Stops the running turn: the chat is `waiting` when this returns; the worker persists the partial
 * answer and then promotes the oldest queued message, if any. A chat that is not busy is returned
 * as it is.
 */
export async function interruptChat(deps: ChatServiceDeps, actor: Actor, chatId: string): Promise<ChatDto> {
  const { chat, turn } = await deps.db.transaction().execute(async (trx) => {
    const chat = await lockOwnedChat(trx, actor, chatId);
    if (!isBusy(chat.status)) return { chat, turn: null };
    return { chat: await updateChat(trx, chat.id, { status: 'waiting' }), turn: chat.turn };
  });
  if (turn !== null) await stopTurn(deps, chat, turn);
  return toChatDto(chat, await chatHasUnread(deps.db, chat.id));
}
