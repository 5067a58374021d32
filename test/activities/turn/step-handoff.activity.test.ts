/**
 * The step handoff (src/turn/step-handoff.ts) on a real PostgreSQL with the fake provider over HTTP: an
 * extra tool step costs two statements, and what each activity is handed equals what it would have read
 * at that moment. Written against it: every write that lands between the steps (a sub-agent's result
 * before or after the tool results, a message between the prompt read and the step's write) makes the
 * next step read again, and the model is never sent a prompt missing it; a compaction, a retry or a late
 * start hands nothing over.
 */
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities, type ActivityDeps } from '../../../activities';
import type { ChatRow, Database } from '../../../src/db/database';
import { insertMessages } from '../../../src/db/repositories/messages.repository';
import { readModelStep, readToolStep, type ModelStepRead } from '../../../src/db/repositories/steps.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import { text, toolCalls } from '../../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../../src/dev/fake-llm/server';
import { messageRow, stepKey } from '../../../src/messages/rows';
import { SecretBox } from '../../../src/security/secrets';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import { buildToolRegistry } from '../../../src/tools/registry';
import type { AnyToolDefinition } from '../../../src/tools/types';
import { ENTRY_TTL_MS, StepHandoff, type ToolStepHandoff } from '../../../src/turn/step-handoff';
import { createTestDatabase, insertFakeModelConfig, recordingDb, type TestDatabase } from '../../support/db';
import { testActivityDeps } from '../../support/activity-deps';

/** The `echo` tool; it first waits for `before` (the recorder's reads). */
const echoTool = (before: () => Promise<unknown>): AnyToolDefinition => ({
  name: 'echo',
  description: 'echo',
  args: z.object({ say: z.string() }),
  execute: async (args) => {
    await before();
    return { result: { said: (args as { say: string }).say }, isError: false };
  },
});

/** A StepHandoff that records what it hands over, with what the database held at that moment. */
class RecordingHandoff extends StepHandoff {
  readonly toolSteps: Array<{ handed: ToolStepHandoff | undefined; stored: Awaited<ReturnType<typeof readToolStep>> }> =
    [];
  readonly modelSteps: Array<{ handed: ModelStepRead | undefined; stored: ModelStepRead | undefined }> = [];

  constructor(
    private readonly db: Kysely<Database>,
    now?: () => number,
  ) {
    super(now);
  }

  override takeForToolStep(at: { chatId: string; turn: number; step: number }): ToolStepHandoff | undefined {
    const handed = super.takeForToolStep(at);
    this.pending.push(
      readToolStep(this.db, at.chatId, stepKey(at.turn, at.step, 'assistant')).then((stored) => {
        this.toolSteps.push({ handed, stored });
      }),
    );
    return handed;
  }

  override takeForModelStep(at: { chatId: string; turn: number; step: number }): ModelStepRead | undefined {
    const handed = super.takeForModelStep(at);
    this.pending.push(
      readModelStep(this.db, at.chatId).then((stored) => {
        this.modelSteps.push({ handed, stored });
      }),
    );
    return handed;
  }

  readonly pending: Array<Promise<void>> = [];
}

/** The fields of a chat row the steps act on (updated_at moves with every write). */
const chatFields = (chat: ChatRow) => {
  const { updated_at: _updated, ...rest } = chat;
  return rest;
};

