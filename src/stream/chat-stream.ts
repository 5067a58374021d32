/**
 * GET /chats/:id/stream without HTTP. Per chat and process one feed subscribes to the bus, reads
 * what each hint announces from the database once, encodes each event once and fans it out to
 * every client of the chat. A client joins in the feed's order: subscribed first, then its snapshot
 * (status, messages after its cursor, the in-flight partial, the queue), then live events.
 * `message`, `status` and `queue_update` events are hints: the stream sends what the database holds
 * when it handles them, because events of different processes can arrive out of order while the
 * database cannot. Deltas go out as the bus delivers them: each once, in order, whatever the status.
 */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { toMessageDto, toQueuedDto } from '../messages/dto';
import type { Database } from '../db/database';
import { findChat } from '../db/repositories/chats.repository';
import {
  findNewestMessageId,
  findTruncationPoint,
  listQueuedMessages,
  listVisibleMessagesAfter,
} from '../db/repositories/messages.repository';
import type { PartialSubscription, StreamBus } from './bus';
import { EventIdSequence, type StreamCursor } from './cursor';
import type { ChatStatus } from '../messages/chat-status';
import type { BusEvent, ChatMessageDto, ChatQueuedMessageDto, StreamEvent, StreamEventType } from './events';
import { MAX_IN_FLIGHT } from './in-flight';

/** A chat's status and the turn it belongs to. */
export interface ChatState {
  status: ChatStatus;
  turn: number;
}

/** What the stream reads from the system of record. */
export interface StreamStore {
  chatState(chatId: string): Promise<ChatState | undefined>;
  /** Live, user-visible messages with id > afterId (and <= upToId when given), oldest first. */
  messagesAfter(chatId: string, afterId: number, upToId?: number): Promise<ChatMessageDto[]>;
  queue(chatId: string): Promise<ChatQueuedMessageDto[]>;
  /** See findTruncationPoint: where a client holding messages up to the cursor must cut its history. */
  truncationPoint(chatId: string, cursorMessageId: number): Promise<number | null>;
  /** The id of the chat's newest message (any role or visibility), 0 when it has none. */
  newestMessageId(chatId: string): Promise<number>;
}

/** The StreamStore over chatd's database. */
export function createStreamStore(db: Kysely<Database>): StreamStore {
  return {
    async chatState(chatId) {
      const chat = await findChat(db, chatId);
      return chat && { status: chat.status, turn: chat.turn };
    },
    async messagesAfter(chatId, afterId, upToId) {
      return (await listVisibleMessagesAfter(db, chatId, afterId, upToId)).map(toMessageDto);
    },
    async queue(chatId) {
      return (await listQueuedMessages(db, chatId)).map(toQueuedDto);
    },
    truncationPoint: (chatId, cursorMessageId) => findTruncationPoint(db, chatId, cursorMessageId),
    newestMessageId: (chatId) => findNewestMessageId(db, chatId),
  };
}

export interface StreamSink {
  /** `json` is `data` serialised, once for all the clients that get the event. */
  send(id: number, type: StreamEventType, data: StreamEvent, json: string): void;
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
  /** Live events waiting to be handled above which a chat's clients are dropped (default 10,000). */
  maxPending?: number;
}

/** The chat streams of one process: a feed per chat with clients, gone with the chat's last client. */
export class ChatStreamHub {
  private readonly feeds = new Map<string, ChatFeed>();

  constructor(
    private readonly deps: StreamChatDeps,
    private readonly options: StreamChatOptions = {},
  ) {}

  /**
   * Streams chat `chatId` to `sink` from `cursor`. Resolves once the snapshot is written (or the
   * sink closed); live events keep flowing until the sink closes. Closes the sink when the chat
   * does not exist.
   */
  async stream(chatId: string, cursor: StreamCursor, sink: StreamSink): Promise<void> {
    let feed = this.feeds.get(chatId);
    if (!feed) {
      const created = new ChatFeed(this.deps, chatId, this.options.maxPending ?? 10_000, () => {
        if (this.feeds.get(chatId) === created) this.feeds.delete(chatId);
      });
      this.feeds.set(chatId, (feed = created));
    }
    await feed.join(cursor, sink);
  }
}

