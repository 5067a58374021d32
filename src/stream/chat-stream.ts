/**
 * One client's view of a chat's stream: subscribe first, then send the snapshot (status, messages
 * after the cursor, the in-flight partial, the queue), then live events. `message`, `status` and
 * `queue_update` events are hints: the stream sends what the database holds when it handles them,
 * because events of different processes can arrive out of order while the database cannot. A client
 * that falls too far behind is dropped; it reconnects and gets a fresh snapshot. Independent of HTTP.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { toMessageDto, toQueuedDto } from '../chat/dto';
import type { Database } from '../db/database';
import { findChat } from '../db/repositories/chats.repository';
import {
  findTruncationPoint,
  listQueuedMessages,
  listVisibleMessagesAfter,
  listVisibleMessagesBetween,
} from '../db/repositories/messages.repository';
import type { StreamBus } from './bus';
import { EventIdSequence, type StreamCursor } from './cursor';
import type { ChatMessageDto, ChatQueuedMessageDto, ChatStatusValue, StreamEvent, StreamEventType } from './events';

/** What the stream reads from the system of record. */
export interface StreamStore {
  chatStatus(chatId: string): Promise<ChatStatusValue | undefined>;
  /** Live, user-visible messages with id > afterId (and <= upToId when given), oldest first. */
  messagesAfter(chatId: string, afterId: number, upToId?: number): Promise<ChatMessageDto[]>;
  queue(chatId: string): Promise<ChatQueuedMessageDto[]>;
  /** See findTruncationPoint: where a client holding messages up to the cursor must cut its history. */
  truncationPoint(chatId: string, cursorMessageId: number): Promise<number | null>;
}

/** The StreamStore over chatd's database. */
export function createStreamStore(db: Kysely<Database>): StreamStore {
  return {
    async chatStatus(chatId) {
      return (await findChat(db, chatId))?.status;
    },
    async messagesAfter(chatId, afterId, upToId) {
      const rows =
        upToId === undefined
          ? await listVisibleMessagesAfter(db, chatId, afterId)
          : await listVisibleMessagesBetween(db, chatId, afterId, upToId);
      return rows.map(toMessageDto);
    },
    async queue(chatId) {
      return (await listQueuedMessages(db, chatId)).map(toQueuedDto);
    },
    truncationPoint: (chatId, cursorMessageId) => findTruncationPoint(db, chatId, cursorMessageId),
  };
}

export interface StreamSink {
  send(id: number, type: StreamEventType, data: StreamEvent): void;
  onClose(handler: () => void): void;
  /** Ends the stream; the client reconnects (with Last-Event-ID) and gets a fresh snapshot. */
  close(): void;
  /** Writes the snapshot as one burst, whose size the producers bound (optional). */
  burst?(write: () => void): void;
}

export interface StreamChatDeps {
  bus: StreamBus;
  store: StreamStore;
  log?: Logger;
}

export interface StreamChatOptions {
  /** Live events waiting to be handled above which the client is dropped (default 10,000). */
  maxPending?: number;
}

/**
 * Streams chat `chatId` to `sink` from `cursor`. Resolves once the snapshot is written; live events
 * keep flowing until the sink closes. Closes the sink when the chat does not exist.
 */
export async function streamChat(
  deps: StreamChatDeps,
  chatId: string,
  cursor: StreamCursor,
  sink: StreamSink,
  options: StreamChatOptions = {},
): Promise<void> {
  await new ChatStreamSession(deps, chatId, cursor, sink, options.maxPending ?? 10_000).start();
}

type MessageEvent = Extract<StreamEvent, { type: 'message' }>;
const isAssistantMessage = (e: StreamEvent): e is MessageEvent =>
  e.type === 'message' && e.message.role === 'assistant';

