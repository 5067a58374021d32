/**
 * Cross-process stream bus on PostgreSQL LISTEN/NOTIFY, for API and worker fleets. One channel
 * per chat (events), per chat (control: interrupts and requests for the in-flight step) and per
 * owner (watch). Payloads stay under NOTIFY's 8000-byte limit: long deltas are split, and an event
 * too big to split (a large persisted message) travels as a reference loaded from the table.
 * All NOTIFYs of a process go through one connection, in order, so a producer's events arrive in
 * the order it sent them. Parts carry their step and number (in-flight.ts): a process serving a
 * chat asks the producer for its copy of the in-flight step when it starts listening, after a
 * reconnect, and on a gap, and merges the answer exactly. Both connections reconnect by themselves.
 *
 * The pieces: pg-wire-format.ts (channels and payloads), pg-publisher.ts (the NOTIFY connection),
 * pg-listener.ts (the LISTEN connection), pg-channel.ts (one chat's live stream). This file joins
 * them behind `StreamBus`; the process entry points (src/main) create one per process.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { toMessageDto, toQueuedDto } from '../messages/dto';
import type { ChatMessageRow, ChatQueuedMessageRow } from '../db/database';
import type { LiveHandler, PartialSubscription, StreamBus, Unsubscribe } from './bus';
import type { BusMetrics } from './bus-metrics';
import type { ControlMessage, StreamEvent, WatchEvent } from './events';
import { InFlightParts, type InFlightPosition } from './in-flight';
import { ChatChannel, type ChannelHost } from './pg-channel';
import { PgListener } from './pg-listener';
import { NotifyPublisher } from './pg-publisher';
import {
  controlChannel,
  COPY_REQUEST,
  copyWire,
  eventChannel,
  eventWire,
  MAX_EVENT_BYTES,
  splitDelta,
  watchChannel,
  type Wire,
} from './pg-wire-format';

/** The cross-process bus (`chatd api` / `chatd worker` fleets): one instance per process. */
export class PgStreamBus implements StreamBus {
  /** Unique per process: names the steps it produces. */
  private readonly producer = randomBytes(6).toString('hex');
  private readonly inFlight = new InFlightParts(this.producer);
  private readonly publisher: NotifyPublisher;
  private readonly listener: PgListener;
  private readonly chats = new Map<string, ChatChannel>();
  private readonly controls = new Map<string, Set<(message: ControlMessage) => void>>();
  private readonly watchLost = new Set<() => void>();
  private readonly host: ChannelHost;

  constructor(
    url: string,
    private readonly log: Logger,
    /** The process's metrics (bus lag, NOTIFY wait, drops; README "Operations"). */
    metrics?: BusMetrics,
  ) {
    this.publisher = new NotifyPublisher(url, log, metrics);
    this.listener = new PgListener(
      url,
      log,
      {
        lost: () => {
          for (const chat of [...this.chats.values()]) chat.connectionLost();
          for (const lost of [...this.watchLost]) lost();
        },
        recovered: () => {
          for (const chat of [...this.chats.values()]) chat.startedListening(true);
        },
      },
      metrics,
    );
    this.host = {
      listen: (channel, handler) => this.listener.listen(channel, handler),
      requestCopy: (chatId) => this.publisher.notify(controlChannel(chatId), COPY_REQUEST),
      loadMessage: (id) => this.loadMessage(id),
      loadQueue: (chatId) => this.loadQueue(chatId),
      log,
    };
  }

  publish(chatId: string, event: StreamEvent): void {
    const json = JSON.stringify(event);
    if (Buffer.byteLength(json) <= MAX_EVENT_BYTES) {
      this.send(chatId, json, this.inFlight.observe(chatId, event));
      return;
    }
    const chunks = splitDelta(event);
    if (chunks) {
      for (const chunk of chunks) this.publishChunk(chatId, chunk);
      return;
    }
    const at = this.inFlight.observe(chatId, event);
    const end = at.ends === undefined ? {} : { end: at.ends };
    if (event.type === 'message') {
      this.publisher.notify(eventChannel(chatId), JSON.stringify({ k: 'msg', id: event.message.id, ...end }));
    } else if (event.type === 'queue_update') {
      this.publisher.notify(eventChannel(chatId), JSON.stringify({ k: 'queue' }));
    } else {
      this.log.warn({ type: event.type }, 'stream event too large for NOTIFY; dropped');
    }
  }

