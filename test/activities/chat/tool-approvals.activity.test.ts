/**
 * Tool approval below Temporal (docs/tool-approval.md), on PostgreSQL with an in-process bus: a step's
 * calls that need the user are recorded with a hash of their arguments and an expiry, the chat moves to
 * `requires_action` and `action_required` is announced (on the root chat too for a sub-agent); each
 * decision is recorded once, a call that will not run gets a result saying why, `approved_always` grants
 * the tool for the rest of the chat, and the chat moves back to `running` when nothing waits. Retries
 * change nothing twice and a turn that is over writes nothing. Last, the model step marks which calls
 * ask, from the admin's site policy, the MCP server's policy and the chat's own settings.
 */
import { createHash } from 'node:crypto';
import type { ChatStatus } from '../../../src/messages/chat-status';
import { createLogger } from '../../../src/log';
import { decodeParts, type ChatMessagePart } from '../../../src/messages/parts';
import { messageRow, stepKey } from '../../../src/messages/rows';
import { putSiteConfig } from '../../../src/db/repositories/configs.repository';
import { insertUser } from '../../../src/db/repositories/users.repository';
import type { StreamEvent, WatchEvent } from '../../../src/stream/events';
import { MemoryStreamBus } from '../../../src/stream/memory-stream-bus';
import type { ChatToolSet } from '../../../src/turn/chat-tools';
import { runModelStep, type ToolCallSummary } from '../../../src/turn/model-step';
import { localToolCalls } from '../../../src/turn/tool-step';
import { ModelResolver } from '../../../src/turn/models';
import { StepSettingsCache } from '../../../src/turn/step-settings';
import { TOOL_APPROVAL_KEY } from '../../../src/turn/tool-approval-policy';
import {
  argsSha256,
  recordToolDecisions,
  requestToolApprovals,
  type ToolApprovalDeps,
  type ToolDecision,
} from '../../../src/turn/tool-approvals';
import type { TurnDeps } from '../../../src/turn/deps';
import { sealProviderKey } from '../../../src/security/provider-keys';
import { SecretBox } from '../../../src/security/secrets';
import { toolCalls } from '../../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../../src/dev/fake-llm/server';
import { createTestDatabase, insertUnusedModelConfig, type TestDatabase } from '../../support/db';

const TIMEOUT_MS = 3_600_000;

/** One tool call of an assistant message, as the test writes it. */
interface Call {
  id: string;
  name: string;
  args: unknown;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const ofType = <T extends StreamEvent['type']>(events: StreamEvent[], type: T) =>
  events.filter((e): e is Extract<StreamEvent, { type: T }> => e.type === type);

let database: TestDatabase;
let bus: MemoryStreamBus;
let deps: ToolApprovalDeps;
let ownerId: string;
let deciderId: string;
let modelConfigId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  bus = new MemoryStreamBus();
  deps = { db: database.db, bus, log: createLogger('silent', 'test'), approvalTimeoutMs: TIMEOUT_MS };
  ownerId = (await insertUser(database.db, { username: 'approval-owner', role: 'member' })).id;
  deciderId = (await insertUser(database.db, { username: 'approval-decider', role: 'admin' })).id;
  modelConfigId = (await insertUnusedModelConfig(database.db)).id;
});

afterAll(async () => {
  await database?.drop();
});

