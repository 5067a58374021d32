/**
 * Chat lifecycle as the API drives it: create, list, update and archive, send (start a turn or
 * queue), edit, queue control, interrupt. Each mutation commits under the chat's row lock; a new
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
  deleteChat,
  findChatForOwner,
  findChatListKey,
  insertChat,
  listChatsPage,
  lockChat,
  lockChatCountingQueue,
  setChatTreeArchived,
  stopChatTree,
  updateChat,
  type ChatListKey,
} from '../db/repositories/chats.repository';
import {
  clearQueuedMessages,
  deleteQueuedMessage,
  findVisibleMessage,
  insertMessages,
  insertQueuedMessage,
  listQueuedMessages,
  listVisibleMessagesPage,
  softDeleteMessagesFrom,
} from '../db/repositories/messages.repository';
import { findDefaultModelConfig, findModelConfig } from '../db/repositories/model-configs.repository';
import { findOwnedWorkspaceForShare } from '../db/repositories/workspaces.repository';
import { DependencyUnavailableError, NotFoundError, RateLimitedError, ValidationError } from '../errors';
import type { StreamBus } from '../stream/bus';
import type { ChatMessageDto, ChatQueuedMessageDto, WatchEvent } from '../stream/events';
import { messageRow } from '../messages/rows';
import { toChatDto, toMessageDto, toQueuedDto, type ChatDto } from '../messages/dto';
import { encodeParts, type ChatInputPart, type ChatMessagePart } from '../messages/parts';
import { fallbackTitle } from './title';
import { workspaceAwarenessRow } from './workspace-awareness';
import type { TurnLauncher } from './turn-launcher';

/** At most this many queued messages per chat; one more is refused with 429 `queue_full`. */
export const MAX_QUEUE_SIZE = 20;

export interface ChatServiceDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  turns: TurnLauncher;
  log: Logger;
}

/** Validates user input parts: at least one non-blank text or a file. */
function toUserParts(parts: ChatInputPart[]): ChatMessagePart[] {
  const hasContent = parts.some((p) => (p.type === 'text' ? p.text.trim() !== '' : true));
  if (!hasContent) throw new ValidationError('Content is required.', undefined, 'content_required');
  return parts.filter((p) => p.type !== 'text' || p.text.trim() !== '').map((p) => ({ ...p }));
}