/** An event serialised once for every client. */
interface Frame {
  event: StreamEvent;
  json: string;
}

type MessageFrame = Frame & { id: number };

const frameOf = (event: StreamEvent): Frame => ({ event, json: JSON.stringify(event) });

type FeedItem =
  | { kind: 'event'; event: StreamEvent; step?: string }
  | { kind: 'end'; step: string }
  | { kind: 'resync' }
  | { kind: 'join'; session: ChatStreamSession };

/**
 * One chat's clients in this process. Bus events, step ends and joins are handled one at a time in
 * arrival order, so a joining client's snapshot sits at an exact point of the live sequence, and
 * every read happens after the events before it were handled.
 */
class ChatFeed {
  /** Clients past their snapshot. */
  private readonly sessions = new Set<ChatStreamSession>();
  /** Every client, joining or joined. */
  private readonly members = new Set<ChatStreamSession>();
  private readonly items: FeedItem[] = [];
  private draining = false;
  private closed = false;
  /**
   * The in-flight step as of the events handled so far: the partial of a client joining now. `base` is
   * the newest message id handled when the step's first part arrived (null when the partial came with
   * the subscription): an assistant message newer than it is this step's own, persisted.
   */
  private partial: { step: string; frames: Frame[]; base: number | null } | null = null;
  /**
   * The newest message id known to be committed before the events handled so far: read when the feed
   * starts, then raised by each `message` event. Null when that read failed (partials then get no base).
   */
  private newestHandledMessageId: number | null = null;
  /** The chat's status as last sent (read or taken from an ordered hint); null before the first read. */
  private statusAt: ChatState | null = null;
  private readonly subscription: PartialSubscription;
  private readonly started: Promise<void>;

  constructor(
    private readonly deps: StreamChatDeps,
    private readonly chatId: string,
    private readonly maxPending: number,
    private readonly onClosed: () => void,
  ) {
    this.subscription = deps.bus.subscribeWithPartial(chatId, {
      event: (event, step) => this.push({ kind: 'event', event, step }),
      stepEnded: (step) => this.push({ kind: 'end', step }),
      resync: () => this.push({ kind: 'resync' }),
    });
    this.started = this.start();
  }

  join(cursor: StreamCursor, sink: StreamSink): Promise<void> {
    const session = new ChatStreamSession(cursor, sink);
    this.members.add(session);
    sink.onClose(() => this.leave(session));
    this.push({ kind: 'join', session });
    return session.joined;
  }

  private async start(): Promise<void> {
    // A chat that is not running has no step in flight: the bus need not wait for a producer to say so.
    void this.deps.store.chatState(this.chatId).then(
      (state) => state?.status !== 'running' && this.subscription.settle(),
      () => this.subscription.settle(),
    );
    const [partial, newest] = await Promise.all([
      this.subscription.partial,
      this.deps.store.newestMessageId(this.chatId).catch(() => null),
    ]);
    this.newestHandledMessageId = newest;
    if (partial.step !== null) this.partial = { step: partial.step, frames: partial.parts.map(frameOf), base: null };
  }

