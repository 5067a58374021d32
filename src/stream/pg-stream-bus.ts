/**
 * Cross-process stream bus on PostgreSQL LISTEN/NOTIFY, for API and worker fleets. One channel
 * per chat (events), per chat (control: interrupts and requests for the in-flight step) and per
 * owner (watch). Payloads stay under NOTIFY's 8000-byte limit: long deltas are split, and an event
 * too big to split (a large persisted message) travels as a reference loaded from the table.
 * All NOTIFYs of a process go through one connection, in order, so a producer's events arrive in
 * the order it sent them. Parts carry their step and number (in-flight.ts): a process serving a
 * chat asks the producer for its copy of the in-flight step when it starts listening, after a
 * reconnect, and on a gap, and merges the answer exactly. Both connections reconnect by themselves.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { toMessageDto, toQueuedDto } from '../messages/dto';
import type { ChatMessageRow, ChatQueuedMessageRow } from '../db/database';
import type { InFlightPartial, LiveHandler, PartialSubscription, StreamBus, Unsubscribe } from './bus';
import type { ControlMessage, StreamEvent, WatchEvent } from './events';
import {
  InFlightMirror,
  InFlightParts,
  type InFlightPosition,
  type MirrorItem,
  type StepAnswer,
  type StepCopy,
} from './in-flight';

/** Bytes of one NOTIFY payload we allow ourselves (PostgreSQL's limit is 8000). */
const MAX_PAYLOAD = 7800;
/** Bytes of an event sent whole; the rest of the payload is the envelope. */
const MAX_EVENT_BYTES = MAX_PAYLOAD - 200;
/**
 * How long delivery waits for a producer's copy of the in-flight step. A producer answers within a
 * round trip; no answer means nobody is streaming the chat (or its worker died: the retry starts a
 * new step). Correctness does not depend on it: a part that shows a gap later is asked for again.
 */
const ANSWER_WAIT_MS = 1000;
/**
 * NOTIFYs sent in one statement (one transaction) when they queue up behind a round trip; bounded
 * so that the first of a big burst is not held back long by the rest.
 */
const MAX_BATCH = 500;
const MAX_BATCH_CHARS = 128 * 1024;
/** Unsent NOTIFY payload kept while the publishing connection is down; the oldest are dropped beyond. */
const MAX_UNSENT_CHARS = 16 * 1024 * 1024;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

const NOTIFY_ONE = 'SELECT pg_notify($1, $2)';
/** unnest keeps the array order, and PostgreSQL delivers a transaction's notifications in order. */
const NOTIFY_MANY = 'SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)';

type Wire =
  | { k: 'e'; e: StreamEvent; p?: string; s?: number; end?: string }
  | { k: 'msg'; id: number; end?: string }
  | { k: 'queue' }
  | { k: 'snap'; o: string; p: string | null; f: number; s: number; e: StreamEvent[]; last: boolean }
  | { k: 'w'; e: WatchEvent }
  | { k: 'x'; m: ControlMessage }
  | { k: 'snapreq' };

const hex = (id: string): string => id.replace(/-/g, '').toLowerCase();
const eventChannel = (chatId: string): string => `chatd_e_${hex(chatId)}`;
const controlChannel = (chatId: string): string => `chatd_x_${hex(chatId)}`;
const watchChannel = (ownerId: string): string => `chatd_w_${hex(ownerId)}`;
const COPY_REQUEST = JSON.stringify({ k: 'snapreq' } satisfies Wire);

/** A lost or refused connection (as opposed to a statement PostgreSQL rejected). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return code.startsWith('08') || code.startsWith('57');
}

/** An event's wire message, built around its JSON (serialised once per publish). */
function eventWire(json: string, at: InFlightPosition): string {
  const position = at.step === undefined ? '' : `,"p":${JSON.stringify(at.step)},"s":${at.seq}`;
  const end = at.ends === undefined ? '' : `,"end":${JSON.stringify(at.ends)}`;
  return `{"k":"e","e":${json}${position}${end}}`;
}

/** One batch of a step copy's wire message (`snap`), built around its parts' JSON (serialised once). */
function copyWire(producer: string, copy: StepCopy | null, start: number, parts: string[], last: boolean): string {
  const step = copy ? JSON.stringify(copy.step) : 'null';
  return `{"k":"snap","o":${JSON.stringify(producer)},"p":${step},"f":${copy?.first ?? 0},"s":${start},"e":[${parts.join(',')}],"last":${last}}`;
}