async function newChat(
  options: {
    status?: ChatStatus;
    turn?: number;
    parent?: string;
    root?: string;
    granted?: string[];
    ask?: string[];
    modelConfig?: string;
  } = {},
): Promise<string> {
  const chat = await database.db
    .insertInto('chats')
    .values({
      owner_id: ownerId,
      workspace_id: null,
      parent_chat_id: options.parent ?? null,
      root_chat_id: options.root ?? null,
      last_model_config_id: options.modelConfig ?? modelConfigId,
      status: options.status ?? 'running',
      turn: options.turn ?? 1,
      last_error: null,
      last_error_kind: null,
      labels: '{}',
      mode: null,
      last_read_message_id: null,
      tool_approval_granted: options.granted ?? [],
      tool_approval_ask: options.ask ?? [],
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return chat.id;
}

/** The assistant message of step `step` holding `calls`, as the model step stores it. */
async function assistantStep(chatId: string, turn: number, step: number, calls: Call[]): Promise<number> {
  const row = await database.db
    .insertInto('chat_messages')
    .values(
      messageRow({
        chatId,
        turn,
        role: 'assistant',
        stepKey: stepKey(turn, step, 'assistant'),
        content: calls.map((c) => ({
          type: 'tool-call' as const,
          tool_call_id: c.id,
          tool_name: c.name,
          args: c.args,
        })),
      }),
    )
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

const asking = (calls: Call[]): ToolCallSummary[] => calls.map((c) => ({ id: c.id, name: c.name, approval: 'ask' }));

/** Everything published on the chats' streams and the owner's watch feed from now on. */
function record(...chatIds: string[]): {
  events: Record<string, StreamEvent[]>;
  watch: WatchEvent[];
  stop(): void;
  clear(): void;
} {
  const events: Record<string, StreamEvent[]> = {};
  const offs = chatIds.map((id) => bus.subscribe(id, (e) => (events[id] ??= []).push(e)));
  for (const id of chatIds) events[id] = [];
  const watch: WatchEvent[] = [];
  offs.push(bus.subscribeWatch(ownerId, (e) => watch.push(e)));
  return {
    events,
    watch,
    stop: () => offs.forEach((off) => off()),
    clear: () => {
      for (const id of chatIds) events[id]!.length = 0;
      watch.length = 0;
    },
  };
}

const rowsOf = (chatId: string) =>
  database.db
    .selectFrom('chat_tool_approvals')
    .selectAll()
    .where('chat_id', '=', chatId)
    .orderBy('call_id')
    .orderBy('turn')
    .orderBy('step')
    .execute();

const chatRow = (chatId: string) =>
  database.db.selectFrom('chats').selectAll().where('id', '=', chatId).executeTakeFirstOrThrow();

const toolMessages = (chatId: string) =>
  database.db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('role', '=', 'tool')
    .orderBy('id')
    .execute();

/** A running chat whose step 0 asked about `calls`. */
async function waitingChat(
  calls: Call[],
  options: Parameters<typeof newChat>[0] = {},
): Promise<{ chatId: string; messageId: number }> {
  const chatId = await newChat(options);
  const messageId = await assistantStep(chatId, options.turn ?? 1, 0, calls);
  const requested = await requestToolApprovals(deps, {
    chatId,
    turn: options.turn ?? 1,
    step: 0,
    calls: asking(calls),
  });
  expect(requested.status).toBe('ok');
  return { chatId, messageId };
}

const DECIDED_AT = '2030-01-02T03:04:05.678Z';

const decision = (call: Call, d: Partial<ToolDecision> & Pick<ToolDecision, 'decision'>): ToolDecision => ({
  callId: call.id,
  toolName: call.name,
  reason: null,
  decidedBy: null,
  decidedAt: DECIDED_AT,
  ...d,
});

/** The one tool-result part of the `tool` message of call `callId` in step 0 of turn 1, or undefined. */
async function notRunResult(chatId: string, callId: string, turn = 1): Promise<ChatMessagePart | undefined> {
  const message = await database.db
    .selectFrom('chat_messages')
    .selectAll()
    .where('chat_id', '=', chatId)
    .where('step_key', '=', stepKey(turn, 0, `tool.${callId}`))
    .executeTakeFirst();
  if (!message) return undefined;
  expect(message.role).toBe('tool');
  expect(message.turn).toBe(turn);
  const parts = decodeParts(message.content);
  expect(parts).toHaveLength(1);
  return parts[0];
}

describe('argsSha256', () => {
  it('hashes the RFC 8785 canonical JSON of the arguments, whatever their key order', () => {
    expect(argsSha256({ a: 1, b: 2 })).toBe(sha256('{"a":1,"b":2}'));
    expect(argsSha256({ b: 2, a: 1 })).toBe(argsSha256({ a: 1, b: 2 }));
    expect(argsSha256({ z: { y: [1, { d: true, c: null }] }, a: 'x' })).toBe(
      sha256('{"a":"x","z":{"y":[1,{"c":null,"d":true}]}}'),
    );
    expect(argsSha256({ a: 1 })).not.toBe(argsSha256({ a: 2 }));
  });

  it('hashes missing arguments as an empty object', () => {
    expect(argsSha256(undefined)).toBe(sha256('{}'));
    expect(argsSha256(null)).toBe(sha256('{}'));
  });
});

describe('requestToolApprovals', () => {
  it('records each call, moves the chat to requires_action and announces the calls', async () => {
    const calls: Call[] = [
      { id: 'call_exec', name: 'execute', args: { command: 'rm -rf build', b: 2, a: 1 } },
      { id: 'call_write', name: 'write_file', args: { path: 'x.txt', content: 'hello' } },
    ];
    const chatId = await newChat();
    const messageId = await assistantStep(chatId, 1, 0, calls);
    const seen = record(chatId);
    const before = Date.now();
    const result = await requestToolApprovals(deps, { chatId, turn: 1, step: 0, calls: asking(calls) });
    const after = Date.now();
    seen.stop();

    expect(result.status).toBe('ok');
    if (result.status !== 'ok') return;
    const rows = await rowsOf(chatId);
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => ({ ...r, requested_at: null, expires_at: null }))).toEqual([
      {
        chat_id: chatId,
        call_id: 'call_exec',
        root_chat_id: chatId,
        turn: 1,
        step: 0,
        message_id: expect.anything(),
        tool_name: 'execute',
        args_sha256: argsSha256({ a: 1, b: 2, command: 'rm -rf build' }),
        requested_at: null,
        expires_at: null,
        decision: null,
        reason: null,
        decided_by: null,
        decided_at: null,
      },
      {
        chat_id: chatId,
        call_id: 'call_write',
        root_chat_id: chatId,
        turn: 1,
        step: 0,
        message_id: expect.anything(),
        tool_name: 'write_file',
        args_sha256: argsSha256({ content: 'hello', path: 'x.txt' }),
        requested_at: null,
        expires_at: null,
        decision: null,
        reason: null,
        decided_by: null,
        decided_at: null,
      },
    ]);
    expect(rows.map((r) => Number(r.message_id))).toEqual([messageId, messageId]);
    // The hash is that of the canonical JSON, not of the order the model wrote the keys in.
    expect(rows[0]!.args_sha256).toBe(sha256('{"a":1,"b":2,"command":"rm -rf build"}'));
    for (const row of rows) {
      expect(row.expires_at.getTime()).toBeGreaterThanOrEqual(before + TIMEOUT_MS);
      expect(row.expires_at.getTime()).toBeLessThanOrEqual(after + TIMEOUT_MS);
    }
    expect(result.expiresAt).toBe(rows[0]!.expires_at.toISOString());
    expect(result.waitMs).toBeGreaterThan(TIMEOUT_MS - 60_000);
    expect(result.waitMs).toBeLessThanOrEqual(TIMEOUT_MS);

    expect((await chatRow(chatId)).status).toBe('requires_action');
    const events = seen.events[chatId]!;
    expect(ofType(events, 'status')).toEqual([
      { type: 'status', chat_id: chatId, status: 'requires_action', order: { turn: 1 } },
    ]);
    // The status comes first: a client sees the chat waiting before the prompts.
    expect(events[0]!.type).toBe('status');
    const required = ofType(events, 'action_required');
    expect(required.map((e) => e.chat_id)).toEqual([chatId, chatId]);
    expect(required.map((e) => e.approval).sort((x, y) => x.call_id.localeCompare(y.call_id))).toEqual([
      {
        chat_id: chatId,
        root_chat_id: chatId,
        call_id: 'call_exec',
        tool_name: 'execute',
        turn: 1,
        step: 0,
        message_id: messageId,
        args_sha256: rows[0]!.args_sha256,
        requested_at: rows[0]!.requested_at.toISOString(),
        expires_at: rows[0]!.expires_at.toISOString(),
        decision: null,
        reason: null,
        decided_by: null,
        decided_at: null,
        args: { command: 'rm -rf build', a: 1, b: 2 },
      },
      {
        chat_id: chatId,
        root_chat_id: chatId,
        call_id: 'call_write',
        tool_name: 'write_file',
        turn: 1,
        step: 0,
        message_id: messageId,
        args_sha256: rows[1]!.args_sha256,
        requested_at: rows[1]!.requested_at.toISOString(),
        expires_at: rows[1]!.expires_at.toISOString(),
        decision: null,
        reason: null,
        decided_by: null,
        decided_at: null,
        args: { path: 'x.txt', content: 'hello' },
      },
    ]);
    expect(seen.watch).toEqual([
      {
        kind: 'status_change',
        chat: {
          id: chatId,
          status: 'requires_action',
          title: expect.any(String),
          parent_chat_id: null,
          archived: false,
        },
      },
    ]);
  });

  it('hashes the same arguments the same whatever their key order', async () => {
    const calls: Call[] = [
      { id: 'call_ab', name: 'execute', args: { a: 1, b: 2 } },
      { id: 'call_ba', name: 'execute', args: { b: 2, a: 1 } },
    ];
    const { chatId } = await waitingChat(calls);
    const rows = await rowsOf(chatId);
    expect(rows.map((r) => r.args_sha256)).toEqual([sha256('{"a":1,"b":2}'), sha256('{"a":1,"b":2}')]);
  });

  it('when retried inserts nothing new, keeps the first expiry and does not announce the status again', async () => {
    const calls: Call[] = [{ id: 'call_retry', name: 'execute', args: { command: 'ls' } }];
    const { chatId } = await waitingChat(calls);
    const first = await rowsOf(chatId);
    const seen = record(chatId);
    // A later attempt, even one configured with another timeout, keeps what the first one wrote.
    const retried = await requestToolApprovals(
      { ...deps, approvalTimeoutMs: TIMEOUT_MS * 2 },
      { chatId, turn: 1, step: 0, calls: asking(calls) },
    );
    seen.stop();
    expect(await rowsOf(chatId)).toEqual(first);
    expect(retried).toEqual({
      status: 'ok',
      waitMs: expect.any(Number),
      expiresAt: first[0]!.expires_at.toISOString(),
    });
    if (retried.status === 'ok') expect(retried.waitMs).toBeLessThanOrEqual(TIMEOUT_MS);
    expect((await chatRow(chatId)).status).toBe('requires_action');
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([]);
    expect(seen.watch).toEqual([]);
    // Whatever it announces again says the same expiry.
    for (const e of ofType(seen.events[chatId]!, 'action_required')) {
      expect(e.approval.expires_at).toBe(first[0]!.expires_at.toISOString());
    }
  });

  it('adds the calls of a later step without touching the earlier ones', async () => {
    const { chatId } = await waitingChat([{ id: 'call_s0', name: 'execute', args: {} }]);
    const [earlier] = await rowsOf(chatId);
    await assistantStep(chatId, 1, 1, [{ id: 'call_s1', name: 'write_file', args: { path: 'p' } }]);
    const result = await requestToolApprovals(deps, {
      chatId,
      turn: 1,
      step: 1,
      calls: [{ id: 'call_s1', name: 'write_file', approval: 'ask' }],
    });
    expect(result.status).toBe('ok');
    const rows = await rowsOf(chatId);
    expect(rows.map((r) => [r.call_id, r.step, r.tool_name])).toEqual([
      ['call_s0', 0, 'execute'],
      ['call_s1', 1, 'write_file'],
    ]);
    expect(rows[0]).toEqual(earlier);
  });

  it('writes and announces nothing when the chat moved on to another turn', async () => {
    const calls: Call[] = [{ id: 'call_fenced', name: 'execute', args: { command: 'ls' } }];
    const chatId = await newChat({ turn: 1 });
    await assistantStep(chatId, 1, 0, calls);
    // An edit moved the chat to turn 2 after the step stored its message.
    await database.db.updateTable('chats').set({ turn: 2, status: 'pending' }).where('id', '=', chatId).execute();
    const seen = record(chatId);
    const result = await requestToolApprovals(deps, { chatId, turn: 1, step: 0, calls: asking(calls) });
    seen.stop();
    expect(result).toEqual({ status: 'fenced' });
    expect(await rowsOf(chatId)).toEqual([]);
    expect((await chatRow(chatId)).status).toBe('pending');
    expect(seen.events[chatId]).toEqual([]);
    expect(seen.watch).toEqual([]);
  });

  it('is fenced when the step’s message is gone or the chat does not exist', async () => {
    const chatId = await newChat();
    const calls = asking([{ id: 'call_nomsg', name: 'execute', args: {} }]);
    expect(await requestToolApprovals(deps, { chatId, turn: 1, step: 0, calls })).toEqual({ status: 'fenced' });
    expect(await rowsOf(chatId)).toEqual([]);
    expect((await chatRow(chatId)).status).toBe('running');
    expect(
      await requestToolApprovals(deps, { chatId: '00000000-0000-4000-8000-000000000000', turn: 1, step: 0, calls }),
    ).toEqual({ status: 'fenced' });
  });

  /**
   * An interrupt commits `waiting` before it signals the workflow, so a request may arrive after it: it
   * records the calls (the workflow's stop denies them next) but must not move the stopped chat back to
   * a busy status.
   */
  it('leaves an interrupted chat waiting, and the stopped denial then answers the calls', async () => {
    const calls: Call[] = [{ id: 'call_stopped', name: 'execute', args: { command: 'ls' } }];
    const chatId = await newChat({ status: 'waiting' });
    await assistantStep(chatId, 1, 0, calls);
    const seen = record(chatId);
    expect((await requestToolApprovals(deps, { chatId, turn: 1, step: 0, calls: asking(calls) })).status).toBe('ok');
    expect((await chatRow(chatId)).status).toBe('waiting');
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([]);
    expect(seen.watch).toEqual([]);

    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(calls[0]!, { decision: 'denied', stopped: true })],
      settled: true,
    });
    seen.stop();
    expect((await rowsOf(chatId)).map((r) => [r.decision, r.reason])).toEqual([
      ['denied', 'the user interrupted the turn'],
    ]);
    expect((await chatRow(chatId)).status).toBe('waiting');
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([]);
    expect(JSON.stringify((await notRunResult(chatId, 'call_stopped'))!.result)).toContain('interrupted');
  });

  /**
   * `requested_at` and `expires_at` say how long the user had: they must come from one clock. The expiry
   * is the worker's clock plus the timeout (the workflow waits from it); a request time taken from the
   * database's clock (`now()`, at the transaction's start) makes the window differ from the timeout by
   * the time between the two readings and by any skew between the hosts. The worker's clock is set 30 s
   * behind here to make that skew visible (without it the pair is off by about a millisecond, sometimes).
   */
  it('records the request time and the expiry from one clock, exactly the timeout apart', async () => {
    const calls: Call[] = [{ id: 'call_clock', name: 'execute', args: {} }];
    const chatId = await newChat();
    await assistantStep(chatId, 1, 0, calls);
    const workerNow = Date.now() - 30_000;
    // Only the clock is faked (and stands still): timers, ticks and I/O run as usual.
    jest.useFakeTimers({
      now: workerNow,
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'requestAnimationFrame',
        'cancelAnimationFrame',
        'requestIdleCallback',
        'cancelIdleCallback',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    let result: Awaited<ReturnType<typeof requestToolApprovals>>;
    try {
      result = await requestToolApprovals(deps, { chatId, turn: 1, step: 0, calls: asking(calls) });
    } finally {
      jest.useRealTimers();
    }
    expect(result).toEqual({
      status: 'ok',
      waitMs: TIMEOUT_MS,
      expiresAt: new Date(workerNow + TIMEOUT_MS).toISOString(),
    });
    const [row] = await rowsOf(chatId);
    expect(row!.expires_at.getTime()).toBe(workerNow + TIMEOUT_MS);
    expect(row!.expires_at.getTime() - row!.requested_at.getTime()).toBe(TIMEOUT_MS);
  });

  it('leaves large arguments out of action_required', async () => {
    const calls: Call[] = [
      { id: 'call_big', name: 'write_file', args: { path: 'big.txt', content: 'x'.repeat(5000) } },
      // Over 4 KiB in UTF-8 bytes though under 4,096 characters.
      { id: 'call_wide', name: 'write_file', args: { content: 'é'.repeat(2100) } },
      // Exactly 4,096 bytes of JSON: still sent.
      { id: 'call_edge', name: 'write_file', args: { content: 'y'.repeat(4096 - '{"content":""}'.length) } },
      { id: 'call_small', name: 'execute', args: { command: 'ls' } },
    ];
    const chatId = await newChat();
    await assistantStep(chatId, 1, 0, calls);
    const seen = record(chatId);
    await requestToolApprovals(deps, { chatId, turn: 1, step: 0, calls: asking(calls) });
    seen.stop();
    const byId = new Map(ofType(seen.events[chatId]!, 'action_required').map((e) => [e.approval.call_id, e.approval]));
    expect(byId.size).toBe(4);
    expect(byId.get('call_big')).toMatchObject({ args: null, args_omitted: true, tool_name: 'write_file' });
    expect(byId.get('call_wide')).toMatchObject({ args: null, args_omitted: true });
    expect(byId.get('call_edge')!.args).toEqual(calls[2]!.args);
    expect(byId.get('call_edge')).not.toHaveProperty('args_omitted');
    expect(byId.get('call_small')!.args).toEqual({ command: 'ls' });
    expect(byId.get('call_small')).not.toHaveProperty('args_omitted');
    // The hash covers the arguments left out too.
    const rows = await rowsOf(chatId);
    expect(rows.find((r) => r.call_id === 'call_big')!.args_sha256).toBe(argsSha256(calls[0]!.args));
    expect(byId.get('call_big')!.args_sha256).toBe(argsSha256(calls[0]!.args));
  });

  it('announces a sub-agent’s call on its own stream and on its root chat’s', async () => {
    const rootId = await newChat();
    const parentId = await newChat({ parent: rootId, root: rootId });
    const childId = await newChat({ parent: parentId, root: rootId });
    const calls: Call[] = [{ id: 'call_sub', name: 'execute', args: { command: 'make' } }];
    await assistantStep(childId, 1, 0, calls);
    const seen = record(rootId, parentId, childId);
    const result = await requestToolApprovals(deps, { chatId: childId, turn: 1, step: 0, calls: asking(calls) });
    seen.stop();
    expect(result.status).toBe('ok');

    const [row] = await rowsOf(childId);
    expect(row).toMatchObject({ chat_id: childId, root_chat_id: rootId, call_id: 'call_sub' });
    const own = ofType(seen.events[childId]!, 'action_required');
    const onRoot = ofType(seen.events[rootId]!, 'action_required');
    expect(own).toHaveLength(1);
    expect(onRoot).toHaveLength(1);
    expect(own[0]).toMatchObject({ chat_id: childId, approval: { chat_id: childId, root_chat_id: rootId } });
    expect(onRoot[0]).toMatchObject({ chat_id: rootId, approval: { chat_id: childId, root_chat_id: rootId } });
    expect(onRoot[0]!.approval).toEqual(own[0]!.approval);
    expect(own[0]!.approval.args).toEqual({ command: 'make' });
    // The intermediate parent is not the root: its stream shows nothing.
    expect(seen.events[parentId]).toEqual([]);
    // Only the sub-agent waits.
    expect((await chatRow(childId)).status).toBe('requires_action');
    expect((await chatRow(rootId)).status).toBe('running');
    expect(ofType(seen.events[childId]!, 'status')).toEqual([
      { type: 'status', chat_id: childId, status: 'requires_action', order: { turn: 1 } },
    ]);
    expect(ofType(seen.events[rootId]!, 'status')).toEqual([]);
    expect(seen.watch).toEqual([
      {
        kind: 'status_change',
        chat: expect.objectContaining({ id: childId, status: 'requires_action', parent_chat_id: parentId }),
      },
    ]);
  });
});