async function requestTurnOrFail(deps: ChatServiceDeps, chat: ChatRow): Promise<void> {
  try {
    await deps.turns.requestTurn({
      chatId: chat.id,
      turn: chat.turn,
      ownerId: chat.owner_id,
      rootChatId: chat.root_chat_id ?? chat.id,
      modelConfigId: chat.last_model_config_id,
    });
  } catch (err) {
    deps.log.error({ err, chatId: chat.id }, 'could not start the chat turn');
    throw new DependencyUnavailableError('The workflow service');
  }
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
  return updateChat(trx, chat.id, {
    status: 'pending',
    turn: chat.turn + 1,
    last_error: null,
    last_error_kind: null,
    ...(modelConfigId ? { last_model_config_id: modelConfigId } : {}),
  });
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

function watchChat(chat: ChatRow): WatchEvent['chat'] {
  return {
    id: chat.id,
    status: chat.status,
    title: chat.title,
    parent_chat_id: chat.parent_chat_id,
    archived: chat.archived,
  };
}

/** Publishes a status change on the chat's stream and its owner's watch feed. */
function publishStatus(bus: StreamBus, chat: ChatRow): void {
  bus.publish(chat.id, { type: 'status', chat_id: chat.id, status: chat.status });
  bus.publishWatch(chat.owner_id, { kind: 'status_change', chat: watchChat(chat) });
}

/**
 * Stops a chat's running turn after its status was set to `waiting`: the bus message aborts the
 * provider call at once; the Temporal signal makes the outcome certain if that message is lost.
 */
async function stopTurn(deps: ChatServiceDeps, chat: ChatRow, turn: number): Promise<void> {
  deps.bus.sendControl(chat.id, { type: 'interrupt', turn });
  publishStatus(deps.bus, chat);
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
export async function createChat(deps: ChatServiceDeps, actor: Actor, input: CreateChatInput): Promise<ChatDto> {
  const parts = toUserParts(input.content);
  const text = parts.find((p) => p.type === 'text')?.text ?? '';
  const { chat, message } = await deps.db.transaction().execute(async (trx) => {
    const modelConfigId = input.model_config_id
      ? await usableModelConfig(trx, input.model_config_id)
      : await defaultModelConfig(trx);
    const workspace = await attachableWorkspace(trx, actor, input.workspace_id);
    const chat = await insertChat(trx, {
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
      userMessageRow(chat, actor.id, encodeParts(parts)),
    ]);
    return { chat, message: inserted.find((m) => m.role === 'user')! };
  });
  try {
    await requestTurnOrFail(deps, chat);
  } catch (err) {
    await deleteChat(deps.db, chat.id);
    throw err;
  }
  deps.bus.publish(chat.id, { type: 'message', chat_id: chat.id, message: toMessageDto(message) });
  deps.bus.publishWatch(actor.id, { kind: 'created', chat: watchChat(chat) });
  return toChatDto(chat);
}

/** The chat if the actor owns it; 404 otherwise (never 403: existence is not revealed). */
export async function getChat(deps: Pick<ChatServiceDeps, 'db'>, actor: Actor, chatId: string): Promise<ChatRow> {
  const chat = await findChatForOwner(deps.db, chatId, actor.id);
  if (!chat) throw new NotFoundError('chat');
  return chat;
}

async function lockOwnedChat(trx: Transaction<Database>, actor: Actor, chatId: string): Promise<ChatRow> {
  const chat = await lockChat(trx, chatId);
  if (!chat || chat.owner_id !== actor.id) throw new NotFoundError('chat');
  return chat;
}

export interface ListChatsInput {
  archived: boolean;
  /** `key:value` pairs; a chat must carry all of them. */
  labels: string[];
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string;
  /** Alternative cursor: list the chats after this one of the actor's chats. */
  afterId?: string;
  limit: number;
}

export interface ChatsPage {
  chats: ChatDto[];
  /** Pass as `cursor` for the next page; null on the last page. */
  next_cursor: string | null;
}

const invalidCursor = (): ValidationError => new ValidationError('Invalid cursor.', undefined, 'invalid_cursor');

/** The opaque form of a listing key (base64url JSON): clients pass it back, never build it. */
export function encodeChatCursor(key: ChatListKey): string {
  return Buffer.from(JSON.stringify({ u: key.updatedAt, i: key.id })).toString('base64url');
}

/** Parses a cursor from encodeChatCursor; throws ValidationError `invalid_cursor` for anything else. */
export function decodeChatCursor(cursor: string): ChatListKey {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const { u, i } = (value ?? {}) as { u?: unknown; i?: unknown };
  const timestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  if (typeof u !== 'string' || typeof i !== 'string' || !timestamp.test(u) || !uuid.test(i)) throw invalidCursor();
  if (Number.isNaN(Date.parse(u))) throw invalidCursor();
  return { updatedAt: u, id: i };
}

/** Parses `key:value` label filters; one value per key. */
function parseLabelFilters(filters: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const filter of filters) {
    const sep = filter.indexOf(':');
    const key = filter.slice(0, sep);
    const value = filter.slice(sep + 1);
    if (sep <= 0) throw new ValidationError('A label filter is `key:value`.', { label: filter }, 'invalid_label');
    if (key in labels && labels[key] !== value) {
      throw new ValidationError('A label filter names one value per key.', { label: filter }, 'invalid_label');
    }
    labels[key] = value;
  }
  return labels;
}

/**
 * The actor's chats, most recently active first, filtered and paged in SQL: a keyset on
 * (updated_at, id), so a page is never short and rows never repeat while nothing changes.
 */
export async function listChats(
  deps: Pick<ChatServiceDeps, 'db'>,
  actor: Actor,
  input: ListChatsInput,
): Promise<ChatsPage> {
  if (input.cursor !== undefined && input.afterId !== undefined) {
    throw new ValidationError('Give either cursor or after_id, not both.', undefined, 'invalid_cursor');
  }
  let after: ChatListKey | undefined;
  if (input.cursor !== undefined) after = decodeChatCursor(input.cursor);
  if (input.afterId !== undefined) {
    after = await findChatListKey(deps.db, actor.id, input.afterId);
    if (!after) throw invalidCursor();
  }
  const page = await listChatsPage(deps.db, actor.id, {
    archived: input.archived,
    labels: parseLabelFilters(input.labels),
    after,
    limit: input.limit,
  });
  return { chats: page.rows.map(toChatDto), next_cursor: page.next ? encodeChatCursor(page.next) : null };
}

export interface UpdateChatInput {
  title?: string;
  labels?: Record<string, string>;
  archived?: boolean;
}

/**
 * Renames, relabels, archives or unarchives a chat. Archiving cascades to its sub-agent chats and
 * stops their running turns as an interrupt does (queued messages stay); unarchiving a chat that is
 * not archived is a 400.
 */
export async function updateChatSettings(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  input: UpdateChatInput,
): Promise<ChatDto> {
  const result = await deps.db.transaction().execute(async (trx) => {
    let chat = await lockOwnedChat(trx, actor, chatId);
    if (input.archived === false && !chat.archived) {
      throw new ValidationError('The chat is not archived.', undefined, 'chat_not_archived');
    }
    const titleChanged = input.title !== undefined && input.title !== chat.title;
    if (titleChanged || input.labels !== undefined) {
      chat = await updateChat(trx, chat.id, {
        ...(titleChanged ? { title: input.title } : {}),
        ...(input.labels !== undefined ? { labels: JSON.stringify(input.labels) } : {}),
      });
    }
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
    return { chat, titleChanged, changedTree, stopped };
  });

  const { chat } = result;
  if (result.titleChanged) {
    deps.bus.publish(chat.id, { type: 'title_change', chat_id: chat.id, title: chat.title });
    deps.bus.publishWatch(chat.owner_id, { kind: 'title_change', chat: watchChat(chat) });
  }
  for (const row of result.changedTree) {
    deps.bus.publishWatch(row.owner_id, { kind: row.archived ? 'deleted' : 'created', chat: watchChat(row) });
  }
  await Promise.all(result.stopped.map((s) => stopTurn(deps, s.chat, s.turn)));
  return toChatDto(chat);
}

export interface MessagesPage {
  messages: ChatMessageDto[];
  queued_messages: ChatQueuedMessageDto[];
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
  return {
    messages: page.rows.reverse().map(toMessageDto),
    queued_messages: queue.map(toQueuedDto),
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
): Promise<SendMessageResult> {
  const parts = toUserParts(input.content);
  const result = await deps.db.transaction().execute(async (trx) => {
    const locked = await lockChatCountingQueue(trx, chatId);
    if (!locked || locked.chat.owner_id !== actor.id) throw new NotFoundError('chat');
    const { chat } = locked;
    const modelConfigId = input.model_config_id ? await usableModelConfig(trx, input.model_config_id) : null;
    // A backlog queues too, even on an idle chat: messages are answered in the order they were sent.
    if (isBusy(chat.status) || locked.queued > 0) {
      if (locked.queued >= MAX_QUEUE_SIZE) {
        throw new RateLimitedError('queue_full', `A chat can hold at most ${MAX_QUEUE_SIZE} queued messages.`);
      }
      const queued = await insertQueuedMessage(trx, {
        chat_id: chat.id,
        content: encodeParts(parts),
        created_by: actor.id,
        model_config_id: modelConfigId,
      });
      return { kind: 'queued' as const, chat, queued, queue: await listQueuedMessages(trx, chat.id) };
    }
    const next = await startNextTurn(trx, chat, modelConfigId);
    const [message] = await insertMessages(trx, [userMessageRow(next, actor.id, encodeParts(parts))]);
    await requestTurnOrFail(deps, next);
    return { kind: 'started' as const, chat: next, message: message! };
  });

  if (result.kind === 'queued') {
    deps.bus.publish(chatId, { type: 'queue_update', chat_id: chatId, queued_messages: result.queue.map(toQueuedDto) });
    if (input.busy_behavior === 'interrupt') await interruptChat(deps, actor, chatId);
    return { queued: true, queued_message: toQueuedDto(result.queued) };
  }
  const message = toMessageDto(result.message);
  deps.bus.publish(chatId, { type: 'message', chat_id: chatId, message });
  publishStatus(deps.bus, result.chat);
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
  const result = await deps.db.transaction().execute(async (trx) => {
    const chat = await lockOwnedChat(trx, actor, chatId);
    const modelConfigId = input.model_config_id ? await usableModelConfig(trx, input.model_config_id) : null;
    const edited = await findVisibleMessage(trx, chat.id, messageId);
    if (!edited) throw new NotFoundError('chat_message');
    if (edited.role !== 'user') {
      throw new ValidationError('Only user messages can be edited.', undefined, 'message_not_editable');
    }
    await softDeleteMessagesFrom(trx, chat.id, edited.id);
    const clearedQueue = (await clearQueuedMessages(trx, chat.id)) > 0;
    const next = await startNextTurn(trx, chat, modelConfigId);
    const [message] = await insertMessages(trx, [userMessageRow(next, actor.id, encodeParts(parts))]);
    // Signal-with-start: a run still open for the old turn receives `turn-requested` and supersedes itself.
    await requestTurnOrFail(deps, next);
    return { previous: chat, chat: next, message: message!, clearedQueue };
  });

  const { chat } = result;
  if (isBusy(result.previous.status)) {
    deps.bus.sendControl(chat.id, { type: 'interrupt', turn: result.previous.turn });
  }
  deps.bus.publish(chat.id, { type: 'history_truncated', chat_id: chat.id, from_message_id: messageId });
  const message = toMessageDto(result.message);
  deps.bus.publish(chat.id, { type: 'message', chat_id: chat.id, message });
  if (result.clearedQueue) deps.bus.publish(chat.id, { type: 'queue_update', chat_id: chat.id, queued_messages: [] });
  publishStatus(deps.bus, chat);
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
 * Not subject to spend limits: the message was accepted when it was queued.
 */
export async function promoteQueuedMessage(
  deps: ChatServiceDeps,
  actor: Actor,
  chatId: string,
  queuedId: number,
  input: { model_config_id?: string } = {},
): Promise<ChatMessageDto> {
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
  const message = toMessageDto(result.message);
  deps.bus.publish(chat.id, { type: 'message', chat_id: chat.id, message });
  deps.bus.publish(chat.id, { type: 'queue_update', chat_id: chat.id, queued_messages: result.queue.map(toQueuedDto) });
  publishStatus(deps.bus, chat);
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
  return toChatDto(chat);
}