class ChatStreamSession {
  private readonly ids: EventIdSequence;
  /** The last status sent (null after a truncation: the next one is sent whatever it is). */
  private status: ChatStatusValue | null = null;
  private queueJson = '[]';
  /** Deltas are forwarded only while the chat runs: late parts of an interrupted or superseded turn are not. */
  private partsOpen = false;
  private closed = false;
  private pending = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: StreamChatDeps,
    private readonly chatId: string,
    private readonly cursor: StreamCursor,
    private readonly sink: StreamSink,
    private readonly maxPending: number,
  ) {
    this.ids = new EventIdSequence(cursor);
  }

  async start(): Promise<void> {
    const { bus, store } = this.deps;
    const chatId = this.chatId;
    this.sink.onClose(() => {
      this.closed = true;
    });
    // Subscribe before reading anything, buffering live events until the snapshot is out.
    let live: StreamEvent[] | null = [];
    const subscription = bus.subscribeWithPartial(
      chatId,
      (event) => (live ? live.push(event) : this.enqueue(event)),
      () => this.sink.close(),
    );
    this.sink.onClose(subscription.unsubscribe);
    try {
      const partial = await subscription.partial;
      const status = await store.chatStatus(chatId);
      if (this.closed) return;
      if (!status) {
        this.sink.close();
        return;
      }
      const [truncatedFrom, messages, queue] = await Promise.all([
        store.truncationPoint(chatId, this.cursor.messageId),
        store.messagesAfter(chatId, this.cursor.messageId),
        store.queue(chatId),
      ]);
      if (this.closed) return;

      const buffered = live;
      live = null;
      const writeSnapshot = (): void => {
        this.sendStatus(status);
        if (truncatedFrom !== null) {
          this.send({ type: 'history_truncated', chat_id: chatId, from_message_id: truncatedFrom });
        }
        for (const message of messages) this.sendMessage(message);
        // A step persisted after the subscription but before the reads above is already among the
        // messages: its partial is stale, and so are the buffered parts that preceded its event.
        const persistedAt = buffered.findLastIndex(
          (e) => isAssistantMessage(e) && e.message.id <= this.ids.lastMessageId,
        );
        if (persistedAt < 0 && this.partsOpen) for (const part of partial) this.send(part);
        // Always sent, empty too: a reconnecting client may hold a queue that has drained since.
        this.sendQueue(queue, true);
        buffered.forEach((event, i) => {
          if (i < persistedAt && event.type === 'message_part') return;
          this.enqueue(event);
        });
      };
      if (this.sink.burst) this.sink.burst(writeSnapshot);
      else writeSnapshot();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Live events are handled one at a time, in arrival order, some after a database read. */
  private enqueue(event: StreamEvent): void {
    if (this.closed) return;
    if (this.pending >= this.maxPending) {
      this.deps.log?.warn({ chatId: this.chatId }, 'stream client too far behind; disconnecting');
      this.sink.close();
      return;
    }
    this.pending += 1;
    this.tail = this.tail.then(async () => {
      try {
        if (!this.closed) await this.handle(event);
      } catch (err) {
        this.fail(err);
      } finally {
        this.pending -= 1;
      }
    });
  }

  private async handle(event: StreamEvent): Promise<void> {
    const { store } = this.deps;
    switch (event.type) {
      case 'message': {
        if (event.message.id <= this.ids.lastMessageId) return;
        // Per chat, messages commit in id order under the chat's row lock, so reading up to this id
        // also delivers a message whose own event is still on its way from another process.
        const messages = await store.messagesAfter(this.chatId, this.ids.lastMessageId, event.message.id);
        for (const message of messages) this.sendMessage(message);
        return;
      }
      case 'status': {
        const status = await store.chatStatus(this.chatId);
        if (status) this.sendStatus(status);
        return;
      }
      case 'queue_update': {
        this.sendQueue(await store.queue(this.chatId));
        return;
      }
      case 'message_part':
        if (this.partsOpen) this.send(event);
        return;
      case 'history_truncated':
        this.partsOpen = false;
        this.status = null;
        this.send(event);
        return;
      default:
        this.send(event);
    }
  }

  private sendStatus(status: ChatStatusValue): void {
    if (status === this.status) return;
    this.status = status;
    this.partsOpen = status === 'running';
    this.send({ type: 'status', chat_id: this.chatId, status });
  }

  private sendMessage(message: ChatMessageDto): void {
    if (message.id <= this.ids.lastMessageId) return;
    this.sink.send(this.ids.next(message.id), 'message', { type: 'message', chat_id: this.chatId, message });
  }

  private sendQueue(queue: ChatQueuedMessageDto[], force = false): void {
    const json = JSON.stringify(queue);
    if (json === this.queueJson && !force) return;
    this.queueJson = json;
    this.send({ type: 'queue_update', chat_id: this.chatId, queued_messages: queue });
  }

  private send(event: StreamEvent): void {
    if (!this.closed) this.sink.send(this.ids.next(), event.type, event);
  }

  private fail(err: unknown): void {
    this.deps.log?.warn({ err, chatId: this.chatId }, 'chat stream failed; disconnecting');
    this.sink.close();
  }
}
