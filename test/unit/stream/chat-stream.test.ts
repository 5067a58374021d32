/**
 * The chat stream logic without HTTP or a database: snapshot order, resume cursors, the in-flight
 * partial, edits, the rule that the database (not event arrival order) is the truth for messages,
 * status and queue, every delta of a turn reaching a connected client, and a chat's clients sharing
 * each read. A fake store stands in for PostgreSQL; the bus is the real one.
 */
import { ChatStreamHub, type ChatState, type StreamSink, type StreamStore } from '../../../src/stream/chat-stream';
import type { StreamCursor } from '../../../src/stream/cursor';
import type { ChatStatus } from '../../../src/messages/chat-status';
import type { BusEvent, ChatMessageDto, ChatQueuedMessageDto, StreamEvent } from '../../../src/stream/events';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';

const CHAT = 'chat-1';

class FakeStore implements StreamStore {
  status: ChatStatus = 'running';
  turn = 1;
  messages: Array<ChatMessageDto & { deleted?: boolean }> = [];
  queued: ChatQueuedMessageDto[] = [];
  /** Resolves reads only when released, to interleave them with live events. */
  gate: Promise<void> = Promise.resolve();
  /** Reads made, by kind. */
  reads = { status: 0, messages: 0, queue: 0 };

  async chatState(): Promise<ChatState | undefined> {
    this.reads.status += 1;
    await this.gate;
    return { status: this.status, turn: this.turn };
  }

  async messagesAfter(_chatId: string, afterId: number, upToId?: number): Promise<ChatMessageDto[]> {
    this.reads.messages += 1;
    await this.gate;
    return this.messages
      .filter((m) => !m.deleted && m.id > afterId && (upToId === undefined || m.id <= upToId))
      .map(({ deleted: _d, ...m }) => m);
  }

  async queue(): Promise<ChatQueuedMessageDto[]> {
    this.reads.queue += 1;
    await this.gate;
    return this.queued;
  }

  async truncationPoint(_chatId: string, cursor: number): Promise<number | null> {
    const upTo = this.messages.filter((m) => m.id <= cursor);
    const lastLive = Math.max(0, ...upTo.filter((m) => !m.deleted).map((m) => m.id));
    const run = upTo.filter((m) => m.deleted && m.id > lastLive);
    return run.length ? Math.min(...run.map((m) => m.id)) : null;
  }

  async newestMessageId(): Promise<number> {
    return Math.max(0, ...this.messages.map((m) => m.id));
  }

  add(id: number, role: ChatMessageDto['role'], text: string): ChatMessageDto {
    const message: ChatMessageDto = {
      id,
      chat_id: CHAT,
      created_by: null,
      model_config_id: null,
      created_at: new Date(0).toISOString(),
      role,
      content: [{ type: 'text', text }],
    };
    this.messages.push(message);
    return message;
  }
}

class RecordingSink implements StreamSink {
  readonly sent: Array<{ id: number; type: string; data: StreamEvent }> = [];
  closed = false;
  private handlers: Array<() => void> = [];

  send(id: number, type: StreamEvent['type'], data: StreamEvent): void {
    this.sent.push({ id, type, data });
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.handlers.push(handler);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const h of this.handlers.splice(0)) h();
  }

  types(): string[] {
    return this.sent.map((e) => (e.data.type === 'status' ? `status:${e.data.status}` : e.type));
  }

  texts(): string[] {
    return this.sent.flatMap((e) =>
      e.data.type === 'message_part'
        ? [`part:${e.data.part.text}`]
        : e.data.type === 'message'
          ? [`message:${e.data.message.id}`]
          : [],
    );
  }
}