describe('step handoff', () => {
  let database: TestDatabase;
  /** The activities' pool, whose statements are recorded. */
  let counted: Kysely<Database>;
  let statements: string[] = [];
  let fake: FakeLlmServer;
  let modelConfigId: string;
  let ownerId: string;
  const secrets = new SecretBox(SecretBox.generateKeyEntry('t'));

  beforeAll(async () => {
    database = await createTestDatabase();
    counted = recordingDb(database, 4, (sql) => statements.push(sql));
    fake = await FakeLlmServer.start();
    ownerId = (await insertUser(database.db, { username: 'handoff', role: 'member' })).id;
    modelConfigId = await insertFakeModelConfig(database.db, secrets, fake.openaiBaseUrl);
  });

  afterAll(async () => {
    await fake?.close();
    await counted?.destroy();
    await database?.drop();
  });

  beforeEach(() => fake.reset());

  /**
   * Activity deps on the recorded pool. The tool step's tool and the model step's tool listing (both run
   * after the step opened, before it writes) wait for the recorder's reads: they see what the step saw.
   */
  function depsWith(handoff: RecordingHandoff): ActivityDeps {
    const recorded = () => Promise.all(handoff.pending);
    const tools = buildToolRegistry([echoTool(recorded)]);
    return testActivityDeps(counted, new MemoryStreamBus(), secrets, {
      chatTools: async () => {
        await recorded();
        return { specs: tools.specs(), notes: [], approval: () => undefined };
      },
      tools,
      handoff,
    });
  }

  async function newChat(): Promise<string> {
    const chat = await database.db
      .insertInto('chats')
      .values({ owner_id: ownerId, last_model_config_id: modelConfigId, labels: '{}', status: 'pending', turn: 1 })
      .returning('id')
      .executeTakeFirstOrThrow();
    await insertMessages(database.db, [
      messageRow({
        chatId: chat.id,
        turn: 1,
        role: 'user',
        content: [{ type: 'text', text: 'hi' }],
        createdBy: ownerId,
      }),
    ]);
    return chat.id;
  }

  const env = (attempt = 1) => new MockActivityEnvironment({ attempt });

  /** The tool results the model was sent in the `n`-th provider request (0-based), as call id → content. */
  function sentResults(n: number): Record<string, unknown> {
    const body = fake.requests[n]!.body as {
      messages: Array<{ role: string; tool_call_id?: string; content: unknown }>;
    };
    return Object.fromEntries(body.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content]));
  }

  it('opens an extra tool step and the next model step with what the writes before them read: two statements', async () => {
    const handoff = new RecordingHandoff(database.db);
    const activities = createActivities(depsWith(handoff));
    const chatId = await newChat();
    fake.enqueue(toolCalls([{ id: 'c1', name: 'echo', args: { say: 'one' } }]), text('Done.'));
    const step0 = await env().run(activities.runModelStep, { chatId, turn: 1, step: 0, finish: true });
    expect(step0).toMatchObject({ status: 'ok', continue: true, toolCalls: [{ id: 'c1', name: 'echo' }] });

    statements = [];
    expect(await env().run(activities.runTools, { chatId, turn: 1, step: 0 })).toEqual({ status: 'ok', results: 1 });
    expect(await env().run(activities.runModelStep, { chatId, turn: 1, step: 1, finish: true })).toMatchObject({
      status: 'ok',
      finished: { status: 'waiting' },
    });
    // The tool results, and the last message with the turn's end (one transaction: BEGIN, the insert,
    // the turn's end, COMMIT): no read of the chat, the step's message or the prompt.
    const work = statements.filter((s) => !/^(begin|commit)/i.test(s));
    expect(work).toHaveLength(3);
    expect(work.filter((s) => /^\s*select/i.test(s))).toEqual([]);

    await Promise.all(handoff.pending);
    const [tool] = handoff.toolSteps;
    expect(tool!.handed).toBeDefined();
    expect(chatFields(tool!.handed!.chat)).toEqual(chatFields(tool!.stored!.chat));
    expect(tool!.handed!.message.content).toEqual(tool!.stored!.stepContent);
    expect(tool!.handed!.workspace).toEqual(tool!.stored!.workspace);
    const [model] = handoff.modelSteps;
    expect(model!.handed).toBeDefined();
    expect(model!.handed!.prompt).toEqual(model!.stored!.prompt);
    expect(model!.handed!.configGeneration).toBe(model!.stored!.configGeneration);
    expect(chatFields(model!.handed!.chat)).toEqual(chatFields(model!.stored!.chat));
    expect(sentResults(1)).toEqual({ c1: JSON.stringify({ said: 'one' }) });
  });

  it.each([
    ['before', 'the tool results'],
    ['after', 'the tool results'],
  ])('a result stored by another activity %s %s reaches the model: the next step reads', async (when) => {
    const handoff = new RecordingHandoff(database.db);
    const deps = depsWith(handoff);
    const activities = createActivities(deps);
    const chatId = await newChat();
    fake.enqueue(
      toolCalls([
        { id: 'local', name: 'echo', args: { say: 'mine' } },
        { id: 'other', name: 'spawn_agent', args: {} },
      ]),
      text('Done.'),
    );
    await env().run(activities.runModelStep, { chatId, turn: 1, step: 0, finish: true });
    const storeOther = () =>
      env().run(activities.persistToolResults, {
        chatId,
        turn: 1,
        step: 0,
        results: [{ callId: 'other', name: 'spawn_agent', result: { from: 'sub-agent' }, isError: false }],
      });
    if (when === 'before') await storeOther();
    await env().run(activities.runTools, { chatId, turn: 1, step: 0 });
    if (when === 'after') await storeOther();
    await env().run(activities.runModelStep, { chatId, turn: 1, step: 1, finish: true });

    await Promise.all(handoff.pending);
    expect(handoff.toolSteps[0]!.handed).toBeDefined();
    expect(handoff.modelSteps[0]!.handed).toBeUndefined();
    expect(sentResults(1)).toEqual({
      local: JSON.stringify({ said: 'mine' }),
      other: JSON.stringify({ from: 'sub-agent' }),
    });
  });

  it('a model reusing one call id for a local tool and a sub-agent cannot make the next prompt differ from the chat', async () => {
    const handoff = new RecordingHandoff(database.db);
    const activities = createActivities(depsWith(handoff));
    const chatId = await newChat();
    fake.enqueue(
      toolCalls([
        { id: 'dup', name: 'echo', args: { say: 'local' } },
        { id: 'dup', name: 'spawn_agent', args: {} },
      ]),
      text('Done.'),
    );
    await env().run(activities.runModelStep, { chatId, turn: 1, step: 0, finish: true });
    await env().run(activities.runTools, { chatId, turn: 1, step: 0 });
    // The workflow stores the sub-agent call's result under the same id: the step key refuses a second row.
    await env().run(activities.persistToolResults, {
      chatId,
      turn: 1,
      step: 0,
      results: [{ callId: 'dup', name: 'spawn_agent', result: { from: 'sub-agent' }, isError: false }],
    });
    await env().run(activities.runModelStep, { chatId, turn: 1, step: 1, finish: true });
    await Promise.all(handoff.pending);
    const [model] = handoff.modelSteps;
    // The second result was refused (same step key), so the chat holds what was handed over; the model got that.
    expect(model!.handed).toBeDefined();
    expect(model!.handed!.prompt).toEqual(model!.stored!.prompt);
    expect(sentResults(1)).toEqual({ dup: JSON.stringify({ said: 'local' }) });
  });

  it('a message written between the prompt read and the step write keeps the tool step reading', async () => {
    const handoff = new RecordingHandoff(database.db);
    const activities = createActivities(depsWith(handoff));
    const chatId = await newChat();
    // The provider answers only after a message landed in the chat while it streamed.
    fake.enqueue(
      toolCalls([{ id: 'c1', name: 'echo', args: { say: 'x' } }], { firstTokenDelayMs: 300 }),
      text('Done.'),
    );
    const step = env().run(activities.runModelStep, { chatId, turn: 1, step: 0, finish: true });
    await fake.waitForRequests(1);
    await insertMessages(database.db, [
      messageRow({ chatId, turn: 1, role: 'user', content: [{ type: 'text', text: 'late' }], createdBy: ownerId }),
    ]);
    await step;
    await env().run(activities.runTools, { chatId, turn: 1, step: 0 });
    await env().run(activities.runModelStep, { chatId, turn: 1, step: 1, finish: true });
    await Promise.all(handoff.pending);
    expect(handoff.toolSteps[0]!.handed).toBeUndefined();
    expect(handoff.modelSteps[0]!.handed).toBeUndefined();
    const sent = (fake.requests[1]!.body as { messages: Array<{ role: string; content: unknown }> }).messages;
    expect(sent.some((m) => m.role === 'user' && JSON.stringify(m.content).includes('late'))).toBe(true);
  });

  it('a step that asks for compaction, a retried tool step and a late one hand nothing over', async () => {
    let now = 1_000;
    const handoff = new RecordingHandoff(database.db, () => now);
    const activities = createActivities(depsWith(handoff));

    // Compaction: the context is over the threshold after the step (it rewrites the prompt).
    const compacting = await newChat();
    fake.enqueue(
      toolCalls([{ id: 'c1', name: 'echo', args: { say: 'x' } }], { usage: { inputTokens: 99_000, outputTokens: 10 } }),
    );
    const step = await env().run(activities.runModelStep, { chatId: compacting, turn: 1, step: 0, finish: true });
    expect(step).toMatchObject({ status: 'ok', compaction: expect.anything() });
    await env().run(activities.runTools, { chatId: compacting, turn: 1, step: 0 });

    // A retry reads, and so does the first attempt after ENTRY_TTL_MS.
    const retried = await newChat();
    const late = await newChat();
    for (const chatId of [retried, late]) {
      fake.enqueue(toolCalls([{ id: 'c1', name: 'echo', args: { say: 'x' } }]));
      await env().run(activities.runModelStep, { chatId, turn: 1, step: 0, finish: true });
    }
    await env(2).run(activities.runTools, { chatId: retried, turn: 1, step: 0 });
    now += ENTRY_TTL_MS + 1;
    await env().run(activities.runTools, { chatId: late, turn: 1, step: 0 });

    await Promise.all(handoff.pending);
    // The retry never asked (attempt 2); the other two found nothing.
    expect(handoff.toolSteps.map((t) => t.handed)).toEqual([undefined, undefined]);
    expect(handoff.toolSteps.map((t) => t.stored?.chat.id)).toEqual([compacting, late]);
  });
});
