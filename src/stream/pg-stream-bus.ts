/**
 * Cross-process stream bus on PostgreSQL LISTEN/NOTIFY, for API and worker fleets. One channel
 * per chat (events), per chat (control: interrupts and snapshot requests) and per owner (watch).
 * Payloads stay under NOTIFY's 8000-byte limit: long deltas are split, and an event too big to
 * split (a large persisted message) travels as a reference that subscribers load from the table.
 * All NOTIFYs go through one connection so a chat's events arrive in the order they were sent.
 * The in-flight partial of a step lives with the worker producing it; an API process asks for it
 * with a snapshot request on the control channel and gets the parts back on the event channel,
 * behind the parts the worker had already sent (one publishing connection keeps them in order).
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { toMessageDto, toQueuedDto } from '../chat/dto';
import type { ChatMessageRow, ChatQueuedMessageRow } from '../db/database';
import type { PartialSubscription, StreamBus, Unsubscribe } from './bus';
import type { ControlMessage, StreamEvent, WatchEvent } from './events';
import { InFlightBuffer } from './memory-stream-bus';

const MAX_PAYLOAD = 7800;
const SNAPSHOT_TIMEOUT_MS = 250;

type Wire =
  | { k: 'e'; e: StreamEvent }
  | { k: 'msg'; id: number }
  | { k: 'queue' }
  | { k: 'snap'; r: string; e: StreamEvent[]; last: boolean }
  | { k: 'w'; e: WatchEvent }
  | { k: 'x'; m: ControlMessage }
  | { k: 'snapreq'; r: string };

const hex = (id: string): string => id.replace(/-/g, '').toLowerCase();
const eventChannel = (chatId: string): string => `chatd_e_${hex(chatId)}`;
const controlChannel = (chatId: string): string => `chatd_x_${hex(chatId)}`;
const watchChannel = (ownerId: string): string => `chatd_w_${hex(ownerId)}`;

type Incoming = StreamEvent | Promise<StreamEvent | null>;
const isPart = (item: Incoming): boolean => !(item instanceof Promise) && item.type === 'message_part';

/** Runs a connection's queries one at a time, in call order (pg stops queueing them itself in v9). */
class QueryQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(query: () => Promise<T>): Promise<T> {
    const next = this.tail.then(query, query);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/**
 * Delivers one subscription's events in arrival order, also when some of them must first be loaded
 * from the database (messages or queues too large for a NOTIFY).
 */
class OrderedDelivery {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly listener: (event: StreamEvent) => void,
    private readonly log: Logger,
  ) {}

  push(item: Incoming): void {
    if (!(item instanceof Promise)) {
      this.tail = this.tail.then(() => this.deliver(item));
      return;
    }
    const loaded = item.catch((err: unknown) => {
      this.log.warn({ err }, 'stream event could not be loaded');
      return null;
    });
    this.tail = this.tail.then(async () => {
      const event = await loaded;
      if (event) this.deliver(event);
    });
  }

  private deliver(event: StreamEvent): void {
    try {
      this.listener(event);
    } catch (err) {
      this.log.warn({ err }, 'stream subscriber failed');
    }
  }
}

/** The cross-process bus (`chatd api` / `chatd worker` fleets): one instance per process. */
export class PgStreamBus implements StreamBus {
  private readonly publisher: Client;
  private listener: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private readonly handlers = new Map<string, Set<(wire: Wire) => void>>();
  /** Per channel: resolves once its LISTEN is active. */
  private readonly listening = new Map<string, Promise<void>>();
  private readonly lostHandlers = new Set<() => void>();
  private readonly produced = new InFlightBuffer();
  private closed = false;
  private readonly publisherReady: Promise<boolean>;
  private readonly publisherQueries = new QueryQueue();
  private readonly listenerQueries = new QueryQueue();

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {
    this.publisher = new Client({ connectionString: url, application_name: 'chatd-bus-publish' });
    this.publisher.on('error', (err) => this.log.warn({ err }, 'stream bus publisher connection failed'));
    this.publisherReady = this.publisher.connect().then(
      () => true,
      (err: unknown) => {
        this.log.error({ err }, 'stream bus publisher could not connect');
        return false;
      },
    );
  }

  publish(chatId: string, event: StreamEvent): void {
    this.produced.observe(chatId, event);
    for (const wire of this.encode(event)) this.notify(eventChannel(chatId), wire);
  }