describe('recordToolDecisions', () => {
  const exec: Call = { id: 'call_exec', name: 'execute', args: { command: 'rm -rf /tmp/x' } };
  const write: Call = { id: 'call_write', name: 'write_file', args: { path: 'a', content: 'b' } };

  it('records a denial with its reason and answers the call with it', async () => {
    const { chatId } = await waitingChat([exec, write]);
    const seen = record(chatId);
    const result = await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'denied', reason: 'not on my machine', decidedBy: deciderId })],
      settled: false,
    });
    seen.stop();
    expect(result).toEqual({ status: 'ok' });

    const [execRow, writeRow] = await rowsOf(chatId);
    expect(execRow).toMatchObject({
      decision: 'denied',
      reason: 'not on my machine',
      decided_by: deciderId,
      decided_at: new Date(DECIDED_AT),
    });
    expect(writeRow).toMatchObject({ decision: null, reason: null, decided_by: null, decided_at: null });

    const part = await notRunResult(chatId, exec.id);
    expect(part).toMatchObject({
      type: 'tool-result',
      tool_call_id: exec.id,
      tool_name: 'execute',
      is_error: true,
      result: { error: expect.stringContaining('not on my machine') },
    });
    expect((part!.result as { error: string }).error).toMatch(/denied/);
    // The call still waiting has no result yet.
    expect(await notRunResult(chatId, write.id)).toBeUndefined();

    // Something still waits: the chat stays requires_action.
    expect((await chatRow(chatId)).status).toBe('requires_action');
    const events = seen.events[chatId]!;
    expect(ofType(events, 'status')).toEqual([]);
    expect(ofType(events, 'action_decided')).toEqual([
      {
        type: 'action_decided',
        chat_id: chatId,
        approval: expect.objectContaining({
          chat_id: chatId,
          call_id: exec.id,
          tool_name: 'execute',
          decision: 'denied',
          reason: 'not on my machine',
          decided_by: deciderId,
          decided_at: DECIDED_AT,
        }),
      },
    ]);
    expect(ofType(events, 'message').map((e) => e.message.role)).toEqual(['tool']);
  });

  it('says a denial without a reason was the user’s', async () => {
    const { chatId } = await waitingChat([exec]);
    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'denied', decidedBy: deciderId })],
      settled: true,
    });
    const part = await notRunResult(chatId, exec.id);
    expect(part).toMatchObject({ is_error: true, result: { error: expect.stringMatching(/user denied/) } });
  });

  it('moves the chat back to running, with a status event, once nothing waits', async () => {
    const { chatId } = await waitingChat([exec, write]);
    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'denied', decidedBy: deciderId })],
      settled: false,
    });
    const seen = record(chatId);
    const result = await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(write, { decision: 'approved', decidedBy: deciderId })],
      settled: true,
    });
    seen.stop();
    expect(result).toEqual({ status: 'ok' });
    expect((await chatRow(chatId)).status).toBe('running');
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([
      { type: 'status', chat_id: chatId, status: 'running', order: { turn: 1 } },
    ]);
    expect(seen.watch).toEqual([
      { kind: 'status_change', chat: expect.objectContaining({ id: chatId, status: 'running' }) },
    ]);
    expect((await rowsOf(chatId)).find((r) => r.call_id === write.id)).toMatchObject({
      decision: 'approved',
      decided_by: deciderId,
      reason: null,
    });
    // An approved call runs: it is not answered here.
    expect(await notRunResult(chatId, write.id)).toBeUndefined();
    expect(ofType(seen.events[chatId]!, 'message')).toEqual([]);
    expect(ofType(seen.events[chatId]!, 'action_decided').map((e) => e.approval.decision)).toEqual(['approved']);
  });

  it('answers an expired call saying nobody approved it in time', async () => {
    const { chatId } = await waitingChat([exec]);
    const result = await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'expired', reason: `no decision by ${DECIDED_AT}` })],
      settled: true,
    });
    expect(result).toEqual({ status: 'ok' });
    const [row] = await rowsOf(chatId);
    expect(row).toMatchObject({ decision: 'expired', decided_by: null, reason: `no decision by ${DECIDED_AT}` });
    const part = await notRunResult(chatId, exec.id);
    expect(part).toMatchObject({ is_error: true, tool_name: 'execute' });
    expect((part!.result as { error: string }).error).toMatch(/nobody approved this tool call in time/);
    expect((await chatRow(chatId)).status).toBe('running');
  });

  it('says the user interrupted the turn for calls denied as stopped', async () => {
    const { chatId } = await waitingChat([exec, write]);
    // The interrupt wrote `waiting` before the workflow denied the calls.
    await database.db.updateTable('chats').set({ status: 'waiting' }).where('id', '=', chatId).execute();
    const seen = record(chatId);
    const result = await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [exec, write].map((c) => decision(c, { decision: 'denied', stopped: true, reason: 'ignored' })),
      settled: true,
    });
    seen.stop();
    expect(result).toEqual({ status: 'ok' });
    const rows = await rowsOf(chatId);
    expect(rows.map((r) => [r.decision, r.reason, r.decided_by])).toEqual([
      ['denied', 'the user interrupted the turn', null],
      ['denied', 'the user interrupted the turn', null],
    ]);
    for (const call of [exec, write]) {
      const part = await notRunResult(chatId, call.id);
      expect(part).toMatchObject({ is_error: true, tool_call_id: call.id });
      expect((part!.result as { error: string }).error).toContain('the user interrupted the turn');
    }
    // `settled` only moves a chat that still waits for approval: the interrupt's `waiting` stays.
    expect((await chatRow(chatId)).status).toBe('waiting');
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([]);
    expect(ofType(seen.events[chatId]!, 'action_decided')).toHaveLength(2);
  });

  it('says the chat was archived for calls denied as stopped in an archived chat', async () => {
    const { chatId } = await waitingChat([exec]);
    await database.db
      .updateTable('chats')
      .set({ archived: true, status: 'waiting' })
      .where('id', '=', chatId)
      .execute();
    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'denied', stopped: true })],
      settled: true,
    });
    const [row] = await rowsOf(chatId);
    expect(row).toMatchObject({ decision: 'denied', reason: 'the chat was archived', decided_by: null });
    const part = await notRunResult(chatId, exec.id);
    expect((part!.result as { error: string }).error).toContain('the chat was archived');
  });

  it('says the conversation was edited when the chat moved on, and stores no result in the old turn', async () => {
    const { chatId } = await waitingChat([exec]);
    await database.db.updateTable('chats').set({ turn: 2, status: 'pending' }).where('id', '=', chatId).execute();
    const seen = record(chatId);
    const result = await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'denied', stopped: true })],
      settled: true,
    });
    seen.stop();
    expect(result).toEqual({ status: 'fenced' });
    const [row] = await rowsOf(chatId);
    expect(row).toMatchObject({ decision: 'denied', reason: 'the conversation was edited' });
    expect(await toolMessages(chatId)).toEqual([]);
    // The new turn's status is left alone.
    expect((await chatRow(chatId)).status).toBe('pending');
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([]);
    expect(ofType(seen.events[chatId]!, 'action_decided')).toHaveLength(1);
  });

  it('grants an approved_always tool for the rest of the chat, once', async () => {
    const exec2: Call = { id: 'call_exec2', name: 'execute', args: { command: 'pwd' } };
    const { chatId } = await waitingChat([exec, exec2, write], { granted: ['read_file'] });
    const seen = record(chatId);
    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [
        decision(exec, { decision: 'approved_always', decidedBy: deciderId }),
        // The workflow approves the tool's other waiting calls with it.
        decision(exec2, {
          decision: 'approved',
          decidedBy: deciderId,
          reason: `approved for the rest of the chat with call ${exec.id}`,
        }),
      ],
      settled: false,
    });
    seen.stop();
    expect([...(await chatRow(chatId)).tool_approval_granted].sort()).toEqual(['execute', 'read_file']);
    expect((await chatRow(chatId)).status).toBe('requires_action');
    expect(ofType(seen.events[chatId]!, 'action_decided').map((e) => e.approval.decision)).toEqual([
      'approved_always',
      'approved',
    ]);
    // Approved calls run: nothing is answered for them here.
    expect(await toolMessages(chatId)).toEqual([]);

    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(write, { decision: 'approved_always', decidedBy: deciderId })],
      settled: true,
    });
    // A later approved_always of a tool already granted (another step's call) adds no duplicate.
    await assistantStep(chatId, 1, 1, [{ id: 'call_exec3', name: 'execute', args: {} }]);
    await requestToolApprovals(deps, {
      chatId,
      turn: 1,
      step: 1,
      calls: [{ id: 'call_exec3', name: 'execute', approval: 'ask' }],
    });
    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 1,
      decisions: [decision({ id: 'call_exec3', name: 'execute', args: {} }, { decision: 'approved_always' })],
      settled: true,
    });
    const chat = await chatRow(chatId);
    expect([...chat.tool_approval_granted].sort()).toEqual(['execute', 'read_file', 'write_file']);
    expect(chat.status).toBe('running');
    expect((await rowsOf(chatId)).map((r) => [r.call_id, r.step, r.decision])).toEqual([
      ['call_exec', 0, 'approved_always'],
      ['call_exec2', 0, 'approved'],
      ['call_exec3', 1, 'approved_always'],
      ['call_write', 0, 'approved_always'],
    ]);
  });

  /** Some providers number their call ids per response, so a later step may reuse an id. */
  it('keeps a call id reused by a later step apart from the earlier call', async () => {
    const again: Call = { id: exec.id, name: 'write_file', args: { path: 'later' } };
    const { chatId } = await waitingChat([exec]);
    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'denied', reason: 'no', decidedBy: deciderId })],
      settled: true,
    });
    await assistantStep(chatId, 1, 1, [again]);
    const requested = await requestToolApprovals(deps, { chatId, turn: 1, step: 1, calls: asking([again]) });
    expect(requested.status).toBe('ok');
    expect((await chatRow(chatId)).status).toBe('requires_action');
    let rows = await rowsOf(chatId);
    expect(rows.map((r) => [r.step, r.tool_name, r.decision, r.args_sha256])).toEqual([
      [0, 'execute', 'denied', argsSha256(exec.args)],
      [1, 'write_file', null, argsSha256(again.args)],
    ]);

    await recordToolDecisions(deps, {
      chatId,
      turn: 1,
      step: 1,
      decisions: [decision(again, { decision: 'expired', reason: 'late' })],
      settled: true,
    });
    rows = await rowsOf(chatId);
    expect(rows.map((r) => [r.step, r.decision, r.reason])).toEqual([
      [0, 'denied', 'no'],
      [1, 'expired', 'late'],
    ]);
    // Each step's call has its own answer.
    expect(JSON.stringify((await notRunResult(chatId, exec.id))!.result)).toContain('the user denied');
    const later = await database.db
      .selectFrom('chat_messages')
      .select('content')
      .where('chat_id', '=', chatId)
      .where('step_key', '=', stepKey(1, 1, `tool.${exec.id}`))
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(decodeParts(later.content)[0]!.result)).toContain('nobody approved this tool call in time');
  });

  it('changes nothing when retried, and never overwrites a decision with another', async () => {
    const { chatId } = await waitingChat([exec, write]);
    const input = {
      chatId,
      turn: 1,
      step: 0,
      decisions: [
        decision(exec, { decision: 'denied', reason: 'first reason', decidedBy: deciderId }),
        decision(write, { decision: 'approved_always', decidedBy: deciderId }),
      ],
      settled: true,
    };
    expect(await recordToolDecisions(deps, input)).toEqual({ status: 'ok' });
    const rows = await rowsOf(chatId);
    const chat = await chatRow(chatId);
    const messages = await toolMessages(chatId);
    expect(messages).toHaveLength(1);

    const seen = record(chatId);
    // The same activity again (a retry after a lost completion).
    expect(await recordToolDecisions(deps, input)).toEqual({ status: 'ok' });
    // Another decision on the same calls (an expiry racing the user's answer).
    expect(
      await recordToolDecisions(deps, {
        chatId,
        turn: 1,
        step: 0,
        decisions: [
          decision(exec, { decision: 'expired', reason: 'no decision by then', decidedAt: '2031-01-01T00:00:00.000Z' }),
          decision(write, { decision: 'approved', decidedBy: ownerId, decidedAt: '2031-01-01T00:00:00.000Z' }),
        ],
        settled: true,
      }),
    ).toEqual({ status: 'ok' });
    seen.stop();

    expect(await rowsOf(chatId)).toEqual(rows);
    const after = await chatRow(chatId);
    expect(after.tool_approval_granted).toEqual(chat.tool_approval_granted);
    expect(after.tool_approval_granted).toEqual(['write_file']);
    expect(after.status).toBe('running');
    // The answer stored first stands: one message, with the user's reason.
    const stored = await toolMessages(chatId);
    expect(stored.map((m) => m.id)).toEqual(messages.map((m) => m.id));
    expect(decodeParts(stored[0]!.content)[0]!.result).toEqual(decodeParts(messages[0]!.content)[0]!.result);
    expect(JSON.stringify(decodeParts(stored[0]!.content)[0]!.result)).toContain('first reason');
    // Nothing was decided again, and the chat did not change.
    expect(ofType(seen.events[chatId]!, 'action_decided')).toEqual([]);
    expect(ofType(seen.events[chatId]!, 'status')).toEqual([]);
    expect(seen.watch).toEqual([]);
  });

  it('announces a sub-agent’s decision on its root chat’s stream too', async () => {
    const rootId = await newChat();
    const childId = await newChat({ parent: rootId, root: rootId });
    await assistantStep(childId, 1, 0, [exec]);
    await requestToolApprovals(deps, { chatId: childId, turn: 1, step: 0, calls: asking([exec]) });
    const seen = record(rootId, childId);
    await recordToolDecisions(deps, {
      chatId: childId,
      turn: 1,
      step: 0,
      decisions: [decision(exec, { decision: 'approved', decidedBy: ownerId })],
      settled: true,
    });
    seen.stop();
    const own = ofType(seen.events[childId]!, 'action_decided');
    const onRoot = ofType(seen.events[rootId]!, 'action_decided');
    expect(own).toEqual([
      {
        type: 'action_decided',
        chat_id: childId,
        approval: expect.objectContaining({ chat_id: childId, root_chat_id: rootId, decision: 'approved' }),
      },
    ]);
    expect(onRoot).toEqual([{ type: 'action_decided', chat_id: rootId, approval: own[0]!.approval }]);
    expect((await chatRow(childId)).status).toBe('running');
  });
});

