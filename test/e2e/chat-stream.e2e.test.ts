/**
 * The streaming contract over real HTTP: the snapshot and its order, resuming with
 * `after_id` or `Last-Event-ID` without gaps or duplicates (also across an edit the client missed),
 * heartbeats, a slow reader that is dropped instead of slowing anyone down, the lifecycle feed
 * GET /chats/watch, and a standard EventSource client (the `eventsource` package) working unmodified.
 */
import * as http from 'node:http';
import { startTestApp, textBody, waitForChat, type TestApp } from '../support/app';
import { until } from '../support/wait';
import { hang, text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { EventSourceProcess, isAssistant, isStatus, partsText, SseClient, textOf, type SseEvent } from '../support/sse';
import { createTestUser } from '../support/users';

const messageIds = (events: SseEvent[]) => events.filter((e) => e.event === 'message').map((e) => e.data.message.id);
const EVENT_TYPES = [
  'status',
  'message_part',
  'message',
  'queue_update',
  'retry',
  'error',
  'title_change',
  'history_truncated',
];

describe('GET /chats/{id}/stream', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake, api: { sseHeartbeatMs: 250, sseMaxBufferedBytes: 64 * 1024 } });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const streamUrl = (chatId: string, query = '') => `${app.url}/api/v1/chats/${chatId}/stream${query}`;

  async function createChat(t: string): Promise<string> {
    const res = await app.request('POST', '/chats', textBody(t));
    expect(res.status).toBe(201);
    return res.body.id;
  }

  async function dbMessageIds(chatId: string): Promise<number[]> {
    const page = await app.request('GET', `/chats/${chatId}/messages?limit=200`);
    return page.body.messages.map((m: any) => m.id);
  }

  it('delivers the first user message and the answer, without errors', async () => {
    fake.enqueue(text('Hello there.'));
    const chatId = await createChat('Hi');
    const stream = SseClient.open(streamUrl(chatId), app.token);
    await stream.waitFor(isAssistant('Hello there.'));
    stream.close();
    expect(stream.events[0]!.event).toBe('status');
    expect(stream.events[1]).toMatchObject({ event: 'message', data: { message: { role: 'user' } } });
    expect(stream.events.some((e) => e.event === 'error')).toBe(false);
    expect(stream.headers?.get('content-type')).toMatch(/^text\/event-stream/);
  });

  it('gives a late client status, messages, the in-flight partial and the queue, then live events', async () => {
    fake.enqueue(hang({ afterText: 'Partial answer so far' }));
    const chatId = await createChat('Explain everything');
    const first = SseClient.open(streamUrl(chatId), app.token);
    await first.waitForParts('Partial answer so far');
    await app.request('POST', `/chats/${chatId}/messages`, textBody('And then this'));
    await first.waitFor((e) => e.event === 'queue_update' && e.data.queued_messages.length === 1);

    const late = SseClient.open(streamUrl(chatId), app.token);
    await late.waitFor((e) => e.event === 'queue_update');
    const snapshot = late.events.map((e) => e.event);
    expect(snapshot[0]).toBe('status');
    expect(late.events[0]!.data.status).toBe('running');
    expect(snapshot[1]).toBe('message');
    const partsEnd = snapshot.lastIndexOf('message_part');
    expect(snapshot.slice(2, partsEnd + 1).every((t) => t === 'message_part')).toBe(true);
    expect(
      late.events
        .slice(2, partsEnd + 1)
        .map((e) => e.data.part.text)
        .join(''),
    ).toBe('Partial answer so far');
    expect(snapshot[partsEnd + 1]).toBe('queue_update');
    expect(textOf(late.events[partsEnd + 1]!.data.queued_messages[0])).toBe('And then this');

    // Live from here: the interrupt, the persisted partial, the promoted message, its answer.
    fake.enqueue(text('Now this.'));
    const from = late.events.length;
    await app.request('POST', `/chats/${chatId}/interrupt`);
    await late.waitFor(isAssistant('Partial answer so far'), 30_000, from);
    await late.waitFor(isAssistant('Now this.'), 30_000, from);
    first.close();
    late.close();
    expect(late.events.slice(from).some(isStatus('waiting'))).toBe(true);
  });

  it('with after_id, replays only the messages after it', async () => {
    fake.enqueue(text('One.'));
    const chatId = await createChat('Count');
    await waitForChat(app, chatId, (c) => c.status === 'waiting');
    const [userId, assistantId] = await dbMessageIds(chatId);
    const stream = SseClient.open(streamUrl(chatId, `?after_id=${userId}`), app.token);
    await stream.waitFor((e) => e.event === 'queue_update');
    stream.close();
    expect(stream.events.map((e) => e.event)).toEqual(['status', 'message', 'queue_update']);
    expect(messageIds(stream.events)).toEqual([assistantId]);
  });

  it('resumes with Last-Event-ID across turns with no gap and no duplicate', async () => {
    fake.enqueue(text('First answer, streamed in several parts.', { tokensPerSecond: 200 }));
    const chatId = await createChat('First');
    const before = SseClient.open(streamUrl(chatId), app.token);
    await before.waitFor(isAssistant());
    before.close();
    await before.done;
    const lastEventId = before.lastEventId!;

    // While the client is away, another full turn happens.
    await waitForChat(app, chatId, (c) => c.status === 'waiting');
    fake.enqueue(text('Second answer.'));
    await app.request('POST', `/chats/${chatId}/messages`, textBody('Second'));
    await until(async () => ((await dbMessageIds(chatId)).length === 4 ? true : undefined), 'the second answer');
    await waitForChat(app, chatId, (c) => c.status === 'waiting');

    const after = SseClient.open(streamUrl(chatId), app.token, { 'Last-Event-ID': lastEventId });
    await after.waitFor((e) => e.event === 'queue_update');
    after.close();
    const all = [...messageIds(before.events), ...messageIds(after.events)];
    expect(all).toEqual(await dbMessageIds(chatId));
    // Event ids keep growing across the reconnect.
    const ids = [...before.events, ...after.events].map((e) => Number(e.id));
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1]!)).toBe(true);
    // Deltas arrive exactly once: together they are the persisted answer.
    const streamed = before.events
      .filter((e) => e.event === 'message_part')
      .map((e) => e.data.part.text)
      .join('');
    expect(streamed).toBe('First answer, streamed in several parts.');
  });

  it('tells a client that missed an edit to cut its history where the edit did', async () => {
    fake.enqueue(text('Answer to the original.'));
    const chatId = await createChat('Original');
    const before = SseClient.open(streamUrl(chatId), app.token);
    await before.waitFor(isAssistant());
    await waitForChat(app, chatId, (c) => c.status === 'waiting');
    before.close();
    const [originalId] = await dbMessageIds(chatId);

    fake.enqueue(text('Answer to the edit.'));
    const edited = await app.request('PATCH', `/chats/${chatId}/messages/${originalId}`, textBody('Edited'));
    expect(edited.status).toBe(200);
    const after = SseClient.open(streamUrl(chatId), app.token, { 'Last-Event-ID': before.lastEventId! });
    await after.waitFor(isAssistant('Answer to the edit.'));
    after.close();
    expect(after.events[1]).toMatchObject({
      event: 'history_truncated',
      data: { chat_id: chatId, from_message_id: originalId },
    });
    expect(messageIds(after.events)).toEqual(await dbMessageIds(chatId));
  });

  it('sends heartbeat comments on an idle stream', async () => {
    fake.enqueue(text('Idle now.'));
    const chatId = await createChat('Then wait');
    await waitForChat(app, chatId, (c) => c.status === 'waiting');
    const stream = SseClient.open(streamUrl(chatId), app.token);
    const comments = await stream.waitForComments(2);
    stream.close();
    expect(comments.slice(0, 2)).toEqual(['ping', 'ping']);
  });

  it('answers 401 without a token', async () => {
    fake.enqueue(text('bye'));
    const chatId = await createChat('Secret');
    const res = await fetch(streamUrl(chatId));
    expect(res.status).toBe(401);
    await waitForChat(app, chatId, (c) => c.status === 'waiting');
  });

  it('works with a standard EventSource client, authenticated by access_token', async () => {
    fake.enqueue(text('Hello, EventSource.'));
    const chatId = await createChat('Plain EventSource');
    const source = EventSourceProcess.open(streamUrl(chatId, `?access_token=${app.token}`), EVENT_TYPES);
    try {
      const answer = await source.waitFor((e) => e.event === 'message' && e.data.message.role === 'assistant');
      expect(textOf(answer.data.message)).toBe('Hello, EventSource.');
      expect(source.events[0]!.event).toBe('status');
      expect(source.events.every((e) => /^\d+$/.test(e.id ?? ''))).toBe(true);
    } finally {
      await source.close();
    }
  });
});

