/**
 * In-process stream bus: used when the API and the worker share one process (`npm start`), where
 * a NOTIFY round trip would only add latency. Listener errors are isolated from publishers.
 */
import type { PartialSubscription, StreamBus, Unsubscribe } from './bus';
import type { ControlMessage, StreamEvent, WatchEvent } from './events';

/** The in-flight buffer is bounded; older parts are dropped (clients then see a shorter partial). */
const MAX_IN_FLIGHT = 10_000;

class Topic<T> {
  private readonly listeners = new Map<string, Set<(value: T) => void>>();

  emit(key: string, value: T): void {
    const set = this.listeners.get(key);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(value);
      } catch {
        // A broken subscriber must never break the producer or other subscribers.
      }
    }
  }

  on(key: string, listener: (value: T) => void): Unsubscribe {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }
}

/**
 * Tracks the parts of the step now streaming, so late subscribers can rebuild the partial answer.
 * Cleared when the step ends (its assistant message), on a retry or error, when the chat leaves
 * `running`, and when an edit rewrites the history.
 */
export class InFlightBuffer {
  private readonly parts = new Map<string, StreamEvent[]>();

  /** Updates the buffer with an event the producer published. */
  observe(chatId: string, event: StreamEvent): void {
    if (event.type === 'message_part') {
      let list = this.parts.get(chatId);
      if (!list) this.parts.set(chatId, (list = []));
      list.push(event);
      if (list.length > MAX_IN_FLIGHT) list.shift();
    } else if (
      event.type === 'retry' ||
      event.type === 'error' ||
      event.type === 'history_truncated' ||
      (event.type === 'message' && event.message.role === 'assistant') ||
      (event.type === 'status' && event.status !== 'running')
    ) {
      this.parts.delete(chatId);
    }
  }

  /** A copy of the chat's in-flight parts, oldest first. */
  get(chatId: string): StreamEvent[] {
    return [...(this.parts.get(chatId) ?? [])];
  }
}

/** The bus of a single process (`npm start`, unit tests): synchronous fan-out, nothing crosses a process. */
export class MemoryStreamBus implements StreamBus {
  private readonly events = new Topic<StreamEvent>();
  private readonly watch = new Topic<WatchEvent>();
  private readonly control = new Topic<ControlMessage>();
  private readonly buffer = new InFlightBuffer();

  publish(chatId: string, event: StreamEvent): void {
    this.buffer.observe(chatId, event);
    this.events.emit(chatId, event);
  }

  subscribe(chatId: string, listener: (event: StreamEvent) => void): Unsubscribe {
    return this.events.on(chatId, listener);
  }

  subscribeWithPartial(chatId: string, listener: (event: StreamEvent) => void): PartialSubscription {
    // Publishing is synchronous here, so the copy and the subscription are taken at the same instant.
    const partial = this.buffer.get(chatId);
    return { partial: Promise.resolve(partial), unsubscribe: this.subscribe(chatId, listener) };
  }

  publishWatch(ownerId: string, event: WatchEvent): void {
    this.watch.emit(ownerId, event);
  }

  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void): Unsubscribe {
    return this.watch.on(ownerId, listener);
  }

  sendControl(chatId: string, message: ControlMessage): void {
    this.control.emit(chatId, message);
  }

  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe {
    return this.control.on(chatId, listener);
  }

  async close(): Promise<void> {}
}
