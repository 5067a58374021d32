/**
 * One client's view of a chat's stream: subscribe first, then send the snapshot (status,
 * messages after the cursor, the in-flight partial, the queue), then live events, with
 * duplicates between snapshot and live traffic removed. Independent of HTTP: it writes to a sink.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { findChat } from '../db/repositories/chats.repository';
import { listQueuedMessages, listVisibleMessagesAfter } from '../db/repositories/messages.repository';
import { toMessageDto, toQueuedDto } from '../chat/dto';
import type { StreamBus } from './bus';
import { EventIdSequence, type StreamCursor } from './cursor';
import type { StreamEvent } from './events';

export interface StreamSink {
  send(id: number, type: StreamEvent['type'], data: StreamEvent): void;
  onClose(handler: () => void): void;
}

export async function streamChat(
  deps: { db: Kysely<Database>; bus: StreamBus },
  chatId: string,
  cursor: StreamCursor,
  sink: StreamSink,
): Promise<void> {
  const ids = new EventIdSequence(cursor);
  let live: StreamEvent[] | null = [];
  const emit = (event: StreamEvent): void => {
    if (event.type === 'message') {
      if (event.message.id <= ids.lastMessageId) return; // already delivered by the snapshot
      sink.send(ids.next(event.message.id), event.type, event);
    } else {
      sink.send(ids.next(), event.type, event);
    }
  };
  const unsubscribe = deps.bus.subscribe(chatId, (event) => (live ? live.push(event) : emit(event)));
  sink.onClose(unsubscribe);

  // The partial is read before the messages: if its step is persisted meanwhile, the step's
  // `message` event is in the live buffer (subscribed above) and the stale partial is dropped.
  const inFlight = await deps.bus.inFlight(chatId);
  const chat = await findChat(deps.db, chatId);
  if (!chat) return;
  const [messages, queue] = await Promise.all([
    listVisibleMessagesAfter(deps.db, chatId, cursor.messageId),
    listQueuedMessages(deps.db, chatId),
  ]);
  const stepEnded = live.some((e) => e.type === 'message' && e.message.role === 'assistant');
  emit({ type: 'status', chat_id: chatId, status: chat.status });
  for (const row of messages) emit({ type: 'message', chat_id: chatId, message: toMessageDto(row) });
  if (!stepEnded) for (const part of inFlight) emit(part);
  if (queue.length) emit({ type: 'queue_update', chat_id: chatId, queued_messages: queue.map(toQueuedDto) });

  const sentParts = new Set(inFlight);
  const buffered = live;
  live = null;
  for (const event of buffered) if (!sentParts.has(event)) emit(event);
}