describe('a reader that stops reading', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    // The API alone, with a 64 KiB bound: the test plays the worker by publishing on the bus.
    app = await startTestApp({
      fake,
      roles: { api: true, worker: false },
      api: { sseHeartbeatMs: 250, sseMaxBufferedBytes: 64 * 1024 },
    });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const streamUrl = (chatId: string) => `${app.url}/api/v1/chats/${chatId}/stream`;

  /** A chat in `running`, as a worker's first step leaves it (no worker runs here). */
  async function runningChat(): Promise<string> {
    const chatId: string = (await app.request('POST', '/chats', textBody('Flood'))).body.id;
    await app.deps.db.updateTable('chats').set({ status: 'running' }).where('id', '=', chatId).execute();
    app.deps.bus.publish(chatId, { type: 'status', chat_id: chatId, status: 'running' });
    return chatId;
  }

  it('is dropped while the producer and the other readers carry on, and resyncs from a fresh snapshot', async () => {
    const chatId = await runningChat();
    const fast = SseClient.open(streamUrl(chatId), app.token);
    await fast.waitFor((e) => e.event === 'queue_update');

    // A raw client that reads its headers and then nothing.
    const slow = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http
        .get(streamUrl(chatId), { headers: { Authorization: `Bearer ${app.token}` } }, (res) => {
          res.pause();
          resolve(res);
        })
        .on('error', reject);
    });

    // Far more than the kernel's socket buffers and the 64 KiB bound hold. The producer goes at
    // the pace of the reader that keeps up; the one that stopped reading must not matter.
    const chunk = 'x'.repeat(8 * 1024);
    const count = 1000;
    let seen = 0;
    let scanned = 0;
    const received = (): number => {
      for (; scanned < fast.events.length; scanned++) {
        const e = fast.events[scanned]!;
        if (e.event === 'message_part' && e.data.part.text.length === chunk.length) seen += 1;
      }
      return seen;
    };
    for (let sent = 0; sent < count;) {
      for (let i = 0; i < 25; i++, sent++) {
        app.deps.bus.publish(chatId, {
          type: 'message_part',
          chat_id: chatId,
          role: 'assistant',
          part: { type: 'text', text: chunk },
        });
      }
      const expected = sent;
      await fast.waitFor(() => received() >= expected, 60_000);
    }
    // The stalled reader now reads what it was sent: far less than everything, then the end.
    let slowBytes = 0;
    slow.on('data', (data: Buffer) => (slowBytes += data.length));
    slow.resume();
    await new Promise<void>((resolve) => {
      slow.once('close', () => resolve());
      slow.once('error', () => resolve());
    });
    expect(slowBytes).toBeLessThan(count * chunk.length * 0.9);

    // The dropped reader reconnects and gets a fresh, bounded snapshot instead of the backlog.
    const again = SseClient.open(streamUrl(chatId), app.token);
    await again.waitFor((e) => e.event === 'queue_update');
    expect(again.events[0]!.data.status).toBe('running');
    expect(partsText(again.events)).toBe(chunk.repeat(count));
    fast.close();
    again.close();
  });
});