const part = (text: string): StreamEvent => ({
  type: 'message_part',
  chat_id: CHAT,
  role: 'assistant',
  part: { type: 'text', text },
});
const messageEvent = (message: ChatMessageDto): StreamEvent => ({ type: 'message', chat_id: CHAT, message });
const statusEvent = (status: ChatStatus): StreamEvent => ({ type: 'status', chat_id: CHAT, status });
const start: StreamCursor = { messageId: 0, counter: 0 };
/** Lets queued promise callbacks (the live event queue) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ChatStreamHub', () => {
  let bus: MemoryStreamBus;
  let store: FakeStore;
  let sink: RecordingSink;
  let hub: ChatStreamHub;
  const streamChat = (cursor: StreamCursor, to: StreamSink = sink) => hub.stream(CHAT, cursor, to);

  beforeEach(() => {
    bus = new MemoryStreamBus();
    store = new FakeStore();
    sink = new RecordingSink();
    hub = new ChatStreamHub({ bus, store });
  });

  it('sends the snapshot as status, messages after the cursor, the in-flight partial, the queue', async () => {
    store.add(1, 'user', 'hi');
    store.add(2, 'assistant', 'hello');
    store.add(3, 'user', 'again');
    store.queued = [
      { id: 9, chat_id: CHAT, content: [{ type: 'text', text: 'later' }], model_config_id: null, created_at: '' },
    ];
    bus.publish(CHAT, statusEvent('running'));
    bus.publish(CHAT, part('par'));
    bus.publish(CHAT, part('tial'));

    await streamChat({ messageId: 1, counter: 0 }, sink);

    expect(sink.types()).toEqual([
      'status:running',
      'message',
      'message',
      'message_part',
      'message_part',
      'queue_update',
    ]);
    expect(sink.texts()).toEqual(['message:2', 'message:3', 'part:par', 'part:tial']);
    const ids = sink.sent.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('leaves out the partial when the chat is not running (an interrupted step is persisted instead)', async () => {
    store.status = 'waiting';
    bus.publish(CHAT, part('stale'));
    await streamChat(start, sink);
    expect(sink.types()).toEqual(['status:waiting', 'queue_update']);
  });

  it('drops a partial whose step was persisted between the subscription and the snapshot reads', async () => {
    store.add(1, 'user', 'hi');
    bus.publish(CHAT, part('hel'));
    let release!: () => void;
    store.gate = new Promise((r) => (release = r));
    const done = streamChat(start, sink);
    // The step ends while the snapshot is being read: the database already has its message.
    bus.publish(CHAT, part('lo'));
    const assistant = store.add(2, 'assistant', 'hello');
    bus.publish(CHAT, messageEvent(assistant));
    bus.publish(CHAT, part('next step'));
    release();
    await done;
    await settle();
    expect(sink.texts()).toEqual(['message:1', 'message:2', 'part:next step']);
  });

  it('delivers live events after the snapshot, each message once', async () => {
    const user = store.add(1, 'user', 'hi');
    await streamChat(start, sink);
    bus.publish(CHAT, messageEvent(user));
    bus.publish(CHAT, part('a'));
    const assistant = store.add(2, 'assistant', 'a');
    bus.publish(CHAT, messageEvent(assistant));
    bus.publish(CHAT, messageEvent(assistant));
    await settle();
    expect(sink.texts()).toEqual(['message:1', 'part:a', 'message:2']);
  });

  it('fills a gap when message events arrive out of id order (the database is read up to the event)', async () => {
    await streamChat(start, sink);
    const first = store.add(5, 'user', 'first');
    const second = store.add(6, 'assistant', 'second');
    bus.publish(CHAT, messageEvent(second));
    bus.publish(CHAT, messageEvent(first));
    await settle();
    expect(sink.texts()).toEqual(['message:5', 'message:6']);
  });

  it('sends the status the database holds, so a late status event cannot roll it back', async () => {
    await streamChat(start, sink);
    store.status = 'waiting';
    bus.publish(CHAT, statusEvent('running'));
    await settle();
    expect(sink.types()).toEqual(['status:running', 'queue_update', 'status:waiting']);
  });

  it('delivers every delta of an answer so fast that the database already says the turn is over', async () => {
    store.status = 'waiting';
    await streamChat(start, sink);
    // By the time the stream reads the status the turn has finished: its deltas still go out.
    store.add(1, 'assistant', 'quick answer');
    bus.publish(CHAT, statusEvent('running'));
    for (const text of ['quick', ' ', 'answer']) bus.publish(CHAT, part(text));
    bus.publish(CHAT, messageEvent(store.messages[0]!));
    bus.publish(CHAT, statusEvent('waiting'));
    await settle();
    expect(sink.texts()).toEqual(['part:quick', 'part: ', 'part:answer', 'message:1']);
    expect(sink.types()).toEqual(['status:waiting', 'queue_update', ...Array(3).fill('message_part'), 'message']);
  });

  it('gives a client joining mid-step the partial, then the rest of the step, each delta once', async () => {
    await streamChat(start, sink);
    bus.publish(CHAT, part('one '));
    bus.publish(CHAT, part('two '));
    const late = new RecordingSink();
    await streamChat(start, late);
    bus.publish(CHAT, part('three'));
    await settle();
    expect(late.texts()).toEqual(['part:one ', 'part:two ', 'part:three']);
    expect(sink.texts()).toEqual(late.texts());
  });

  it("leaves out a partial whose step the snapshot holds before the step's message event arrives", async () => {
    store.add(1, 'user', 'hi');
    await streamChat(start, sink);
    bus.publish(CHAT, part('hel'));
    bus.publish(CHAT, part('lo'));
    await settle();
    // The step's message is committed; its event has not reached this process yet when a client joins.
    const assistant = store.add(2, 'assistant', 'hello');
    const late = new RecordingSink();
    await streamChat(start, late);
    bus.publish(CHAT, messageEvent(assistant));
    bus.publish(CHAT, part('next step'));
    await settle();
    expect(late.texts()).toEqual(['message:1', 'message:2', 'part:next step']);
    expect(sink.texts()).toEqual(['message:1', 'part:hel', 'part:lo', 'message:2', 'part:next step']);
  });

  it('gives the partial to a client joining a feed that started after earlier answers were committed', async () => {
    // The feed starts with the chat's history already there (answers committed before it subscribed).
    store.add(1, 'user', 'first');
    store.add(2, 'assistant', 'first answer');
    store.add(3, 'user', 'second');
    await streamChat(start, sink);
    bus.publish(CHAT, part('streaming '));
    bus.publish(CHAT, part('now'));
    await settle();
    const late = new RecordingSink();
    await streamChat(start, late);
    bus.publish(CHAT, part(' still'));
    await settle();
    expect(late.texts()).toEqual(['message:1', 'message:2', 'message:3', 'part:streaming ', 'part:now', 'part: still']);
  });

  it('reads the database once per hint for all the clients of a chat', async () => {
    const sinks = [sink, new RecordingSink(), new RecordingSink()];
    await Promise.all(sinks.map((s) => streamChat(start, s)));
    store.reads = { status: 0, messages: 0, queue: 0 };
    const user = store.add(1, 'user', 'hi');
    bus.publish(CHAT, messageEvent(user));
    bus.publish(CHAT, statusEvent('running'));
    store.queued = [
      { id: 9, chat_id: CHAT, content: [{ type: 'text', text: 'later' }], model_config_id: null, created_at: '' },
    ];
    bus.publish(CHAT, { type: 'queue_update', chat_id: CHAT, queued_messages: [] });
    await settle();
    expect(store.reads).toEqual({ status: 1, messages: 1, queue: 1 });
    for (const s of sinks) expect(s.types()).toEqual(['status:running', 'queue_update', 'message', 'queue_update']);
  });

  it('writes the snapshots of clients joining together from one read of the status and the queue', async () => {
    store.add(1, 'user', 'hi');
    const sinks = [sink, new RecordingSink(), new RecordingSink()];
    await Promise.all(sinks.map((s, i) => streamChat({ messageId: i === 0 ? 0 : 1, counter: 0 }, s)));
    // One read to start the chat's feed, one for the joiners; the history once per distinct cursor.
    expect(store.reads).toEqual({ status: 2, messages: 2, queue: 1 });
    expect(sinks.map((s) => s.texts())).toEqual([['message:1'], [], []]);
  });

  it('after a truncation, forwards deltas again only once the new turn runs', async () => {
    await streamChat(start, sink);
    bus.publish(CHAT, part('old turn'));
    bus.publish(CHAT, { type: 'history_truncated', chat_id: CHAT, from_message_id: 1 });
    bus.publish(CHAT, part('old turn, late'));
    store.status = 'pending';
    bus.publish(CHAT, statusEvent('pending'));
    store.status = 'running';
    bus.publish(CHAT, statusEvent('running'));
    bus.publish(CHAT, part('new turn'));
    await settle();
    expect(sink.types()).toEqual([
      'status:running',
      'queue_update',
      'message_part',
      'history_truncated',
      'status:running',
      'message_part',
    ]);
    expect(sink.texts()).toEqual(['part:old turn', 'part:new turn']);
  });

  it('tells a client resuming inside a deleted run to cut its history there', async () => {
    store.add(1, 'user', 'q');
    Object.assign(store.add(2, 'user', 'edited away'), { deleted: true });
    Object.assign(store.add(3, 'assistant', 'answer to it'), { deleted: true });
    store.add(4, 'user', 'replacement');
    store.status = 'pending';
    await streamChat({ messageId: 3, counter: 7 }, sink);
    expect(sink.sent.map((e) => e.data)).toEqual([
      statusEvent('pending'),
      { type: 'history_truncated', chat_id: CHAT, from_message_id: 2 },
      expect.objectContaining({ type: 'message', message: expect.objectContaining({ id: 4 }) }),
      expect.objectContaining({ type: 'queue_update' }),
    ]);
  });

  it('does not repeat a queue that did not change', async () => {
    await streamChat(start, sink);
    bus.publish(CHAT, { type: 'queue_update', chat_id: CHAT, queued_messages: [] });
    await settle();
    expect(sink.types()).toEqual(['status:running', 'queue_update']);
  });

  it('disconnects the clients of a chat whose backlog exceeds the bound instead of buffering without limit', async () => {
    let release!: () => void;
    hub = new ChatStreamHub({ bus, store }, { maxPending: 5 });
    await streamChat(start, sink);
    store.gate = new Promise((r) => (release = r));
    // A status read blocks the queue; parts pile up behind it.
    bus.publish(CHAT, statusEvent('running'));
    for (let i = 0; i < 10; i++) bus.publish(CHAT, part(String(i)));
    expect(sink.closed).toBe(true);
    release();
    await settle();
  });

  describe('hints ordered by their producer', () => {
    const ordered = (message: ChatMessageDto, prev: number | null): BusEvent => ({
      ...messageEvent(message),
      order: { prev_message_id: prev },
    });
    const orderedStatus = (status: ChatStatus, turn: number): BusEvent => ({ ...statusEvent(status), order: { turn } });

    it('sends a message right after the newest one handled as it is, without reading', async () => {
      store.add(1, 'user', 'q');
      await streamChat(start, sink);
      const before = store.reads.messages;
      // Not stored: were it read, the client would not get it.
      const answer: ChatMessageDto = { ...store.messages[0]!, id: 2, role: 'assistant' };
      bus.publish(CHAT, ordered(answer, 1));
      bus.publish(CHAT, ordered({ ...answer, id: 3 }, 2));
      await settle();
      expect(store.reads.messages).toBe(before);
      expect(sink.texts()).toEqual(['message:1', 'message:2', 'message:3']);
      // The frame is the public event: the order stays on the bus.
      expect(sink.sent.at(-1)!.data).toEqual(messageEvent({ ...answer, id: 3 }));
    });

    it('reads when a message before the hinted one was not handled (its hint is still on its way)', async () => {
      store.add(1, 'user', 'q');
      await streamChat(start, sink);
      store.add(2, 'tool', 'result');
      const answer = store.add(3, 'assistant', 'a');
      const before = store.reads.messages;
      bus.publish(CHAT, ordered(answer, 2));
      await settle();
      expect(store.reads.messages).toBe(before + 1);
      expect(sink.texts()).toEqual(['message:1', 'message:2', 'message:3']);
      // The late hint of message 2 finds nothing new to send.
      bus.publish(CHAT, ordered(store.messages[1]!, 1));
      await settle();
      expect(sink.texts()).toEqual(['message:1', 'message:2', 'message:3']);
    });

    it('sends a newer status as it is, drops an older one and reads when two of one rank differ', async () => {
      store.status = 'pending';
      store.turn = 4;
      await streamChat(start, sink);
      const before = store.reads.status;
      bus.publish(CHAT, orderedStatus('running', 4));
      // Late: the API's `pending` of the same turn, after the worker's `running`.
      bus.publish(CHAT, orderedStatus('pending', 4));
      bus.publish(CHAT, orderedStatus('waiting', 4));
      await settle();
      expect(store.reads.status).toBe(before);
      expect(sink.types()).toEqual(['status:pending', 'queue_update', 'status:running', 'status:waiting']);
      // The next turn starts over.
      bus.publish(CHAT, orderedStatus('pending', 5));
      await settle();
      expect(sink.types().at(-1)).toBe('status:pending');
      // running and requires_action go back and forth within a turn: the database decides.
      store.status = 'requires_action';
      store.turn = 5;
      bus.publish(CHAT, orderedStatus('running', 5));
      await settle();
      bus.publish(CHAT, orderedStatus('requires_action', 5));
      await settle();
      expect(store.reads.status).toBe(before + 1);
      expect(sink.types().slice(-3)).toEqual(['status:pending', 'status:running', 'status:requires_action']);
    });
  });

  it('closes the stream of a chat that does not exist', async () => {
    store.chatState = async () => undefined;
    await streamChat(start, sink);
    expect(sink.closed).toBe(true);
    expect(sink.sent).toEqual([]);
  });
});