  private push(item: FeedItem): void {
    if (this.closed) return;
    this.items.push(item);
    if (this.items.length > this.maxPending) {
      this.deps.log?.warn({ chatId: this.chatId }, 'chat stream too far behind; disconnecting its clients');
      this.closeAll();
      return;
    }
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      await this.started;
      while (!this.closed && this.items.length > 0) {
        const pending = this.handle(this.items.shift()!);
        if (pending) await pending;
      }
    } catch (err) {
      this.deps.log?.warn({ err, chatId: this.chatId }, 'chat stream failed; disconnecting its clients');
      this.closeAll();
    } finally {
      this.draining = false;
    }
  }

  /** Handles one item; returns a promise only when it must read the database. */
  private handle(item: FeedItem): Promise<void> | undefined {
    switch (item.kind) {
      case 'join':
        return this.admit([item.session, ...this.takeJoins()]);
      case 'end':
        if (this.partial?.step === item.step) this.partial = null;
        return undefined;
      case 'resync':
        return this.resync();
      case 'event':
        return this.onEvent(item.event, item.step);
    }
  }

  private onEvent(event: StreamEvent, step: string | undefined): Promise<void> | undefined {
    switch (event.type) {
      case 'message_part':
        this.onPart(event, step);
        return undefined;
      case 'message':
        if (this.sendInOrder(event)) return undefined;
        this.newestHandledMessageId = Math.max(this.newestHandledMessageId ?? 0, event.message.id);
        return this.sendMessages(event.message.id);
      case 'status': {
        const turn = (event as BusEvent).order?.turn;
        const order =
          turn === undefined || !this.statusAt ? 'unknown' : compareStates({ ...event, turn }, this.statusAt);
        if (order === 'unknown') return this.sendStatus();
        if (order === 'newer') this.setStatus({ status: event.status, turn: turn! });
        return undefined;
      }
      case 'queue_update':
        return this.sendQueue();
      case 'history_truncated': {
        this.partial = null;
        const frame = frameOf(event);
        for (const session of this.sessions) session.truncated(frame);
        return undefined;
      }
      default: {
        const frame = frameOf(event);
        for (const session of this.sessions) session.other(frame);
        return undefined;
      }
    }
  }

  private onPart(event: StreamEvent, step: string | undefined): void {
    const frame = frameOf(event);
    if (step !== undefined) {
      if (this.partial?.step !== step) this.partial = { step, frames: [], base: this.newestHandledMessageId };
      this.partial.frames.push(frame);
      if (this.partial.frames.length > MAX_IN_FLIGHT) this.partial.frames.shift();
    }
    for (const session of this.sessions) session.part(frame, step);
  }

  /** Per chat, messages commit in id order under the chat's row lock: reading up to this id also
   * delivers a message whose own event is still on its way from another process. */
  private async sendMessages(upToId: number): Promise<void> {
    const after = this.oldestCursor();
    if (after === null || upToId <= after) return;
    await this.sendMessagesAfter(after, upToId);
  }

  /** Reads the messages after `after` (up to `upToId`) once and sends each client those it lacks. */
  private async sendMessagesAfter(after: number, upToId?: number): Promise<void> {
    const frames = this.messageFrames(await this.deps.store.messagesAfter(this.chatId, after, upToId));
    for (const session of this.sessions) for (const frame of frames) session.message(frame);
  }

  /**
   * Sends a `message` hint as it is when its producer ordered it right after the newest message handled
   * so far: no message can be missing in between, so there is nothing to read. False: read instead.
   */
  private sendInOrder(event: Extract<StreamEvent, { type: 'message' }>): boolean {
    const prev = (event as BusEvent).order?.prev_message_id;
    if (prev === undefined || this.newestHandledMessageId === null) return false;
    if ((prev ?? 0) !== this.newestHandledMessageId) return false;
    this.newestHandledMessageId = event.message.id;
    const [frame] = this.messageFrames([event.message]);
    for (const session of this.sessions) session.message(frame!);
    return true;
  }

  private async sendStatus(): Promise<void> {
    if (this.sessions.size === 0) return;
    const state = await this.deps.store.chatState(this.chatId);
    if (state) this.setStatus(state);
  }

  private setStatus(state: ChatState): void {
    this.statusAt = state;
    const frame = frameOf({ type: 'status', chat_id: this.chatId, status: state.status });
    for (const session of this.sessions) session.status(state.status, frame);
  }

  private async sendQueue(): Promise<void> {
    if (this.sessions.size === 0) return;
    const queue = await this.deps.store.queue(this.chatId);
    const frame = frameOf({ type: 'queue_update', chat_id: this.chatId, queued_messages: queue });
    for (const session of this.sessions) session.queue(frame);
  }

  /** After a lost bus connection: whatever the missed hints announced, the database now holds. */
  private async resync(): Promise<void> {
    const after = this.oldestCursor();
    if (after === null) return;
    await this.sendStatus();
    await this.sendMessagesAfter(after);
    await this.sendQueue();
  }

  /**
   * Writes the snapshots of clients joining together (one read of the status and the queue, one of
   * the history per distinct cursor) and makes them live at this point of the sequence.
   */
  private async admit(joining: ChatStreamSession[]): Promise<void> {
    const sessions = joining.filter((session) => !session.closed);
    if (sessions.length === 0) return;
    const { store } = this.deps;
    const cursors = [...new Set(sessions.map((session) => session.cursor.messageId))];
    const [state, queue, histories] = await Promise.all([
      store.chatState(this.chatId),
      store.queue(this.chatId),
      Promise.all(
        cursors.map(async (cursor) => {
          const [truncatedFrom, messages] = await Promise.all([
            store.truncationPoint(this.chatId, cursor),
            store.messagesAfter(this.chatId, cursor),
          ]);
          const newestAnswer = Math.max(0, ...messages.filter((m) => m.role === 'assistant').map((m) => m.id));
          return [cursor, { truncatedFrom, messages: this.messageFrames(messages), newestAnswer }] as const;
        }),
      ),
    ]);
    if (!state) {
      for (const session of sessions) if (!session.closed) session.sink.close();
      return;
    }
    const { status } = state;
    this.statusAt = state;
    const history = new Map(histories);
    const statusFrame = frameOf({ type: 'status', chat_id: this.chatId, status });
    const queueFrame = frameOf({ type: 'queue_update', chat_id: this.chatId, queued_messages: queue });
    for (const session of sessions) {
      if (session.closed) continue;
      const { truncatedFrom, messages, newestAnswer } = history.get(session.cursor.messageId)!;
      const writeSnapshot = (): void => {
        session.status(status, statusFrame);
        if (truncatedFrom !== null) {
          session.other(frameOf({ type: 'history_truncated', chat_id: this.chatId, from_message_id: truncatedFrom }));
        }
        for (const frame of messages) session.message(frame);
        this.sendPartial(session, status, newestAnswer);
        // Always sent, empty too: a reconnecting client may hold a queue that has drained since.
        session.queue(queueFrame, true);
      };
      if (session.sink.burst) session.sink.burst(writeSnapshot);
      else writeSnapshot();
      this.sessions.add(session);
      session.resolveJoined();
    }
  }

  /**
   * The partial of a running chat, unless the snapshot already holds its step: a step persisted
   * after the events handled so far is among the messages read, and its parts still queued here
   * are stale for this client. So is a partial whose step's message the snapshot read before its
   * `message` event got here (`newestAnswer` is the newest assistant message in the snapshot). A partial
   * left out is left out whole: the client gets none of it.
   */
  private sendPartial(session: ChatStreamSession, status: ChatStatus, newestAnswer: number): void {
    let persistedAt = -1;
    this.items.forEach((item, i) => {
      if (
        item.kind === 'event' &&
        item.event.type === 'message' &&
        item.event.message.role !== 'user' &&
        item.event.message.id <= session.lastMessageId
      ) {
        persistedAt = i;
      }
    });
    const skip = new Set<string>();
    for (const item of this.items.slice(0, Math.max(persistedAt, 0))) if (item.kind === 'end') skip.add(item.step);
    const partial = this.partial;
    const persisted = partial !== null && partial.base !== null && newestAnswer > partial.base;
    if (partial && status === 'running' && !skip.has(partial.step) && !persisted) {
      for (const frame of partial.frames) session.part(frame, partial.step);
    } else if (partial) {
      skip.add(partial.step);
    }
    session.skip = skip;
  }

  /** The joins queued right behind the one being handled, admitted with it. */
  private takeJoins(): ChatStreamSession[] {
    const sessions: ChatStreamSession[] = [];
    while (this.items[0]?.kind === 'join')
      sessions.push((this.items.shift() as { session: ChatStreamSession }).session);
    return sessions;
  }

  private messageFrames(messages: ChatMessageDto[]): MessageFrame[] {
    return messages.map((message) => ({
      ...frameOf({ type: 'message', chat_id: this.chatId, message }),
      id: message.id,
    }));
  }

  /** The lowest message id a live client holds: reads start after it. */
  private oldestCursor(): number | null {
    let oldest: number | null = null;
    for (const session of this.sessions) oldest = Math.min(oldest ?? Infinity, session.lastMessageId);
    return oldest;
  }

  private leave(session: ChatStreamSession): void {
    session.closed = true;
    session.resolveJoined();
    this.members.delete(session);
    this.sessions.delete(session);
    if (this.members.size === 0) this.close();
  }

  private closeAll(): void {
    for (const session of [...this.members]) session.sink.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.items.length = 0;
    this.subscription.unsubscribe();
    this.onClosed();
  }
}