/** A delta too long for one NOTIFY as several shorter parts (null if the event is not a delta). */
function splitDelta(event: StreamEvent): StreamEvent[] | null {
  if (event.type !== 'message_part') return null;
  const { part } = event;
  const field = part.text !== undefined ? 'text' : part.args_delta !== undefined ? 'args_delta' : null;
  if (!field) return null;
  // Code points, not UTF-16 units, so a chunk never splits a surrogate pair.
  const chars = [...part[field]!];
  const size = Math.floor(MAX_PAYLOAD / 8);
  const chunks: StreamEvent[] = [];
  for (let start = 0; start < chars.length;) {
    const end = chunkEnd(chars, start, size);
    chunks.push({ ...event, part: { ...part, [field]: chars.slice(start, end).join('') } });
    start = end;
  }
  return chunks;
}

/** Where a chunk of at most `size` code points ends: after its last whitespace, so words stay whole. */
function chunkEnd(chars: string[], start: number, size: number): number {
  const limit = start + size;
  if (limit >= chars.length) return chars.length;
  for (let i = limit - 1; i > start + size / 2; i--) if (/\s/.test(chars[i]!)) return i + 1;
  return limit;
}

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
 * The publishing connection. NOTIFYs go out in call order; those that queue up behind a round trip
 * go together in one statement, one transaction. It commits asynchronously (`synchronous_commit =
 * off`): a NOTIFY is ephemeral, the durable data is committed elsewhere. After a lost connection it
 * reconnects and sends what is still unsent; beyond a bound the oldest are dropped, and receivers
 * fill a missing part from the producer's copy.
 */
class NotifyPublisher {
  private client: Client | null = null;
  private unsent: Array<{ channel: string; payload: string }> = [];
  private unsentChars = 0;
  private dropped = 0;
  private sending = false;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {}

  notify(channel: string, payload: string): void {
    if (this.closed) return;
    this.unsent.push({ channel, payload });
    this.unsentChars += payload.length;
    if (this.unsentChars > MAX_UNSENT_CHARS) this.dropOldest();
    void this.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }

  private dropOldest(): void {
    while (this.unsentChars > MAX_UNSENT_CHARS && this.unsent.length > 1) {
      this.unsentChars -= this.unsent.shift()!.payload.length;
      this.dropped += 1;
    }
  }

  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    let backoff = RECONNECT_MIN_MS;
    try {
      while (this.unsent.length > 0 && !this.closed) {
        const batch = this.unsent.splice(0, this.batchSize());
        try {
          await this.send(batch);
          backoff = RECONNECT_MIN_MS;
          this.reportDropped();
        } catch (err) {
          if (!isConnectionError(err)) {
            this.log.warn({ err }, 'NOTIFY rejected; dropped');
          } else {
            this.log.warn({ err }, 'stream bus publisher connection lost; reconnecting');
            this.unsent.unshift(...batch);
            this.disconnect();
            await sleep(backoff);
            backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
            continue;
          }
        }
        for (const sent of batch) this.unsentChars -= sent.payload.length;
      }
    } finally {
      this.sending = false;
    }
  }

  /** Once connected again: how many NOTIFYs the backlog bound dropped meanwhile (one line, not one per drop). */
  private reportDropped(): void {
    if (this.dropped === 0) return;
    this.log.warn({ dropped: this.dropped }, 'stream bus publisher was disconnected too long; oldest NOTIFYs dropped');
    this.dropped = 0;
  }

  /** How many of the oldest unsent NOTIFYs go in the next statement (at least one). */
  private batchSize(): number {
    let count = 0;
    let chars = 0;
    for (const { payload } of this.unsent) {
      if (count === MAX_BATCH || (count > 0 && chars + payload.length > MAX_BATCH_CHARS)) break;
      count += 1;
      chars += payload.length;
    }
    return count;
  }

  private async send(batch: Array<{ channel: string; payload: string }>): Promise<void> {
    const client = this.client ?? (await this.connect());
    if (batch.length === 1) await client.query(NOTIFY_ONE, [batch[0]!.channel, batch[0]!.payload]);
    else await client.query(NOTIFY_MANY, [batch.map((n) => n.channel), batch.map((n) => n.payload)]);
  }

  private async connect(): Promise<Client> {
    const client = new Client({ connectionString: this.url, application_name: 'chatd-bus-publish' });
    const forget = (): void => {
      if (this.client === client) this.client = null;
    };
    client.on('error', (err) => {
      this.log.warn({ err }, 'stream bus publisher connection failed');
      forget();
    });
    client.on('end', forget);
    try {
      await client.connect();
      await client.query('SET synchronous_commit = off');
    } catch (err) {
      void client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return client;
  }

  private disconnect(): void {
    const client = this.client;
    this.client = null;
    void client?.end().catch(() => undefined);
  }
}