  /** `onLost` is told when the LISTEN connection dropped: events may be missing, resync from the database. */
  subscribe(chatId: string, listener: (event: StreamEvent) => void, onLost?: () => void): Unsubscribe {
    const ordered = new OrderedDelivery(listener, this.log);
    const sub = this.listen(eventChannel(chatId), (wire) => {
      const event = this.decode(chatId, wire);
      if (event) ordered.push(event);
    });
    if (onLost) this.lostHandlers.add(onLost);
    return () => {
      sub.off();
      if (onLost) this.lostHandlers.delete(onLost);
    };
  }

  subscribeWithPartial(
    chatId: string,
    listener: (event: StreamEvent) => void,
    onLost?: () => void,
  ): PartialSubscription {
    const request = randomUUID();
    const ordered = new OrderedDelivery(listener, this.log);
    const collected: StreamEvent[] = [];
    const held: Incoming[] = [];
    let state: 'asking' | 'done' = 'asking';
    let timer: NodeJS.Timeout | undefined;
    let settle: (events: StreamEvent[]) => void = () => undefined;
    const partial = new Promise<StreamEvent[]>((resolve) => (settle = resolve));

    const finish = (answered: boolean): void => {
      if (state === 'done') return;
      state = 'done';
      clearTimeout(timer);
      // The producer sends its answer after every part it had published, on the same connection:
      // the parts that arrived before the answer are inside it. Everything else passes in order.
      for (const item of held) if (!(answered && isPart(item))) ordered.push(item);
      held.length = 0;
      settle(answered ? collected : []);
    };

    const sub = this.listen(eventChannel(chatId), (wire) => {
      if (wire.k === 'snap') {
        if (wire.r !== request || state === 'done') return;
        collected.push(...wire.e);
        if (wire.last) finish(true);
        return;
      }
      const event = this.decode(chatId, wire);
      if (!event) return;
      if (state === 'asking') held.push(event);
      else ordered.push(event);
    });
    if (onLost) this.lostHandlers.add(onLost);
    sub.live.then(
      () => {
        if (state === 'done') return;
        this.notify(controlChannel(chatId), { k: 'snapreq', r: request });
        // No answer means no step is streaming anywhere (or its worker died: the retry starts afresh).
        timer = setTimeout(() => finish(false), SNAPSHOT_TIMEOUT_MS);
      },
      () => finish(false),
    );
    return {
      partial,
      unsubscribe: () => {
        finish(false);
        sub.off();
        if (onLost) this.lostHandlers.delete(onLost);
      },
    };
  }

  publishWatch(ownerId: string, event: WatchEvent): void {
    this.notify(watchChannel(ownerId), { k: 'w', e: event });
  }

  subscribeWatch(ownerId: string, listener: (event: WatchEvent) => void): Unsubscribe {
    return this.listen(watchChannel(ownerId), (wire) => wire.k === 'w' && listener(wire.e)).off;
  }

  sendControl(chatId: string, message: ControlMessage): void {
    this.notify(controlChannel(chatId), { k: 'x', m: message });
  }

