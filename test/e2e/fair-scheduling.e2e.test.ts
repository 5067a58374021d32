/**
 * Fair scheduling end to end (docs/operations.md "Fair scheduling"), with CHATD_MAX_RUNNING_TURNS_PER_USER=2:
 * a user's third and fourth turns wait `pending` with their place on their streams, another user's
 * first turn runs at once, waiting turns start by themselves in order as slots free up, an interrupted
 * waiting turn leaves the queue, a sub-agent never waits for a slot, and cap 0 turns it all off. Turns
 * are kept running by the fake model hanging (until an interrupt ends them).
 */
import { hang, text, toolCalls, type FakeStep } from '../../src/dev/fake-llm/script';
import { FakeLlmServer, type RecordedRequest } from '../../src/dev/fake-llm/server';
import { startTestApp, textBody, turnRequests, type TestApp } from '../support/app';
import { SseClient, textOf } from '../support/sse';
import { createTestUser, type TestUser } from '../support/users';
import { until } from '../support/wait';

const CHILD_TASK = 'CHILD-TASK: say child done';
/** How long the parent's spawn_agent call takes to come: the test fills the queue meanwhile. */
const SPAWN_DELAY_MS = 5_000;

/**
 * The fake model, by conversation: a child answers its task; a DELEGATE chat spawns a child (slowly),
 * waits for it and then keeps running; QUICK answers at once; anything else runs until interrupted.
 */
function respond(req: RecordedRequest): FakeStep {
  const body = JSON.stringify(req.body);
  if (body.includes(CHILD_TASK) && !body.includes('spawn_agent')) return text('child done');
  if (body.includes('DELEGATE')) {
    const child = /chat_id\\?"\s*:\s*\\?"([0-9a-f-]{36})/.exec(body)?.[1];
    if (!child) {
      return toolCalls([{ id: 'call_spawn', name: 'spawn_agent', args: { prompt: CHILD_TASK } }], {
        firstTokenDelayMs: SPAWN_DELAY_MS,
      });
    }
    if (!body.includes('child done')) {
      return toolCalls([{ id: 'call_wait', name: 'wait_agent', args: { chat_id: child } }]);
    }
    return hang();
  }
  if (body.includes('QUICK')) return text('Quick answer.');
  return hang();
}

const sorted = (ids: string[]) => [...ids].sort();

const isChildRequest = (r: RecordedRequest) =>
  JSON.stringify(r.body).includes(CHILD_TASK) && !JSON.stringify(r.body).includes('spawn_agent');

