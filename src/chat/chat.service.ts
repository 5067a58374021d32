/**
 * Chat lifecycle as the API drives it: create, send (start a turn or queue), interrupt, read.
 * Each mutation commits under the chat's row lock; a new turn is requested from the orchestrator
 * INSIDE that transaction, so a failed request rolls the message back and the turn's first
 * activity, which needs the same row lock, can never run ahead of the committed message.
 */
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { ChatRow, Database } from '../db/database';
import { findChatForOwner, insertChat, lockChat, updateChat } from '../db/repositories/chats.repository';
import { insertMessages, listQueuedMessages, listVisibleMessagesPage } from '../db/repositories/messages.repository';
import { findDefaultModelConfig, findModelConfig } from '../db/repositories/model-configs.repository';
import { DependencyUnavailableError, NotFoundError, RateLimitedError, ValidationError } from '../errors';
import type { StreamBus } from '../stream/bus';
import type { ChatMessageDto, ChatQueuedMessageDto } from '../stream/events';
import type { TurnLauncher } from '../temporal/turns';
import { toChatDto, toMessageDto, toQueuedDto, type ChatDto } from './dto';
import { encodeParts, type ChatInputPart, type ChatMessagePart } from './message-parts';
import { fallbackTitle } from './title';

export const MAX_QUEUE_SIZE = 20;

export interface ChatServiceDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  turns: TurnLauncher;
  log: Logger;
}

export interface Actor {
  id: string;
  role: 'admin' | 'member';
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

function userMessageRow(chat: ChatRow, actor: Actor, parts: ChatMessagePart[]) {
  return {
    chat_id: chat.id,
    turn: chat.turn,
    step_key: null,
    model_config_id: chat.last_model_config_id,
    created_by: actor.id,
    role: 'user' as const,
    content: encodeParts(parts),
    input_tokens: null,
    output_tokens: null,
    total_tokens: null,
    reasoning_tokens: null,
    cache_creation_tokens: null,
    cache_read_tokens: null,
    context_limit: null,
    total_cost_micros: null,
    runtime_ms: null,
    provider_response_id: null,
  };
}

export interface CreateChatInput {
  content: ChatInputPart[];
  model_config_id?: string;
  labels?: Record<string, string>;
}

/** Creates a chat with its first message and starts its first turn. */
export async function createChat(deps: ChatServiceDeps, actor: Actor, input: CreateChatInput): Promise<ChatDto> {
  const parts = toUserParts(input.content);
  const text = parts.find((p) => p.type === 'text')?.text ?? '';
  const { chat, message } = await deps.db.transaction().execute(async (trx) => {
    const modelConfig = input.model_config_id
      ? await findModelConfig(trx, input.model_config_id)
      : await findDefaultModelConfig(trx);
    if (!modelConfig || modelConfig.deleted || !modelConfig.enabled) {
      throw input.model_config_id
        ? new ValidationError('Model config not found.', undefined, 'model_config_not_found')
        : new ValidationError('No default chat model config is configured.', undefined, 'no_default_model_config');
    }
    const chat = await insertChat(trx, {
      owner_id: actor.id,
      workspace_id: null,
      parent_chat_id: null,
      root_chat_id: null,
      last_model_config_id: modelConfig.id,
      title: fallbackTitle(text),
      status: 'pending',
      turn: 1,
      last_error: null,
      last_error_kind: null,
      labels: JSON.stringify(input.labels ?? {}),
      mode: null,
      last_read_message_id: null,
    });
    const [message] = await insertMessages(trx, [userMessageRow(chat, actor, parts)]);
    await requestTurnOrFail(deps, chat);
    return { chat, message: message! };
  });
  const dto = toChatDto(chat);
  deps.bus.publish(chat.id, { type: 'message', chat_id: chat.id, message: toMessageDto(message) });
  deps.bus.publishWatch(actor.id, {
    kind: 'created',
    chat: { id: chat.id, status: chat.status, title: chat.title, parent_chat_id: null, archived: false },
  });
  return dto;
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

export interface MessagesPage {
  messages: ChatMessageDto[];
  queued_messages: ChatQueuedMessageDto[];
  has_more: boolean;
}

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
  input: { content: ChatInputPart[]; busy_behavior: 'queue' | 'interrupt' },
): Promise<SendMessageResult> {
  const parts = toUserParts(input.content);
  const result = await deps.db.transaction().execute(async (trx) => {
    const chat = await lockOwnedChat(trx, actor, chatId);
    const queue = await listQueuedMessages(trx, chat.id);
    const busy = chat.status === 'pending' || chat.status === 'running' || chat.status === 'requires_action';
    if (busy || queue.length > 0) {
      if (queue.length >= MAX_QUEUE_SIZE) {
        throw new RateLimitedError('queue_full', `A chat can hold at most ${MAX_QUEUE_SIZE} queued messages.`);
      }
      const queued = await trx
        .insertInto('chat_queued_messages')
        .values({ chat_id: chat.id, content: encodeParts(parts), created_by: actor.id })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { kind: 'queued' as const, chat, queued, queue: [...queue, queued] };
    }
    const next = await updateChat(trx, chat.id, {
      status: 'pending',
      turn: chat.turn + 1,
      last_error: null,
      last_error_kind: null,
    });
    const [message] = await insertMessages(trx, [userMessageRow(next, actor, parts)]);
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
  deps.bus.publish(chatId, { type: 'status', chat_id: chatId, status: 'pending' });
  return { queued: false, message };
}

/**
 * Stops the running turn: the chat is `waiting` when this returns; the worker persists the partial
 * answer. The bus carries the fast path to the running activity; the signal guarantees the outcome.
 */
export async function interruptChat(deps: ChatServiceDeps, actor: Actor, chatId: string): Promise<ChatDto> {
  const { chat, changed } = await deps.db.transaction().execute(async (trx) => {
    const chat = await lockOwnedChat(trx, actor, chatId);
    if (chat.status !== 'pending' && chat.status !== 'running' && chat.status !== 'requires_action') {
      return { chat, changed: false };
    }
    return { chat: await updateChat(trx, chat.id, { status: 'waiting' }), changed: true };
  });
  if (changed) {
    deps.bus.sendControl(chat.id, { type: 'interrupt', turn: chat.turn });
    deps.bus.publish(chat.id, { type: 'status', chat_id: chat.id, status: 'waiting' });
    try {
      await deps.turns.interrupt(chat.id, chat.turn);
    } catch (err) {
      // The status is already waiting; the fence and finishTurn keep the outcome right without it.
      deps.log.warn({ err, chatId }, 'interrupt signal failed');
    }
  }
  return toChatDto(chat);
}