describe('the model step marks the calls that wait', () => {
  let fake: FakeLlmServer;
  let turnDeps: TurnDeps;
  let stepModelConfigId: string;
  let toolSet: ChatToolSet;
  const secrets = new SecretBox(SecretBox.generateKeyEntry('t'));

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    const { db } = database;
    const sealed = sealProviderKey(secrets, 'sk-test', fake.openaiBaseUrl);
    // The one OpenAI provider (the unused model config's) now points at the fake.
    const providerId = (
      await db
        .updateTable('chat_providers')
        .set({
          base_url: fake.openaiBaseUrl,
          api_mode: 'chat',
          api_key_ciphertext: sealed.ciphertext,
          api_key_key_id: sealed.keyId,
          api_key_base_url: sealed.baseUrl,
        })
        .where('provider', '=', 'openai')
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    stepModelConfigId = (
      await db
        .insertInto('chat_model_configs')
        .values({
          provider_id: providerId,
          model: 'fake-model',
          context_limit: 100_000,
          options: JSON.stringify({}),
          created_by: null,
          updated_by: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
    turnDeps = {
      db,
      bus,
      models: new ModelResolver(
        db,
        secrets,
        { openai: { apiKey: undefined, baseUrl: undefined }, anthropic: { apiKey: undefined, baseUrl: undefined } },
        'chatd/test',
      ),
      settings: new StepSettingsCache(db),
      log: createLogger('silent', 'test'),
      maxSteps: 10,
      approvalTimeoutMs: TIMEOUT_MS,
      maxRunningTurnsPerUser: 0,
      chatTools: async () => toolSet,
    };
  });

  beforeEach(() => {
    toolSet = { specs: [], notes: [], approval: () => undefined };
  });

  afterAll(async () => {
    await fake?.close();
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'auto', tools: {} });
  });

  /** A pending chat of the fake model with a user message, ready for step 0 of turn 1. */
  async function pendingChat(settings: { ask?: string[]; granted?: string[] } = {}): Promise<string> {
    const chatId = await newChat({ status: 'pending', modelConfig: stepModelConfigId, ...settings });
    await database.db
      .insertInto('chat_messages')
      .values(
        messageRow({
          chatId,
          turn: 1,
          role: 'user',
          content: [{ type: 'text', text: 'do it' }],
          modelConfigId: stepModelConfigId,
          createdBy: ownerId,
        }),
      )
      .execute();
    return chatId;
  }

  /** Step 0 of turn 1 in which the model calls `names` (call ids `call_<name>`); the calls it reports. */
  async function stepCalling(chatId: string, names: string[]): Promise<ToolCallSummary[]> {
    fake.enqueue(toolCalls(names.map((name) => ({ id: `call_${name}`, name, args: { x: 1 } }))));
    const result = await runModelStep(
      turnDeps,
      { chatId, turn: 1, step: 0 },
      { signal: new AbortController().signal, attempt: 1 },
    );
    expect(result.status).toBe('ok');
    return result.status === 'ok' ? result.toolCalls : [];
  }

  it('asks about the tools the admin’s site policy asks about, and only those', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'auto', tools: { execute: 'ask' } });
    const chatId = await pendingChat();
    const calls = await stepCalling(chatId, ['execute', 'read_file']);
    expect(calls).toStrictEqual([
      { id: 'call_execute', name: 'execute', approval: 'ask' },
      { id: 'call_read_file', name: 'read_file' },
    ]);

    // A retry whose earlier attempt committed the step rebuilds the same marks from the stored message.
    const retried = await runModelStep(
      turnDeps,
      { chatId, turn: 1, step: 0 },
      { signal: new AbortController().signal, attempt: 2 },
    );
    expect(retried.status === 'ok' && retried.toolCalls).toStrictEqual(calls);
  });

  it('gives a repeated call id one policy, the first call’s: a second call cannot ride on it', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'auto', tools: { execute: 'ask' } });
    // As a hostile model would try: an auto call first, then an `ask` call under the same id, and the reverse.
    for (const [first, second] of [
      ['read_file', 'execute'],
      ['execute', 'read_file'],
    ] as const) {
      const chatId = await pendingChat();
      fake.enqueue(
        toolCalls([
          { id: 'call_dup', name: first, args: { path: 'a' } },
          { id: 'call_dup', name: second, args: { command: 'curl http://127.0.0.1:1/' } },
        ]),
      );
      const result = await runModelStep(
        turnDeps,
        { chatId, turn: 1, step: 0 },
        { signal: new AbortController().signal, attempt: 1 },
      );
      expect(result.status === 'ok' && result.toolCalls).toStrictEqual([
        first === 'execute' ? { id: 'call_dup', name: 'execute', approval: 'ask' } : { id: 'call_dup', name: first },
      ]);
      // The tool step runs the first call of each id only: the second never runs, approved or not.
      const [stored] = await database.db
        .selectFrom('chat_messages')
        .select('content')
        .where('chat_id', '=', chatId)
        .where('role', '=', 'assistant')
        .execute();
      expect(localToolCalls(decodeParts(stored!.content), new Set()).map((c) => c.name)).toEqual([first]);
    }
  });

  it('applies a policy change from the next step', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'auto', tools: { execute: 'ask' } });
    expect(await stepCalling(await pendingChat(), ['execute'])).toStrictEqual([
      { id: 'call_execute', name: 'execute', approval: 'ask' },
    ]);
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'ask', tools: { read_file: 'auto' } });
    expect(await stepCalling(await pendingChat(), ['execute', 'read_file', 'spawn_agent'])).toStrictEqual([
      { id: 'call_execute', name: 'execute', approval: 'ask' },
      { id: 'call_read_file', name: 'read_file' },
      { id: 'call_spawn_agent', name: 'spawn_agent' },
    ]);
  });

  it('asks about every tool but the sub-agent tools in a chat that asks for *', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'auto', tools: {} });
    const chatId = await pendingChat({ ask: ['*'] });
    expect(await stepCalling(chatId, ['execute', 'read_file', 'spawn_agent', 'wait_agent'])).toStrictEqual([
      { id: 'call_execute', name: 'execute', approval: 'ask' },
      { id: 'call_read_file', name: 'read_file', approval: 'ask' },
      { id: 'call_spawn_agent', name: 'spawn_agent' },
      { id: 'call_wait_agent', name: 'wait_agent' },
    ]);
  });

  it('runs a tool granted for the rest of the chat at once, even when the admin asks about it', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, {
      default: 'auto',
      tools: { execute: 'ask', write_file: 'ask' },
    });
    const chatId = await pendingChat({ granted: ['execute'] });
    expect(await stepCalling(chatId, ['execute', 'write_file'])).toStrictEqual([
      { id: 'call_execute', name: 'execute' },
      { id: 'call_write_file', name: 'write_file', approval: 'ask' },
    ]);
  });

  it('uses the MCP server’s policy for its tools instead of the built-in policy', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'ask', tools: {} });
    toolSet = {
      specs: [],
      notes: [],
      approval: (name) => ({ srv__search: 'auto' as const, srv__delete: 'ask' as const })[name],
    };
    const chatId = await pendingChat();
    expect(await stepCalling(chatId, ['srv__search', 'srv__delete', 'execute'])).toStrictEqual([
      { id: 'call_srv__search', name: 'srv__search' },
      { id: 'call_srv__delete', name: 'srv__delete', approval: 'ask' },
      { id: 'call_execute', name: 'execute', approval: 'ask' },
    ]);
  });

  it('reads a malformed site policy as every tool auto', async () => {
    await putSiteConfig(database.db, TOOL_APPROVAL_KEY, { default: 'sometimes', tools: ['execute'] });
    expect(await stepCalling(await pendingChat(), ['execute'])).toStrictEqual([
      { id: 'call_execute', name: 'execute' },
    ]);
  });
});