describe('GET /chats/watch', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('starts with a ping, then reports the caller’s chats being created, run, renamed and archived', async () => {
    const watch = SseClient.open(`${app.url}/api/v1/chats/watch`, app.token);
    await watch.waitForComments(1);
    expect(watch.comments[0]).toBe('ping');
    const other = await createTestUser(app, 'member');
    const othersWatch = SseClient.open(`${app.url}/api/v1/chats/watch`, other.token);
    await othersWatch.waitForComments(1);

    fake.enqueue(text('Watched answer.'));
    const created = await app.request('POST', '/chats', textBody('Watch me'));
    const chatId: string = created.body.id;
    const createdEvent = await watch.waitFor((e) => e.event === 'created');
    expect(createdEvent.data).toMatchObject({
      kind: 'created',
      chat: { id: chatId, status: 'pending', archived: false },
    });
    await watch.waitFor(
      (e) => e.event === 'status_change' && e.data.chat.id === chatId && e.data.chat.status === 'waiting',
    );

    await app.request('PATCH', `/chats/${chatId}`, { title: 'Renamed by hand' });
    await watch.waitFor((e) => e.event === 'title_change' && e.data.chat.title === 'Renamed by hand');
    await app.request('PATCH', `/chats/${chatId}`, { archived: true });
    await watch.waitFor((e) => e.event === 'deleted' && e.data.chat.id === chatId && e.data.chat.archived === true);
    await app.request('PATCH', `/chats/${chatId}`, { archived: false });
    const restored = watch.events.length;
    await watch.waitFor((e) => e.event === 'created' && e.data.chat.id === chatId, 30_000, restored);
    watch.close();

    // Another user's feed never mentions the chat.
    fake.enqueue(text('theirs answered'));
    const mine = await app.request('POST', '/chats', textBody('theirs'), other.token);
    await othersWatch.waitFor((e) => e.event === 'created' && e.data.chat.id === mine.body.id);
    othersWatch.close();
    expect(othersWatch.events.some((e) => e.data.chat.id === chatId)).toBe(false);
    expect(watch.events.every((e) => e.id === undefined)).toBe(true);
    await until(
      async () =>
        (await app.request('GET', `/chats/${mine.body.id}`, undefined, other.token)).body.status === 'waiting'
          ? true
          : undefined,
      'their turn to end',
    );
  });

  it('answers 401 without a token', async () => {
    const res = await fetch(`${app.url}/api/v1/chats/watch`);
    expect(res.status).toBe(401);
  });
});
