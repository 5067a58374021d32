/**
 * The stream bus moves events from where they happen (the worker's activities, the API's
 * mutations) to the API processes serving SSE. Durable data never depends on it: messages are
 * read from PostgreSQL; the bus carries live deltas, hints and the interrupt fast path.
 */
import type { ChatMessageRow, ChatRow } from '../db/database';
import { toMessageDto, toWatchChat } from '../messages/dto';
import type { BusEvent, ControlMessage, StreamEvent, WatchEvent } from './events';

export type Unsubscribe = () => void;

/** The step streaming now (null: none) and its `message_part` events so far, oldest first. */
export interface InFlightPartial {
  step: string | null;
  parts: StreamEvent[];
}

/** Receives one chat's live events, in order. */
export interface LiveHandler {
  /**
   * A live event; `step` names the in-flight step of a `message_part`. The parts of a step arrive
   * once each, in order and without gaps; parts of a step that ended are not delivered.
   */
  event(event: StreamEvent, step?: string): void;
  /** The in-flight step is over (persisted, retried, discarded): its parts are no longer a partial. */
  stepEnded?(step: string): void;
  /**
   * The bus lost its connection and is listening again: hints (`message`, `status`,
   * `queue_update`) may have been missed, so re-read them from the database. Parts are not lost.
   */
  resync?(): void;
}

/** A live subscription that starts from the in-flight partial of the step now streaming. */
export interface PartialSubscription {
  /**
   * The partial when the subscription became live. The handler receives exactly the events after
   * that point: no part is both in the partial and delivered live, and none after it is missed.
   * Resolves only once the subscription is live, so data read from the database afterwards leaves
   * no gap.
   */
  partial: Promise<InFlightPartial>;
  /** Tells the bus that no step can be in flight (the chat is not running): it need not wait for one. */
  settle(): void;
  unsubscribe: Unsubscribe;
}

export interface StreamBus {
  /** Fire-and-forget: never awaits cross-process I/O on the caller's hot path. */
  publish(chatId: string, event: BusEvent): void;
  /** Live events of one chat, in the order each producer published them. */
  subscribe(chatId: string, listener: (event: StreamEvent) => void): Unsubscribe;
  /** Subscribes and also returns the in-flight partial (what a joining client needs). */
  subscribeWithPartial(chatId: string, handler: LiveHandler): PartialSubscription;

  publishWatch(ownerId: string, event: WatchEvent): void;
  /** `onLost` is told when watch events may have been missed (the client should reload its list). */
  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void, onLost?: () => void): Unsubscribe;

  sendControl(chatId: string, message: ControlMessage): void;
  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe;

  close(): Promise<void>;
}

/** The `status` event of a chat row as written, ordered by its turn. */
export function statusEvent(chat: Pick<ChatRow, 'id' | 'status' | 'turn'>): BusEvent {
  return { type: 'status', chat_id: chat.id, status: chat.status, order: { turn: chat.turn } };
}

/**
 * The `message` event of a stored message. `prev_message_id` (from the insert: see
 * messages.repository.ts) orders it; a row without one (a retried step's stored row) is a plain hint.
 */
export function messageEvent(row: ChatMessageRow & { prev_message_id?: number | null }): BusEvent {
  const event: BusEvent = { type: 'message', chat_id: row.chat_id, message: toMessageDto(row) };
  // Only what a stream shows may be sent as it is; other rows stay hints (the feed reads what it shows).
  const shown = !row.deleted && (row.visibility === 'user' || row.visibility === 'both');
  if (row.prev_message_id !== undefined && shown) event.order = { prev_message_id: row.prev_message_id };
  return event;
}

/** Announces a chat's new status on its stream and on its owner's watch feed. */
export function publishStatusChange(bus: StreamBus, chat: ChatRow): void {
  bus.publish(chat.id, statusEvent(chat));
  bus.publishWatch(chat.owner_id, { kind: 'status_change', chat: toWatchChat(chat) });
}
