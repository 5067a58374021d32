/**
 * The stream bus moves events from where they happen (the worker's activities, the API's
 * mutations) to the API processes serving SSE. Durable data never depends on it: messages are
 * read from PostgreSQL; the bus carries live deltas, hints and the interrupt fast path.
 */
import type { ControlMessage, StreamEvent, WatchEvent } from './events';

export type Unsubscribe = () => void;

/** A live subscription that starts from the in-flight partial of the step now streaming. */
export interface PartialSubscription {
  /**
   * The `message_part` events of the step streaming when the subscription became live, oldest
   * first (empty when none). The listener receives exactly the events after that point: no part is
   * both in the partial and delivered live, and none after it is missed. Resolves only once the
   * subscription is live, so data read from the database afterwards leaves no gap.
   */
  partial: Promise<StreamEvent[]>;
  unsubscribe: Unsubscribe;
}

export interface StreamBus {
  /** Fire-and-forget: never awaits cross-process I/O on the caller's hot path. */
  publish(chatId: string, event: StreamEvent): void;
  /**
   * Live events of one chat, in the order each producer published them. `onLost` is called if the
   * bus may have dropped events (a lost connection): the subscriber should resync from the database.
   */
  subscribe(chatId: string, listener: (event: StreamEvent) => void, onLost?: () => void): Unsubscribe;
  /** Subscribes like `subscribe` and also returns the in-flight partial (what a joining client needs). */
  subscribeWithPartial(
    chatId: string,
    listener: (event: StreamEvent) => void,
    onLost?: () => void,
  ): PartialSubscription;

  publishWatch(ownerId: string, event: WatchEvent): void;
  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void): Unsubscribe;

  sendControl(chatId: string, message: ControlMessage): void;
  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe;

  close(): Promise<void>;
}