  onControl(chatId: string, listener: (message: ControlMessage) => void): Unsubscribe {
    // The process holding a control listener is the one producing the chat's step: it answers
    // snapshot requests with its in-flight parts.
    return this.listen(controlChannel(chatId), (wire) => {
      if (wire.k === 'x') listener(wire.m);
      else if (wire.k === 'snapreq') this.answerSnapshot(chatId, wire.r);
    }).off;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.publisher.end(), this.listener?.end()]);
  }

  /** A wire message as an event (or the load of one too big for NOTIFY); null for other kinds. */
  private decode(chatId: string, wire: Wire): Incoming | null {
    if (wire.k === 'e') return wire.e;
    if (wire.k === 'msg') return this.loadMessage(wire.id);
    if (wire.k === 'queue') return this.loadQueue(chatId);
    return null;
  }

  /** Splits an event into NOTIFY-sized wire messages. */
  private encode(event: StreamEvent): Wire[] {
    const whole: Wire = { k: 'e', e: event };
    if (Buffer.byteLength(JSON.stringify(whole)) <= MAX_PAYLOAD) return [whole];
    if (event.type === 'message') return [{ k: 'msg', id: event.message.id }];
    if (event.type === 'queue_update') return [{ k: 'queue' }];
    if (event.type === 'message_part') {
      const { part } = event;
      const field = part.text !== undefined ? 'text' : part.args_delta !== undefined ? 'args_delta' : null;
      if (field) {
        const text = part[field]!;
        const chunks: Wire[] = [];
        // Code points, not UTF-16 units, so a chunk never splits a surrogate pair.
        const chars = [...text];
        const size = Math.floor(MAX_PAYLOAD / 8);
        for (let i = 0; i < chars.length; i += size) {
          chunks.push({ k: 'e', e: { ...event, part: { ...part, [field]: chars.slice(i, i + size).join('') } } });
        }
        return chunks;
      }
    }
    this.log.warn({ type: event.type }, 'stream event too large for NOTIFY; dropped');
    return [];
  }

  private answerSnapshot(chatId: string, request: string): void {
    const events = this.produced.get(chatId);
    if (events.length === 0) return;
    let batch: StreamEvent[] = [];
    let size = 0;
    const flush = (last: boolean): void => {
      this.notify(eventChannel(chatId), { k: 'snap', r: request, e: batch, last });
      batch = [];
      size = 0;
    };
    for (const event of events.flatMap((e) => this.encode(e))) {
      if (event.k !== 'e') continue;
      const bytes = Buffer.byteLength(JSON.stringify(event.e));
      if (size + bytes > MAX_PAYLOAD - 200 && batch.length) flush(false);
      batch.push(event.e);
      size += bytes;
    }
    flush(true);
  }

  private notify(channel: string, wire: Wire): void {
    void this.publisherReady.then((ok) => {
      if (!ok || this.closed) return;
      this.publisherQueries
        .run(() => this.publisher.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(wire)]))
        .catch((err: unknown) => this.log.warn({ err, channel }, 'NOTIFY failed'));
    });
  }

  /** Adds a handler for a channel; `live` resolves once the channel's LISTEN is active. */
  private listen(channel: string, handler: (wire: Wire) => void): { off: Unsubscribe; live: Promise<void> } {
    let set = this.handlers.get(channel);
    if (!set) {
      this.handlers.set(channel, (set = new Set()));
      const live = this.ready().then(async (client) => {
        await this.listenerQueries.run(() => client.query(`LISTEN ${channel}`));
      });
      live.catch((err: unknown) => this.log.warn({ err, channel }, 'LISTEN failed'));
      this.listening.set(channel, live);
    }
    set.add(handler);
    const channelSet = set;
    return {
      live: this.listening.get(channel) ?? Promise.resolve(),
      off: () => {
        channelSet.delete(handler);
        if (channelSet.size === 0 && this.handlers.get(channel) === channelSet) {
          this.handlers.delete(channel);
          this.listening.delete(channel);
          const client = this.listener;
          if (client) void this.listenerQueries.run(() => client.query(`UNLISTEN ${channel}`)).catch(() => undefined);
        }
      },
    };
  }

  /** The LISTEN connection; after a loss it reconnects, re-listens, and tells subscribers to resync. */
  private ready(): Promise<Client> {
    if (this.listener) return Promise.resolve(this.listener);
    this.connecting ??= (async () => {
      const client = new Client({ connectionString: this.url, application_name: 'chatd-bus-listen' });
      client.on('notification', (msg) => {
        const set = msg.payload === undefined ? undefined : this.handlers.get(msg.channel);
        if (!set) return;
        let wire: Wire;
        try {
          wire = JSON.parse(msg.payload!) as Wire;
        } catch {
          return;
        }
        for (const handler of [...set]) {
          try {
            handler(wire);
          } catch (err) {
            this.log.warn({ err }, 'stream subscriber failed');
          }
        }
      });
      client.on('error', (err) => {
        this.log.warn({ err }, 'stream bus listener connection lost');
        this.listener = null;
        this.connecting = null;
        for (const lost of [...this.lostHandlers]) lost();
        if (!this.closed && this.handlers.size) setTimeout(() => void this.relisten(), 500);
      });
      await client.connect();
      for (const channel of this.handlers.keys()) {
        await this.listenerQueries.run(() => client.query(`LISTEN ${channel}`));
      }
      this.listener = client;
      return client;
    })();
    return this.connecting;
  }

  private async relisten(): Promise<void> {
    try {
      await this.ready();
    } catch (err) {
      this.log.warn({ err }, 'stream bus reconnect failed; retrying');
      this.connecting = null;
      if (!this.closed) setTimeout(() => void this.relisten(), 1000);
    }
  }

  private async loadMessage(id: number): Promise<StreamEvent | null> {
    const client = await this.ready();
    const { rows } = await this.listenerQueries.run(() =>
      client.query<ChatMessageRow>('SELECT * FROM chat_messages WHERE id = $1', [id]),
    );
    const row = rows[0];
    return row ? { type: 'message', chat_id: row.chat_id, message: toMessageDto(row) } : null;
  }

  private async loadQueue(chatId: string): Promise<StreamEvent> {
    const client = await this.ready();
    const { rows } = await this.listenerQueries.run(() =>
      client.query<ChatQueuedMessageRow>('SELECT * FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id', [chatId]),
    );
    return { type: 'queue_update', chat_id: chatId, queued_messages: rows.map(toQueuedDto) };
  }
}