/** What a chat channel needs from its bus. */
interface ChannelHost {
  listen(channel: string, handler: (wire: Wire) => void): { off: Unsubscribe; live: Promise<void> };
  requestCopy(chatId: string): void;
  loadMessage(id: number): Promise<StreamEvent | null>;
  loadQueue(chatId: string): Promise<StreamEvent>;
  log: Logger;
}

type Inbound = { item: MirrorItem } | { answer: StepAnswer } | null;

/**
 * One chat's live stream in this process, shared by all its subscribers: one LISTEN, one mirror of
 * the in-flight step, and one request for the producer's copy however many subscribers join at once.
 */
class ChatChannel {
  private readonly mirror: InFlightMirror;
  private readonly live = new Set<LiveHandler>();
  /** Subscribers waiting for their partial until the mirror stops waiting. */
  private readonly joining = new Map<LiveHandler, (partial: InFlightPartial) => void>();
  private readonly off: Unsubscribe;
  private listening = false;
  /** A subscriber said no step can be in flight: do not wait for an answer once listening. */
  private settleOnListen = false;
  private timer: NodeJS.Timeout | null = null;
  private askedAt = 0;
  private closed = false;
  /** Events queued behind one that is still being loaded from the database, so order holds. */
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: ChannelHost,
    private readonly chatId: string,
    private readonly onEmpty: () => void,
  ) {
    this.mirror = new InFlightMirror({
      event: (event, step) => this.each((handler) => handler.event(event, step)),
      stepEnded: (step) => this.each((handler) => handler.stepEnded?.(step)),
      ask: (waiting) => this.ask(waiting),
      settled: () => this.admit(),
    });
    const sub = host.listen(eventChannel(chatId), (wire) => this.receive(wire));
    this.off = sub.off;
    // A failed LISTEN is retried by the reconnect, which calls startedListening(true).
    sub.live.then(
      () => this.startedListening(false),
      () => undefined,
    );
  }

  join(handler: LiveHandler): PartialSubscription {
    let resolve!: (partial: InFlightPartial) => void;
    const partial = new Promise<InFlightPartial>((r) => (resolve = r));
    if (this.mirror.isWaiting) {
      this.joining.set(handler, resolve);
    } else {
      this.live.add(handler);
      resolve(this.mirror.current());
    }
    return { partial, settle: () => this.settle(), unsubscribe: () => this.leave(handler) };
  }

  /** Listening (again): ask for the in-flight step; after a loss, subscribers re-read what they may have missed. */
  startedListening(afterLoss: boolean): void {
    if (this.closed) return;
    this.listening = true;
    if (this.settleOnListen && !afterLoss) this.mirror.giveUp();
    else this.mirror.wait();
    if (afterLoss) this.each((handler) => handler.resync?.());
  }

  /** The LISTEN connection dropped: hold everything until it is back and the producer has answered. */
  connectionLost(): void {
    this.listening = false;
    this.clearTimer();
    this.mirror.wait(false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimer();
    for (const resolve of this.joining.values()) resolve({ step: null, parts: [] });
    this.joining.clear();
    this.off();
    this.onEmpty();
  }

  private receive(wire: Wire): void {
    switch (wire.k) {
      case 'e':
        this.enqueue({ item: { event: wire.e, step: wire.p, seq: wire.s, ends: wire.end } });
        return;
      case 'msg':
        this.enqueue(this.load(this.host.loadMessage(wire.id)).then((event) => ({ item: { event, ends: wire.end } })));
        return;
      case 'queue':
        this.enqueue(this.load(this.host.loadQueue(this.chatId)).then((event) => (event ? { item: { event } } : null)));
        return;
      case 'snap':
        this.enqueue({
          answer: { producer: wire.o, step: wire.p, first: wire.f, start: wire.s, parts: wire.e, last: wire.last },
        });
        return;
      default:
    }
  }

  private load(event: Promise<StreamEvent | null>): Promise<StreamEvent | undefined> {
    return event.then(
      (loaded) => loaded ?? undefined,
      (err: unknown) => {
        this.host.log.warn({ err, chatId: this.chatId }, 'stream event could not be loaded');
        return undefined;
      },
    );
  }

  /** Handles an inbound message now, or after the loads queued before it. */
  private enqueue(inbound: Inbound | Promise<Inbound>): void {
    if (this.queued === 0 && !(inbound instanceof Promise)) {
      this.handle(inbound);
      return;
    }
    this.queued += 1;
    this.tail = this.tail.then(async () => {
      try {
        this.handle(await inbound);
      } finally {
        this.queued -= 1;
      }
    });
  }

  private handle(inbound: Inbound): void {
    if (!inbound || this.closed) return;
    if ('answer' in inbound) this.mirror.answer(inbound.answer);
    else this.mirror.receive(inbound.item);
  }

  /**
   * Asks the producer for its copy. A wait gives up after ANSWER_WAIT_MS; a gap asks again at most
   * that often, as long as parts after it keep coming.
   */
  private ask(waiting: boolean): void {
    const now = Date.now();
    if (!waiting && now - this.askedAt < ANSWER_WAIT_MS) return;
    this.askedAt = now;
    this.host.requestCopy(this.chatId);
    if (!waiting) return;
    this.clearTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.mirror.giveUp();
    }, ANSWER_WAIT_MS);
  }

  /** The mirror stopped waiting: the subscribers that joined meanwhile start from its partial. */
  private admit(): void {
    this.clearTimer();
    for (const [handler, resolve] of this.joining) {
      this.live.add(handler);
      resolve(this.mirror.current());
    }
    this.joining.clear();
  }

  private settle(): void {
    if (this.listening) this.mirror.giveUp();
    else this.settleOnListen = true;
  }

  private leave(handler: LiveHandler): void {
    this.live.delete(handler);
    this.joining.get(handler)?.({ step: null, parts: [] });
    this.joining.delete(handler);
    if (this.live.size === 0 && this.joining.size === 0) this.close();
  }

  private each(call: (handler: LiveHandler) => void): void {
    for (const handler of [...this.live]) {
      try {
        call(handler);
      } catch (err) {
        this.host.log.warn({ err }, 'stream subscriber failed');
      }
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The cross-process bus (`chatd api` / `chatd worker` fleets): one instance per process. */
export class PgStreamBus implements StreamBus {
  /** Unique per process: names the steps it produces. */
  private readonly producer = randomBytes(6).toString('hex');
  private readonly inFlight = new InFlightParts(this.producer);
  private readonly publisher: NotifyPublisher;
  private listener: Client | null = null;
  private connecting: Promise<Client> | null = null;
  /** Per channel: its handlers, and `live`, which resolves once its LISTEN is active. */
  private readonly channels = new Map<string, { handlers: Set<(wire: Wire) => void>; live: Promise<void> }>();
  private readonly listenerQueries = new QueryQueue();
  private readonly chats = new Map<string, ChatChannel>();
  private readonly controls = new Map<string, Set<(message: ControlMessage) => void>>();
  private readonly watchLost = new Set<() => void>();
  private readonly host: ChannelHost;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private reconnectDelay = RECONNECT_MIN_MS;
  /** Set when the LISTEN connection was lost: the next one tells every chat channel to recover. */
  private recovering = false;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {
    this.publisher = new NotifyPublisher(url, log);
    this.host = {
      listen: (channel, handler) => this.listen(channel, handler),
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
    const { off } = this.listen(watchChannel(ownerId), (wire) => wire.k === 'w' && listener(wire.e));
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
      off = this.listen(controlChannel(chatId), (wire) => {
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
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const chat of [...this.chats.values()]) chat.close();
    await Promise.allSettled([this.publisher.close(), this.listener?.end()]);
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

  /** Adds a handler for a channel; `live` resolves once the channel's LISTEN is active. */
  private listen(channel: string, handler: (wire: Wire) => void): { off: Unsubscribe; live: Promise<void> } {
    let listened = this.channels.get(channel);
    if (!listened) {
      const live = this.connectListener().then(async (client) => {
        await this.listenerQueries.run(() => client.query(`LISTEN ${channel}`));
      });
      live.catch((err: unknown) => {
        this.log.warn({ err, channel }, 'LISTEN failed; retrying');
        this.scheduleReconnect();
      });
      this.channels.set(channel, (listened = { handlers: new Set(), live }));
    }
    listened.handlers.add(handler);
    const entry = listened;
    return {
      live: entry.live,
      off: () => {
        entry.handlers.delete(handler);
        if (entry.handlers.size > 0 || this.channels.get(channel) !== entry) return;
        this.channels.delete(channel);
        const client = this.listener;
        if (client) void this.listenerQueries.run(() => client.query(`UNLISTEN ${channel}`)).catch(() => undefined);
      },
    };
  }

  private dispatch(channel: string, payload: string | undefined): void {
    const handlers = payload === undefined ? undefined : this.channels.get(channel)?.handlers;
    if (!handlers) return;
    let wire: Wire;
    try {
      wire = JSON.parse(payload!) as Wire;
    } catch {
      return;
    }
    for (const handler of [...handlers]) {
      try {
        handler(wire);
      } catch (err) {
        this.log.warn({ err }, 'stream subscriber failed');
      }
    }
  }

  /** The LISTEN connection, opened (and every channel listened on) if there is none. */
  private connectListener(): Promise<Client> {
    if (this.listener) return Promise.resolve(this.listener);
    this.connecting ??= this.openListener().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async openListener(): Promise<Client> {
    if (this.closed) throw new Error('The stream bus is closed.');
    const client = new Client({ connectionString: this.url, application_name: 'chatd-bus-listen' });
    client.on('notification', (msg) => this.dispatch(msg.channel, msg.payload));
    client.on('error', (err) => this.listenerLost(client, err));
    client.on('end', () => this.listenerLost(client));
    try {
      await client.connect();
      const channels = [...this.channels.keys()];
      if (channels.length > 0) await client.query(channels.map((channel) => `LISTEN ${channel}`).join('; '));
    } catch (err) {
      void client.end().catch(() => undefined);
      throw err;
    }
    this.listener = client;
    if (this.recovering) {
      this.recovering = false;
      this.reconnectDelay = RECONNECT_MIN_MS;
      for (const chat of [...this.chats.values()]) chat.startedListening(true);
    }
    return client;
  }

  /** The LISTEN connection is gone: notifications sent until it is back are lost to this process. */
  private listenerLost(client: Client, err?: Error): void {
    if (this.listener !== client) return;
    this.listener = null;
    void client.end().catch(() => undefined);
    if (this.closed) return;
    this.log.warn({ err }, 'stream bus listener connection lost; reconnecting');
    this.recovering = true;
    for (const chat of [...this.chats.values()]) chat.connectionLost();
    for (const lost of [...this.watchLost]) lost();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.listener || this.channels.size === 0) return;
      this.connectListener().then(
        () => undefined,
        (err: unknown) => {
          this.log.warn({ err }, 'stream bus reconnect failed; retrying');
          this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
          this.scheduleReconnect();
        },
      );
    }, this.reconnectDelay);
  }

  private async loadMessage(id: number): Promise<StreamEvent | null> {
    const client = await this.connectListener();
    const { rows } = await this.listenerQueries.run(() =>
      client.query<ChatMessageRow>('SELECT * FROM chat_messages WHERE id = $1', [id]),
    );
    const row = rows[0];
    return row ? { type: 'message', chat_id: row.chat_id, message: toMessageDto(row) } : null;
  }

  private async loadQueue(chatId: string): Promise<StreamEvent> {
    const client = await this.connectListener();
    const { rows } = await this.listenerQueries.run(() =>
      client.query<ChatQueuedMessageRow>('SELECT * FROM chat_queued_messages WHERE chat_id = $1 ORDER BY id', [chatId]),
    );
    return { type: 'queue_update', chat_id: chatId, queued_messages: rows.map(toQueuedDto) };
  }
}