/** Helpers bound to one app: chats driven through HTTP as their owner, slot state read from the database. */
function driver(app: TestApp) {
  const streams: SseClient[] = [];
  const api = {
    async startChat(user: TestUser, message: string): Promise<string> {
      const res = await app.request('POST', '/chats', textBody(message), user.token);
      expect(res.status).toBe(201);
      return res.body.id;
    },
    stream(user: TestUser, chatId: string): SseClient {
      const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, user.token);
      streams.push(stream);
      return stream;
    },
    waitForChat(user: TestUser, chatId: string, predicate: (chat: any) => boolean, what: string): Promise<any> {
      let last: unknown;
      return until(
        async () => {
          const res = await app.request('GET', `/chats/${chatId}`, undefined, user.token);
          last = res.body;
          return res.status === 200 && predicate(res.body) ? res.body : undefined;
        },
        what,
        60_000,
        async () => JSON.stringify(last),
      );
    },
    running(user: TestUser, chatId: string): Promise<any> {
      return api.waitForChat(user, chatId, (c) => c.status === 'running', `${chatId} running`);
    },
    /** Waits until the chat's turn waits for a slot, and returns the chat. */
    queued(user: TestUser, chatId: string): Promise<any> {
      return api.waitForChat(
        user,
        chatId,
        (c) => c.status === 'pending' && c.waiting_for_slot_since !== null,
        `${chatId} waiting for a slot`,
      );
    },
    /**
     * Waits until the chat's run ended (its finishTurn, which gives the slot back, committed) and the chat
     * is idle and out of the queue. An interrupt answers `waiting` before the run has finished.
     */
    async idle(user: TestUser, chatId: string): Promise<any> {
      await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();
      return api.waitForChat(
        user,
        chatId,
        (c) => c.status === 'waiting' && c.waiting_for_slot_since === null,
        `${chatId} idle`,
      );
    },
    async interrupt(user: TestUser, chatId: string): Promise<void> {
      const res = await app.request('POST', `/chats/${chatId}/interrupt`, undefined, user.token);
      expect(res.status).toBe(200);
    },
    async status(user: TestUser, chatId: string): Promise<string> {
      return (await app.request('GET', `/chats/${chatId}`, undefined, user.token)).body.status;
    },
    async runningTurns(user: TestUser): Promise<number> {
      const row = await app.deps.db
        .selectFrom('users')
        .select('running_turns')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      return row.running_turns;
    },
    /** The user's chats holding a slot, and those still marked as waiting for one. */
    async slotRows(user: TestUser): Promise<{ holding: string[]; awaiting: string[] }> {
      const rows = await app.deps.db
        .selectFrom('chats')
        .select(['id', 'holds_turn_slot', 'awaiting_slot_since'])
        .where('owner_id', '=', user.id)
        .execute();
      return {
        holding: sorted(rows.filter((r) => r.holds_turn_slot).map((r) => r.id)),
        awaiting: sorted(rows.filter((r) => r.awaiting_slot_since !== null).map((r) => r.id)),
      };
    },
    /** The positions the chat's stream announced, from event `fromIndex` on. */
    positions(stream: SseClient, fromIndex = 0): number[] {
      return stream.events
        .slice(fromIndex)
        .filter((e) => e.event === 'turn_queued')
        .map((e) => e.data.position);
    },
    closeStreams(): void {
      for (const s of streams.splice(0)) s.close();
    },
  };
  return api;
}