  subscribe(chatId: string, listener: (event: StreamEvent) => void): Unsubscribe {
    const subscription = this.subscribeWithPartial(chatId, { event: listener });
    subscription.settle();
    return subscription.unsubscribe;
  }

  subscribeWithPartial(chatId: string, handler: LiveHandler): PartialSubscription {
    let chat = this.chats.get(chatId);
    if (!chat) {
      const created = new ChatChannel(this.host, chatId, () => {
        if (this.chats.get(chatId) === created) this.chats.delete(chatId);
      });
      this.chats.set(chatId, (chat = created));
    }
    return chat.join(handler);
  }

  publishWatch(ownerId: string, event: WatchEvent): void {
    this.publisher.notify(watchChannel(ownerId), JSON.stringify({ k: 'w', e: event } satisfies Wire));
  }

  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void, onLost?: () => void): Unsubscribe {
    const { off } = this.listener.listen(watchChannel(ownerId), (wire) => wire.k === 'w' && listener(wire.e));
    if (onLost) this.watchLost.add(onLost);
    return () => {
      off();
      if (onLost) this.watchLost.delete(onLost);
    };
  }

  sendControl(chatId: string, message: ControlMessage): void {
    this.publisher.notify(controlChannel(chatId), JSON.stringify({ k: 'x', m: message } satisfies Wire));
  }

  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe {
    // The process holding a control listener runs the chat's activity, so it holds the in-flight
    // step (if any): it answers every request for it, with "nothing" too, so askers need not wait.
    let listeners = this.controls.get(chatId);
    let off: Unsubscribe | undefined;
    if (!listeners) {
      const created = new Set<(message: ControlMessage) => void>();
      this.controls.set(chatId, (listeners = created));
      off = this.listener.listen(controlChannel(chatId), (wire) => {
        if (wire.k === 'snapreq') this.answerCopy(chatId);
        else if (wire.k === 'x') for (const each of [...created]) each(wire.m);
      }).off;
    }
    const set = listeners;
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.controls.get(chatId) === set) {
        this.controls.delete(chatId);
        off?.();
      }
    };
  }

  async close(): Promise<void> {
    for (const chat of [...this.chats.values()]) chat.close();
    await Promise.allSettled([this.publisher.close(), this.listener.close()]);
  }

  /** A piece of a split delta: it fits by construction, anything else is a bug worth a warning. */
  private publishChunk(chatId: string, chunk: StreamEvent): void {
    const json = JSON.stringify(chunk);
    if (Buffer.byteLength(json) > MAX_EVENT_BYTES) {
      this.log.warn({ type: chunk.type }, 'stream event too large for NOTIFY even when split; dropped');
      return;
    }
    this.send(chatId, json, this.inFlight.observe(chatId, chunk));
  }

  private send(chatId: string, json: string, at: InFlightPosition): void {
    if (!at.stale) this.publisher.notify(eventChannel(chatId), eventWire(json, at));
  }

  /** Sends this process's copy of the chat's in-flight step, in NOTIFY-sized batches behind its parts. */
  private answerCopy(chatId: string): void {
    const channel = eventChannel(chatId);
    const copy = this.inFlight.copy(chatId);
    const send = (start: number, parts: string[], last: boolean): void =>
      this.publisher.notify(channel, copyWire(this.producer, copy, start, parts, last));
    if (!copy) {
      send(0, [], true);
      return;
    }
    let start = copy.first;
    let batch: string[] = [];
    let size = 0;
    for (const part of copy.parts) {
      const json = JSON.stringify(part);
      const bytes = Buffer.byteLength(json) + 1;
      if (batch.length > 0 && size + bytes > MAX_EVENT_BYTES) {
        send(start, batch, false);
        start += batch.length;
        batch = [];
        size = 0;
      }
      batch.push(json);
      size += bytes;
    }
    send(start, batch, true);
  }

  private async loadMessage(id: number): Promise<StreamEvent | null> {
    const rows = await this.listener.query<ChatMessageRow>('SELECT * FROM chat_messages WHERE id = $1', [id]);
    const row = rows[0];
    return row ? { type: 'message', chat_id: row.chat_id, message: toMessageDto(row) } : null;
  }

  private async loadQueue(chatId: string): Promise<StreamEvent> {
    const rows = await this.listener.query<ChatQueuedMessageRow>(
      'SELECT * FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id',
      [chatId],
    );
    return { type: 'queue_update', chat_id: chatId, queued_messages: rows.map(toQueuedDto) };
  }
}
