/**
 * GET /chats/watch: the lifecycle feed of one owner's chats (`created`, `deleted`,
 * `status_change`, `title_change`, `read_change`, `pin_change`). Live only, without ids: a
 * reconnecting client reloads the list.
 */
import type { StreamBus } from './bus';
import type { WatchEvent } from './events';

export interface WatchSink {
  send(id: null, type: WatchEvent['kind'], data: WatchEvent): void;
  onClose(handler: () => void): void;
  close(): void;
}

/**
 * Forwards the owner's watch events to `sink` until it closes. If the bus may have lost some, the
 * sink is closed: the client reconnects and reloads the list rather than miss a change.
 */
export function streamWatch(bus: StreamBus, ownerId: string, sink: WatchSink): void {
  const unsubscribe = bus.subscribeWatch(
    ownerId,
    (event) => sink.send(null, event.kind, event),
    () => sink.close(),
  );
  sink.onClose(unsubscribe);
}