describe('fair scheduling, two running turns per user', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let chats: ReturnType<typeof driver>;

  beforeAll(async () => {
    fake = await FakeLlmServer.start({ fallback: respond });
    app = await startTestApp({
      fake,
      // Tests poll as their users: no request limit gets in the way.
      env: { CHATD_MAX_RUNNING_TURNS_PER_USER: '2', CHATD_RATE_LIMIT_REQUESTS: '0' },
    });
    chats = driver(app);
  });
  afterEach(() => chats.closeStreams());
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it("queues a user's turns over the cap in order, never delays another user, and starts them as slots free up", async () => {
    const a = await createTestUser(app);
    const b = await createTestUser(app);
    const first = await chats.startChat(a, 'HANG first');
    await chats.running(a, first);
    const second = await chats.startChat(a, 'HANG second');
    await chats.running(a, second);

    const third = await chats.startChat(a, 'HANG third');
    const thirdStream = chats.stream(a, third);
    const thirdQueued = await chats.queued(a, third);
    await thirdStream.waitFor((e) => e.event === 'turn_queued', 30_000);
    const fourth = await chats.startChat(a, 'HANG fourth');
    const fourthStream = chats.stream(a, fourth);
    const fourthQueued = await chats.queued(a, fourth);
    await fourthStream.waitFor((e) => e.event === 'turn_queued', 30_000);
    expect(chats.positions(thirdStream)).toEqual(chats.positions(thirdStream).map(() => 1));
    expect(chats.positions(fourthStream)).toEqual(chats.positions(fourthStream).map(() => 2));
    expect(Date.parse(thirdQueued.waiting_for_slot_since)).toBeLessThan(
      Date.parse(fourthQueued.waiting_for_slot_since),
    );
    expect(await chats.runningTurns(a)).toBe(2);
    expect(await chats.slotRows(a)).toEqual({
      holding: sorted([first, second]),
      awaiting: sorted([third, fourth]),
    });
    // A waiting turn has not called the model.
    expect(turnRequests(fake).filter((r) => JSON.stringify(r.body).includes('HANG third'))).toEqual([]);

    // Another user's first turn runs at once, while A's turns still wait.
    const other = await chats.startChat(b, 'QUICK question');
    const otherStream = chats.stream(b, other);
    await otherStream.waitFor(
      (e) => e.event === 'message' && e.data.message.role === 'assistant' && textOf(e.data.message) === 'Quick answer.',
    );
    const answered = await chats.waitForChat(b, other, (c) => c.status === 'waiting', 'B answered');
    expect(answered.waiting_for_slot_since).toBeNull();
    expect(otherStream.events.some((e) => e.event === 'turn_queued')).toBe(false);
    const otherRun = app.deps.temporal.client.workflow.getHandle(`chat-${other}`);
    expect((await otherRun.result()).outcome).toBe('completed');
    // Its run never waited for a slot: no timer, one first step.
    const otherHistory = (await otherRun.fetchHistory()).events ?? [];
    expect(otherHistory.some((e) => e.timerStartedEventAttributes)).toBe(false);
    expect(await chats.status(a, third)).toBe('pending');
    expect(await chats.status(a, fourth)).toBe('pending');
    expect(await chats.runningTurns(b)).toBe(0);

    // A slot frees: the oldest waiting turn starts by itself, the other keeps waiting.
    await chats.interrupt(a, first);
    await chats.running(a, third);
    expect(await chats.status(a, fourth)).toBe('pending');
    expect(await chats.runningTurns(a)).toBe(2);
    await chats.interrupt(a, second);
    await chats.running(a, fourth);
    expect(await chats.slotRows(a)).toEqual({ holding: sorted([third, fourth]), awaiting: [] });

    for (const id of [third, fourth]) await chats.interrupt(a, id);
    for (const id of [first, second, third, fourth]) await chats.idle(a, id);
    expect(await chats.runningTurns(a)).toBe(0);
    expect(await chats.slotRows(a)).toEqual({ holding: [], awaiting: [] });
  });

  it('takes an interrupted waiting turn out of the queue, and the next one moves up', async () => {
    const user = await createTestUser(app);
    const [first, second] = [await chats.startChat(user, 'HANG 1'), await chats.startChat(user, 'HANG 2')];
    await chats.running(user, first);
    await chats.running(user, second);
    const third = await chats.startChat(user, 'HANG 3');
    await chats.queued(user, third);
    const fourth = await chats.startChat(user, 'HANG 4');
    const fourthStream = chats.stream(user, fourth);
    await chats.queued(user, fourth);
    // Two announcements: the first refusal (maybe before the stream opened) and the retry 2 s later.
    // The next retry is 4 s away: whatever comes sooner was woken.
    await until(
      async () => (chats.positions(fourthStream).length >= 2 ? true : undefined),
      'a retried refusal',
      30_000,
    );
    expect(chats.positions(fourthStream)).toEqual([2, 2]);

    const mark = fourthStream.events.length;
    const interruptedAt = Date.now();
    await chats.interrupt(user, third);
    // Leaving the queue wakes the next waiter, which learns its new place at once.
    await fourthStream.waitFor((e) => e.event === 'turn_queued' && e.data.position === 1, 10_000, mark);
    expect(Date.now() - interruptedAt).toBeLessThan(2_500);
    await chats.idle(user, third);
    expect(await chats.status(user, fourth)).toBe('pending');
    expect(await chats.runningTurns(user)).toBe(2);
    expect(await chats.slotRows(user)).toEqual({ holding: sorted([first, second]), awaiting: [fourth] });

    // The freed slot goes to the waiting turn; the interrupted one stays stopped.
    await chats.interrupt(user, first);
    await chats.running(user, fourth);
    expect(await chats.status(user, third)).toBe('waiting');
    expect(turnRequests(fake).filter((r) => JSON.stringify(r.body).includes('HANG 3'))).toEqual([]);

    for (const id of [second, fourth]) await chats.interrupt(user, id);
    for (const id of [first, second, third, fourth]) await chats.idle(user, id);
    expect(await chats.runningTurns(user)).toBe(0);
    expect(await chats.slotRows(user)).toEqual({ holding: [], awaiting: [] });
  });

  it('runs a sub-agent without a slot while its owner is at the cap and another turn waits', async () => {
    const user = await createTestUser(app);
    const busy = await chats.startChat(user, 'HANG busy');
    await chats.running(user, busy);
    const parent = await chats.startChat(user, 'DELEGATE the task');
    await chats.running(user, parent);
    // The parent's first step runs (its spawn_agent call is slow): the user is at the cap.
    const waiting = await chats.startChat(user, 'HANG waiting');
    await chats.queued(user, waiting);
    // Precondition of what follows: the child is spawned only now, behind a waiting turn.
    expect(fake.requests.filter(isChildRequest)).toEqual([]);

    const child = await until(
      async () =>
        app.deps.db
          .selectFrom('chats')
          .select(['id', 'holds_turn_slot'])
          .where('parent_chat_id', '=', parent)
          .executeTakeFirst(),
      'the sub-agent chat',
    );
    const done = await chats.waitForChat(user, child.id, (c) => c.status === 'waiting', 'the sub-agent answered');
    expect(done.waiting_for_slot_since).toBeNull();
    const messages = (await app.request('GET', `/chats/${child.id}/messages`, undefined, user.token)).body.messages;
    expect(messages.filter((m: any) => m.role === 'assistant').map(textOf)).toEqual(['child done']);
    // The parent used the answer and runs on, still on its slot; the waiting turn still waits.
    await until(
      async () =>
        fake.requests.some(
          (r) => JSON.stringify(r.body).includes('DELEGATE') && JSON.stringify(r.body).includes('child done'),
        )
          ? true
          : undefined,
      'the parent reading the answer',
    );
    expect(await chats.status(user, parent)).toBe('running');
    expect(await chats.status(user, waiting)).toBe('pending');
    expect(await chats.runningTurns(user)).toBe(2);
    expect(await chats.slotRows(user)).toEqual({ holding: sorted([busy, parent]), awaiting: [waiting] });

    await chats.interrupt(user, busy);
    await chats.running(user, waiting);
    for (const id of [parent, waiting]) await chats.interrupt(user, id);
    for (const id of [busy, parent, waiting, child.id]) await chats.idle(user, id);
    expect(await chats.runningTurns(user)).toBe(0);
    expect(await chats.slotRows(user)).toEqual({ holding: [], awaiting: [] });
  });
});

describe('fair scheduling turned off (cap 0)', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let chats: ReturnType<typeof driver>;

  beforeAll(async () => {
    fake = await FakeLlmServer.start({ fallback: respond });
    app = await startTestApp({
      fake,
      env: { CHATD_MAX_RUNNING_TURNS_PER_USER: '0', CHATD_RATE_LIMIT_REQUESTS: '0' },
    });
    chats = driver(app);
  });
  afterEach(() => chats.closeStreams());
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it("runs all of a user's turns at once and counts no slots", async () => {
    const user = await createTestUser(app);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(await chats.startChat(user, `HANG ${i}`));
    for (const id of ids) {
      const chat = await chats.running(user, id);
      expect(chat.waiting_for_slot_since).toBeNull();
    }
    expect(await chats.runningTurns(user)).toBe(0);
    expect(await chats.slotRows(user)).toEqual({ holding: [], awaiting: [] });
    for (const id of ids) await chats.interrupt(user, id);
    for (const id of ids) await chats.idle(user, id);
  });
});
