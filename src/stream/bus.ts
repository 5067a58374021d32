/**
 * The stream bus moves events from where they happen (the worker's activities, the API's
 * mutations) to the API processes serving SSE. Durable data never depends on it: messages are
 * read from PostgreSQL; the bus carries live deltas, hints and the interrupt fast path.
 */
import type { ControlMessage, StreamEvent, WatchEvent } from './events';

export type Unsubscribe = () => void;

export interface StreamBus {
  /** Fire-and-forget: never awaits cross-process I/O on the caller's hot path. */
  publish(chatId: string, event: StreamEvent): void;
  subscribe(chatId: string, listener: (event: StreamEvent) => void): Unsubscribe;
  /**
   * The `message_part` events of the step now streaming, oldest first (empty when none). Cleared
   * when the step's assistant message is published or a retry starts.
   */
  inFlight(chatId: string): Promise<StreamEvent[]>;

  publishWatch(ownerId: string, event: WatchEvent): void;
  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void): Unsubscribe;

  sendControl(chatId: string, message: ControlMessage): void;
  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe;

  close(): Promise<void>;
}
