/**
 * Running-turn slots (fair scheduling, docs/operations.md) on real PostgreSQL: the first step's statement
 * takes a slot only under the cap, exactly, however many starts race; waiting turns keep their order;
 * finishTurn gives a slot back once and names the oldest waiter; a recount repairs a leaked counter, also
 * while starts race it. And the cost: with slots on, a turn's first step is still one statement, and
 * finishTurn adds exactly one when the chat held a slot. Statements are counted by a Kysely log hook on a
 * pool of its own (BEGIN and COMMIT included, reported separately).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../../src/db/database';
import { startModelStep, type ModelStepRead, type QueuedTurn } from '../../../src/db/repositories/steps.repository';
import { recountSlots, releaseSlot } from '../../../src/db/repositories/turn-slots.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { text } from '../../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../../src/dev/fake-llm/server';
import { createLogger } from '../../../src/log';
import { messageRow } from '../../../src/messages/rows';
import { SecretBox } from '../../../src/security/secrets';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import type { StreamEvent } from '../../../src/stream/events';
import { buildToolRegistry } from '../../../src/tools/registry';
import type { TurnDeps } from '../../../src/turn/deps';
import { finishTurn } from '../../../src/turn/finish-turn';
import { runModelStep } from '../../../src/turn/model-step';
import { ModelResolver } from '../../../src/turn/models';
import { StepSettingsCache } from '../../../src/turn/step-settings';
import { createTestDatabase, insertFakeModelConfig, recordingDb, type TestDatabase } from '../../support/db';

type StepStart = ModelStepRead | QueuedTurn | undefined;
const isQueued = (r: StepStart): r is QueuedTurn => r !== undefined && 'queued' in r;
const isStarted = (r: StepStart): r is ModelStepRead => r !== undefined && !('queued' in r);

describe('running-turn slots', () => {
  let database: TestDatabase;
  /** A second pool on the test database whose statements are recorded (and that has room for races). */
  let counted: Kysely<Database>;
  let statements: string[] = [];
  let fake: FakeLlmServer;
  let modelConfigId: string;
  let bus: MemoryStreamBus;
  const woken: string[] = [];
  const secrets = new SecretBox(SecretBox.generateKeyEntry('t'));

  beforeAll(async () => {
    database = await createTestDatabase();
    counted = recordingDb(database, 12, (sql) => statements.push(sql));
    fake = await FakeLlmServer.start({ fallback: () => text('Hello there.') });
    bus = new MemoryStreamBus();
    modelConfigId = await insertFakeModelConfig(database.db, secrets, fake.openaiBaseUrl);
  });

  afterAll(async () => {
    await counted?.destroy();
    await fake?.close();
    await database?.drop();
  });

  /** TurnDeps on the counted pool with slots capped at `cap`; a wake is recorded in `woken`. */
  function turnDeps(cap: number): TurnDeps {
    return {
      db: counted,
      bus,
      models: new ModelResolver(
        counted,
        secrets,
        { openai: { apiKey: undefined, baseUrl: undefined }, anthropic: { apiKey: undefined, baseUrl: undefined } },
        'chatd/test',
      ),
      settings: new StepSettingsCache(counted),
      log: createLogger('silent', 'test'),
      maxSteps: 10,
      approvalTimeoutMs: 86_400_000,
      maxRunningTurnsPerUser: cap,
      wakeQueuedTurn: async (chatId) => {
        woken.push(chatId);
      },
      chatTools: async () => ({ specs: [], notes: [], approval: () => undefined }),
      tools: buildToolRegistry([]),
      workspaceFor: async () => null,
    } as TurnDeps;
  }

  let users = 0;
  const newOwner = async (): Promise<string> =>
    (await insertUser(database.db, { username: `slots-${++users}`, role: 'member' })).id;

  /** A chat whose turn 1 (with a user message) was requested and has not started. */
  async function pendingChat(ownerId: string, parent?: string): Promise<string> {
    const { id } = await database.db
      .insertInto('chats')
      .values({
        owner_id: ownerId,
        parent_chat_id: parent ?? null,
        root_chat_id: parent ?? null,
        last_model_config_id: modelConfigId,
        labels: '{}',
        status: 'pending',
        turn: 1,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await database.db
      .insertInto('chat_messages')
      .values(
        messageRow({
          chatId: id,
          turn: 1,
          role: 'user',
          content: [{ type: 'text', text: 'hello' }],
          modelConfigId,
          createdBy: ownerId,
        }),
      )
      .execute();
    return id;
  }

  const runningTurns = async (ownerId: string): Promise<number> =>
    (await database.db.selectFrom('users').select('running_turns').where('id', '=', ownerId).executeTakeFirstOrThrow())
      .running_turns;

  const slotState = (chatId: string) =>
    database.db
      .selectFrom('chats')
      .select(['status', 'holds_turn_slot', 'awaiting_slot_since'])
      .where('id', '=', chatId)
      .executeTakeFirstOrThrow();

  const holders = async (ownerId: string): Promise<string[]> =>
    (
      await database.db
        .selectFrom('chats')
        .select('id')
        .where('owner_id', '=', ownerId)
        .where('holds_turn_slot', '=', true)
        .execute()
    ).map((r) => r.id);

  /** Ends the chat's turn 1 as the workflow does, on the counted pool. */
  const finish = (chatId: string, cap = 3) =>
    finishTurn(turnDeps(cap), { chatId, turn: 1, outcome: 'completed', error: null });

  /** Resolves once some session waits for a lock in the test database. */
  async function waitForLockWaiter(): Promise<void> {
    for (;;) {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`.execute(database.db);
      if (rows[0]!.n > 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Runs `body` and returns its result with the statements it sent (transaction control apart). */
  async function measure<T>(body: () => Promise<T>): Promise<{ result: T; app: string[]; control: string[] }> {
    statements = [];
    const result = await body();
    const all = statements;
    statements = [];
    const control = all.filter((s) => /^\s*(begin|commit|rollback)\b/i.test(s));
    return { result, app: all.filter((s) => !control.includes(s)), control };
  }

  it('admits exactly `cap` of many turns of one owner starting at once', async () => {
    for (let round = 0; round < 3; round++) {
      const owner = await newOwner();
      const chats = await Promise.all(Array.from({ length: 10 }, () => pendingChat(owner)));
      const results = await Promise.all(chats.map((id) => startModelStep(counted, id, 1, 3)));
      const started = chats.filter((_, i) => isStarted(results[i]));
      const queued = chats.filter((_, i) => isQueued(results[i]));
      expect({ started: started.length, queued: queued.length }).toEqual({ started: 3, queued: 7 });
      expect(await runningTurns(owner)).toBe(3);
      expect((await holders(owner)).sort()).toEqual([...started].sort());
      for (const id of started) {
        expect(await slotState(id)).toEqual({ status: 'running', holds_turn_slot: true, awaiting_slot_since: null });
      }
      for (const id of queued) {
        expect(await slotState(id)).toMatchObject({ status: 'pending', holds_turn_slot: false });
        expect((await slotState(id)).awaiting_slot_since).toBeInstanceOf(Date);
      }
      // A retried first step of a running turn keeps its slot and takes no second one.
      expect(isStarted(await startModelStep(counted, started[0]!, 1, 3))).toBe(true);
      expect(await runningTurns(owner)).toBe(3);
    }
  });

  it('gives each waiting turn its place: 1 starts next', async () => {
    const owner = await newOwner();
    const running = await pendingChat(owner);
    const [first, second] = [await pendingChat(owner), await pendingChat(owner)];
    expect(isStarted(await startModelStep(counted, running, 1, 1))).toBe(true);
    expect(await startModelStep(counted, first!, 1, 1)).toEqual({ queued: true, ownerId: owner, position: 1 });
    expect(await startModelStep(counted, second!, 1, 1)).toEqual({ queued: true, ownerId: owner, position: 2 });
    // A retry keeps the place (the time it began to wait does not move).
    const since = (await slotState(first!)).awaiting_slot_since;
    expect(await startModelStep(counted, first!, 1, 1)).toEqual({ queued: true, ownerId: owner, position: 1 });
    expect((await slotState(first!)).awaiting_slot_since).toEqual(since);
  });

  it('lets the oldest waiting turn take a freed slot before a newer one (FIFO)', async () => {
    const owner = await newOwner();
    const [a, older, newer] = [await pendingChat(owner), await pendingChat(owner), await pendingChat(owner)];
    expect(isStarted(await startModelStep(counted, a!, 1, 1))).toBe(true);
    expect(isQueued(await startModelStep(counted, older!, 1, 1))).toBe(true);
    woken.length = 0;
    await finish(a!, 1);
    expect(await runningTurns(owner)).toBe(0);
    expect(woken).toEqual([older]);
    // The slot is free, but an older turn waits for it: the newer one queues behind it.
    expect(await startModelStep(counted, newer!, 1, 1)).toEqual({ queued: true, ownerId: owner, position: 2 });
    expect(await runningTurns(owner)).toBe(0);
    const admitted = await startModelStep(counted, older!, 1, 1);
    expect(isStarted(admitted) && admitted.chat.status).toBe('running');
    expect(await slotState(older!)).toEqual({ status: 'running', holds_turn_slot: true, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(1);
    // Now the newer one is first in line.
    expect(await startModelStep(counted, newer!, 1, 1)).toEqual({ queued: true, ownerId: owner, position: 1 });
  });

  it('another owner is never held up by a full owner', async () => {
    const busy = await newOwner();
    const other = await newOwner();
    const chats = [await pendingChat(busy), await pendingChat(busy), await pendingChat(busy)];
    for (const id of chats) await startModelStep(counted, id, 1, 1);
    expect(await runningTurns(busy)).toBe(1);
    const first = await pendingChat(other);
    const started = await startModelStep(counted, first, 1, 1);
    expect(isStarted(started) && started.chat.status).toBe('running');
    expect(await runningTurns(other)).toBe(1);
  });

  it('starts a sub-agent turn without a slot even when its owner is at the cap and turns wait', async () => {
    const owner = await newOwner();
    const root = await pendingChat(owner);
    expect(isStarted(await startModelStep(counted, root, 1, 1))).toBe(true);
    const waiter = await pendingChat(owner);
    expect(isQueued(await startModelStep(counted, waiter, 1, 1))).toBe(true);
    const child = await pendingChat(owner, root);
    const started = await startModelStep(counted, child, 1, 1);
    expect(isStarted(started) && started.chat.status).toBe('running');
    expect(await slotState(child)).toEqual({ status: 'running', holds_turn_slot: false, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(1);
    // Its end gives nothing back and wakes nobody.
    woken.length = 0;
    await finish(child, 1);
    expect(await runningTurns(owner)).toBe(1);
    expect(woken).toEqual([]);
  });

  it('a first step that cannot start its turn takes no slot (stopped before it began, or a late duplicate)', async () => {
    const owner = await newOwner();
    // Interrupted before its first step ran.
    const stopped = await pendingChat(owner);
    await database.db.updateTable('chats').set({ status: 'waiting' }).where('id', '=', stopped).execute();
    expect(await startModelStep(counted, stopped, 1, 2)).toBeUndefined();
    expect(await slotState(stopped)).toEqual({ status: 'waiting', holds_turn_slot: false, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(0);
    // A duplicate of a first step (an activity attempt that ran late) after its turn had ended.
    const ended = await pendingChat(owner);
    await startModelStep(counted, ended, 1, 2);
    await finish(ended, 2);
    expect(await runningTurns(owner)).toBe(0);
    expect(await startModelStep(counted, ended, 1, 2)).toBeUndefined();
    expect(await slotState(ended)).toEqual({ status: 'waiting', holds_turn_slot: false, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(0);
    // A stale first step of a superseded turn neither takes a slot nor gives the newer turn one.
    const superseded = await pendingChat(owner);
    await database.db.updateTable('chats').set({ turn: 2 }).where('id', '=', superseded).execute();
    expect(await startModelStep(counted, superseded, 1, 2)).toBeUndefined();
    expect(await slotState(superseded)).toEqual({
      status: 'pending',
      holds_turn_slot: false,
      awaiting_slot_since: null,
    });
    expect(await runningTurns(owner)).toBe(0);
  });

  it('a first step racing the transaction that commits its turn waits for it and takes a slot', async () => {
    const owner = await newOwner();
    const chat = await pendingChat(owner);
    await startModelStep(counted, chat, 1, 1);
    await finish(chat, 1);
    expect(await runningTurns(owner)).toBe(0);
    let commit!: () => void;
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    // The API moves the chat to turn 2 and requests it before its commit.
    const api = database.db.transaction().execute(async (trx) => {
      await trx.selectFrom('chats').select('id').where('id', '=', chat).forUpdate().execute();
      await trx.updateTable('chats').set({ status: 'pending', turn: 2 }).where('id', '=', chat).execute();
      locked();
      await new Promise<void>((r) => (commit = r));
    });
    await lockTaken;
    const starting = startModelStep(counted, chat, 2, 1);
    await waitForLockWaiter();
    commit();
    await api;
    const started = await starting;
    expect(isStarted(started) && started.chat).toMatchObject({ turn: 2, status: 'running' });
    expect(await slotState(chat)).toEqual({ status: 'running', holds_turn_slot: true, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(1);
  });

  it('with the cap turned off (0) a turn that waited starts and leaves the queue', async () => {
    const owner = await newOwner();
    const running = await pendingChat(owner);
    const waiting = await pendingChat(owner);
    await startModelStep(counted, running, 1, 1);
    expect(isQueued(await startModelStep(counted, waiting, 1, 1))).toBe(true);
    const started = await startModelStep(counted, waiting, 1, 0);
    expect(isStarted(started) && started.chat.status).toBe('running');
    expect(await slotState(waiting)).toEqual({ status: 'running', holds_turn_slot: false, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(1);
  });

  it('releaseSlot gives a held slot back once, clears the wait and names the oldest waiter', async () => {
    const owner = await newOwner();
    const [holder, other, w1, w2] = [
      await pendingChat(owner),
      await pendingChat(owner),
      await pendingChat(owner),
      await pendingChat(owner),
    ];
    await startModelStep(counted, holder!, 1, 2);
    await startModelStep(counted, other!, 1, 2);
    await startModelStep(counted, w1!, 1, 2);
    await startModelStep(counted, w2!, 1, 2);
    expect(await runningTurns(owner)).toBe(2);
    const release = (chatId: string) =>
      database.db.transaction().execute((trx) => releaseSlot(trx, { id: chatId, owner_id: owner }));

    expect(await release(holder!)).toEqual({ nextWaitingChatId: w1 });
    expect(await runningTurns(owner)).toBe(1);
    expect(await slotState(holder!)).toMatchObject({ holds_turn_slot: false, awaiting_slot_since: null });
    // Idempotent: the second call frees nothing.
    expect(await release(holder!)).toEqual({ nextWaitingChatId: w1 });
    expect(await runningTurns(owner)).toBe(1);

    // A waiting turn leaving the queue gives no slot back, clears its wait and names the next waiter.
    expect(await release(w1!)).toEqual({ nextWaitingChatId: w2 });
    expect(await slotState(w1!)).toMatchObject({ holds_turn_slot: false, awaiting_slot_since: null });
    expect(await runningTurns(owner)).toBe(1);

    expect(await release(other!)).toEqual({ nextWaitingChatId: w2 });
    expect(await release(w2!)).toEqual({ nextWaitingChatId: null });
    expect(await runningTurns(owner)).toBe(0);
  });

  it('finishTurn frees the slot only when the chat goes idle, and keeps it for a promoted queued message', async () => {
    const owner = await newOwner();
    const chat = await pendingChat(owner);
    await startModelStep(counted, chat, 1, 2);
    await database.db
      .insertInto('chat_queued_messages')
      .values({ chat_id: chat, content: JSON.stringify([{ type: 'text', text: 'next' }]), created_by: owner })
      .execute();
    expect(await finish(chat, 2)).toMatchObject({ nextTurn: 2, status: 'pending' });
    expect(await slotState(chat)).toMatchObject({ status: 'pending', holds_turn_slot: true });
    expect(await runningTurns(owner)).toBe(1);
    // Turn 2 starts on the slot it kept, without taking another.
    const second = await startModelStep(counted, chat, 2, 2);
    expect(isStarted(second) && second.chat.status).toBe('running');
    expect(await runningTurns(owner)).toBe(1);
    await finishTurn(turnDeps(2), { chatId: chat, turn: 2, outcome: 'failed', error: null });
    expect(await slotState(chat)).toMatchObject({ status: 'error', holds_turn_slot: false });
    expect(await runningTurns(owner)).toBe(0);
  });

  it('recountSlots repairs a leaked counter from the chats holding a slot', async () => {
    const owner = await newOwner();
    const chats = [await pendingChat(owner), await pendingChat(owner)];
    for (const id of chats) await startModelStep(counted, id, 1, 5);
    await database.db.updateTable('users').set({ running_turns: 5 }).where('id', '=', owner).execute();
    const waiter = await pendingChat(owner);
    // At the (leaked) cap the turn is refused; the refusal's recount gives the lost slots back.
    const refused = await runModelStep(
      turnDeps(5),
      { chatId: waiter, turn: 1, step: 0 },
      { signal: new AbortController().signal },
    );
    expect(refused).toEqual({ status: 'queued', position: 1 });
    expect(await runningTurns(owner)).toBe(2);
    const retried = await startModelStep(counted, waiter, 1, 5);
    expect(isStarted(retried) && retried.chat.status).toBe('running');
    expect(await runningTurns(owner)).toBe(3);
    await recountSlots(counted, owner);
    expect(await runningTurns(owner)).toBe(3);
  });

  it('a recount racing a start that takes a slot counts that slot', async () => {
    const owner = await newOwner();
    const first = await pendingChat(owner);
    const second = await pendingChat(owner);
    await startModelStep(counted, first, 1, 5);
    let commit!: () => void;
    let took!: () => void;
    const taken = new Promise<void>((r) => (took = r));
    // A start that took its slot and has not committed yet (it holds the owner's row).
    const start = counted.transaction().execute(async (trx) => {
      const started = await startModelStep(trx, second, 1, 5);
      took();
      await new Promise<void>((r) => (commit = r));
      return started;
    });
    await taken;
    const recount = recountSlots(counted, owner);
    await waitForLockWaiter();
    commit();
    expect(isStarted(await start)).toBe(true);
    await recount;
    expect(await holders(owner)).toHaveLength(2);
    expect(await runningTurns(owner)).toBe(2);
  });

  it('a recount racing a release does not count the released slot', async () => {
    const owner = await newOwner();
    const [a, b] = [await pendingChat(owner), await pendingChat(owner)];
    await startModelStep(counted, a!, 1, 5);
    await startModelStep(counted, b!, 1, 5);
    await database.db.updateTable('chats').set({ status: 'waiting' }).where('id', '=', a!).execute();
    let commit!: () => void;
    let released!: () => void;
    const done = new Promise<void>((r) => (released = r));
    const release = counted.transaction().execute(async (trx) => {
      await releaseSlot(trx, { id: a!, owner_id: owner });
      released();
      await new Promise<void>((r) => (commit = r));
    });
    await done;
    const recount = recountSlots(counted, owner);
    await waitForLockWaiter();
    commit();
    await release;
    await recount;
    expect(await holders(owner)).toEqual([b]);
    expect(await runningTurns(owner)).toBe(1);
  });

  describe('cost on the uncontended path', () => {
    it("a turn's first step is one statement with slots on, as with them off", async () => {
      const on = await newOwner();
      const off = await newOwner();
      const [onChat, offChat] = [await pendingChat(on), await pendingChat(off)];
      const withSlots = await measure(() => startModelStep(counted, onChat, 1, 3));
      const without = await measure(() => startModelStep(counted, offChat, 1, 0));
      expect(isStarted(withSlots.result) && withSlots.result.chat.status).toBe('running');
      expect(withSlots.app).toHaveLength(1);
      expect(withSlots.app[0]).toMatch(/"admitted" as \(update "users"/);
      expect(withSlots.control).toEqual([]);
      expect(without.app).toHaveLength(1);
      expect(await runningTurns(on)).toBe(1);
      expect(await runningTurns(off)).toBe(0);
    });

    it('a whole first model step sends as many statements with slots on as with them off', async () => {
      const counts: Record<string, number> = {};
      for (const cap of [0, 3]) {
        const owner = await newOwner();
        const deps = turnDeps(cap);
        const step = (chatId: string) =>
          runModelStep(deps, { chatId, turn: 1, step: 0 }, { signal: new AbortController().signal });
        // The first one warms the per-process caches (model, settings) both runs share.
        expect(await step(await pendingChat(owner))).toMatchObject({ status: 'ok' });
        const chat = await pendingChat(owner);
        const measured = await measure(() => step(chat));
        expect(measured.result).toMatchObject({ status: 'ok' });
        counts[cap] = measured.app.length + measured.control.length;
        expect(await runningTurns(owner)).toBe(cap > 0 ? 2 : 0);
      }
      expect(counts[3]).toBe(counts[0]);
    });

    it('finishTurn ends a turn in one statement, slot or not, and with a waiting turn names it', async () => {
      const on = await newOwner();
      const off = await newOwner();
      const held = await pendingChat(on);
      const plain = await pendingChat(off);
      await startModelStep(counted, held, 1, 3);
      await startModelStep(counted, plain, 1, 0);
      woken.length = 0;
      const withSlot = await measure(() => finish(held, 3));
      const withoutSlot = await measure(() => finish(plain, 3));
      // One statement, no transaction: the release rides along.
      expect(withSlot.app).toHaveLength(1);
      expect(withoutSlot.app).toHaveLength(1);
      expect(withSlot.control).toEqual([]);
      expect(withoutSlot.control).toEqual([]);
      expect(await runningTurns(on)).toBe(0);
      expect(await runningTurns(off)).toBe(0);
      // Nobody waited: nobody is woken.
      expect(woken).toEqual([]);

      // With a turn waiting, the same one statement also names it, and it is woken.
      const [next, waiter] = [await pendingChat(on), await pendingChat(on)];
      await startModelStep(counted, next, 1, 1);
      expect(isQueued(await startModelStep(counted, waiter, 1, 1))).toBe(true);
      const withWaiter = await measure(() => finish(next, 1));
      expect(withWaiter.app).toHaveLength(1);
      expect(woken).toEqual([waiter]);
      expect(await runningTurns(on)).toBe(0);
    });
  });

  it('publishes the place of a refused turn on its stream', async () => {
    const owner = await newOwner();
    const running = await pendingChat(owner);
    await startModelStep(counted, running, 1, 1);
    const waiter = await pendingChat(owner);
    const events: StreamEvent[] = [];
    bus.subscribe(waiter, (e) => events.push(e));
    const summary = await runModelStep(
      turnDeps(1),
      { chatId: waiter, turn: 1, step: 0 },
      { signal: new AbortController().signal },
    );
    expect(summary).toEqual({ status: 'queued', position: 1 });
    expect(events).toEqual([{ type: 'turn_queued', chat_id: waiter, position: 1 }]);
  });
});