/** One client: its event ids, and what it already has (status, queue, messages, skipped steps). */
class ChatStreamSession {
  private readonly ids: EventIdSequence;
  private lastStatus: ChatStatus | null = null;
  /** The JSON of the last queue_update sent (the chat id is the same in all of them). */
  private lastQueue: string | null = null;
  /** Steps whose parts this client must not get (see ChatFeed.sendPartial). */
  skip: ReadonlySet<string> = new Set();
  closed = false;
  /** Resolves once the snapshot is written or the client is gone. */
  readonly joined: Promise<void>;
  resolveJoined!: () => void;

  constructor(
    readonly cursor: StreamCursor,
    readonly sink: StreamSink,
  ) {
    this.ids = new EventIdSequence(cursor);
    this.joined = new Promise((resolve) => (this.resolveJoined = resolve));
  }

  get lastMessageId(): number {
    return this.ids.lastMessageId;
  }

  status(status: ChatStatus, frame: Frame): void {
    if (status === this.lastStatus) return;
    this.lastStatus = status;
    this.write(frame);
  }

  message(frame: MessageFrame): void {
    if (this.closed || frame.id <= this.ids.lastMessageId) return;
    this.sink.send(this.ids.next(frame.id), 'message', frame.event, frame.json);
  }

  part(frame: Frame, step: string | undefined): void {
    if (step === undefined || !this.skip.has(step)) this.write(frame);
  }

