/**
 * In-process stream bus: used when the API and the worker share one process (`npm start`), where
 * a NOTIFY round trip would only add latency. Listener errors are isolated from publishers.
 */
import type { LiveHandler, PartialSubscription, StreamBus, Unsubscribe } from './bus';
import type { ControlMessage, StreamEvent, WatchEvent } from './events';
import { InFlightParts } from './in-flight';

class Topic<T> {
  private readonly listeners = new Map<string, Set<T>>();

  each(key: string, call: (listener: T) => void): void {
    const set = this.listeners.get(key);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        call(listener);
      } catch {
        // A broken subscriber must never break the producer or the other subscribers.
      }
    }
  }

  on(key: string, listener: T): Unsubscribe {
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
    };
  }
}

/** The bus of a single process (`npm start`, unit tests): synchronous fan-out, nothing crosses a process. */
export class MemoryStreamBus implements StreamBus {
  private readonly events = new Topic<LiveHandler>();
  private readonly watch = new Topic<(event: WatchEvent) => void>();
  private readonly control = new Topic<(message: ControlMessage) => void>();
  /** Every event of the process passes here, so this one copy sees each step from its start to its end. */
  private readonly inFlight = new InFlightParts('local');

  publish(chatId: string, event: StreamEvent): void {
    const at = this.inFlight.observe(chatId, event);
    if (at.stale) return;
    this.events.each(chatId, (handler) => {
      if (at.ends !== undefined) handler.stepEnded?.(at.ends);
      handler.event(event, at.step);
    });
  }

  subscribe(chatId: string, listener: (event: StreamEvent) => void): Unsubscribe {
    return this.events.on(chatId, { event: listener });
  }

  subscribeWithPartial(chatId: string, handler: LiveHandler): PartialSubscription {
    // Publishing is synchronous here, so the copy and the subscription are taken at the same instant.
    const copy = this.inFlight.copy(chatId);
    return {
      partial: Promise.resolve(copy ? { step: copy.step, parts: copy.parts } : { step: null, parts: [] }),
      settle: () => undefined,
      unsubscribe: this.events.on(chatId, handler),
    };
  }

  publishWatch(ownerId: string, event: WatchEvent): void {
    this.watch.each(ownerId, (listener) => listener(event));
  }

  /** Nothing is ever lost in process, so `onLost` is never called. */
  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void): Unsubscribe {
    return this.watch.on(ownerId, listener);
  }

  sendControl(chatId: string, message: ControlMessage): void {
    this.control.each(chatId, (listener) => listener(message));
  }

  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe {
    return this.control.on(chatId, listener);
  }

  async close(): Promise<void> {}
}