  /** Sends the queue if it changed (or always, in a snapshot). */
  queue(frame: Frame, always = false): void {
    if (frame.json === this.lastQueue && !always) return;
    this.lastQueue = frame.json;
    this.write(frame);
  }

  /** After an edit the next status is sent whatever it is. */
  truncated(frame: Frame): void {
    this.lastStatus = null;
    this.write(frame);
  }

  other(frame: Frame): void {
    this.write(frame);
  }

  private write(frame: Frame): void {
    if (!this.closed) this.sink.send(this.ids.next(), frame.event.type, frame.event, frame.json);
  }
}

/**
 * Within a turn a chat's status only moves forward, `pending` → `running` (or `requires_action`, back
 * and forth) → an idle status, and every new turn starts over. So a hint is newer or older than the
 * status sent when its turn or that rank differs; two different statuses of the same rank need a read.
 */
const STATUS_RANK: Record<ChatStatus, number> = {
  pending: 0,
  running: 1,
  requires_action: 1,
  waiting: 2,
  error: 2,
  paused: 2,
  completed: 2,
};

function compareStates(hint: ChatState, sent: ChatState): 'newer' | 'older' | 'same' | 'unknown' {
  if (hint.turn !== sent.turn) return hint.turn > sent.turn ? 'newer' : 'older';
  const rank = STATUS_RANK[hint.status] - STATUS_RANK[sent.status];
  if (rank !== 0) return rank > 0 ? 'newer' : 'older';
  return hint.status === sent.status ? 'same' : 'unknown';
}
