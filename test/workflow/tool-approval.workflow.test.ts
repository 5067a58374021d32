/**
 * Tool calls that wait for the user's approval (workflows/approvals.ts), against typed mock activities on
 * the time-skipping server: which calls run at once and which wait, the 24 h expiry as a durable timer
 * that elapses without waiting a day, the `decide-tool-call` update (approve, deny, approve_always) and
 * its validator (a call not waiting is refused with `ToolCallNotWaiting`), decisions and interrupts while
 * the approval request is still being recorded, and interrupts while calls wait or run (the latter two on
 * the dev server, see `dev`). No database: only the workflow's decisions and the activity inputs they produce.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { StepInput } from '../../src/turn/deps';
import type { FinishInput } from '../../src/turn/finish-turn';
import type { StepSummary, ToolCallSummary } from '../../src/turn/model-step';
import type { ToolDecision } from '../../src/turn/tool-approvals';
import { chatWorkflow } from '../../workflows';
import {
  decideToolCallUpdate,
  interruptSignal,
  TOOL_CALL_NOT_WAITING,
  type ToolCallDecisionInput,
} from '../../workflows/messages';
import { mockActivities, okStep, turnOptions, withWorker } from '../support/chat-workflow';
import { connectDevServer, createTimeSkippingEnv } from '../support/temporal';
import { waitUntil } from '../support/wait';

const DAY_MS = 24 * 60 * 60 * 1000;
const USER = 'user-1';

type Handle = WorkflowHandle<typeof chatWorkflow>;
type Decisions = StepInput & { decisions: ToolDecision[]; settled: boolean };
type ToolsInput = StepInput & { callIds?: string[] };

/** A promise with its resolver, to let a test wait for (or hold) an activity. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Runs `body`, then opens `held` whatever happened: a held activity would keep the worker from shutting down. */
const releasing =
  <T>(held: { open: () => void }, body: (taskQueue: string) => Promise<T>) =>
  async (taskQueue: string): Promise<T> => {
    try {
      return await body(taskQueue);
    } finally {
      held.open();
    }
  };

/** Step 0 makes `calls`; step 1 answers and stops. */
const stepWith =
  (calls: ToolCallSummary[]) =>
  (input: StepInput): StepSummary =>
    input.step === 0
      ? { status: 'ok', finishReason: 'tool-calls', toolCalls: calls, continue: true, compaction: null }
      : okStep(false);

const ask = (id: string, name: string): ToolCallSummary => ({ id, name, approval: 'ask' });

/**
 * Mock activities that record their inputs. `hold` lets a test keep runTools or finishTurn open;
 * requestToolApprovals answers with the 24 h wait, expiring a day after the server's current time.
 */
function harness(
  env: TestWorkflowEnvironment,
  calls: ToolCallSummary[],
  hold: { runTools?: Promise<void>; finishTurn?: Promise<void> } = {},
) {
  const seen = {
    steps: [] as StepInput[],
    requests: [] as Array<StepInput & { calls: ToolCallSummary[] }>,
    decisions: [] as Decisions[],
    tools: [] as ToolsInput[],
    finishes: [] as FinishInput[],
    expiresAt: '',
  };
  const activities = mockActivities({
    runModelStep: async (input) => {
      seen.steps.push(input);
      return stepWith(calls)(input);
    },
    requestToolApprovals: async (input) => {
      seen.requests.push(input);
      seen.expiresAt = new Date((await env.currentTimeMs()) + DAY_MS).toISOString();
      return { status: 'ok', waitMs: DAY_MS, expiresAt: seen.expiresAt };
    },
    recordToolDecisions: async (input) => {
      seen.decisions.push(input);
      return { status: 'ok' };
    },
    runTools: async (input) => {
      seen.tools.push(input);
      await hold.runTools;
      return { status: 'ok', results: input.callIds?.length ?? 0 };
    },
    finishTurn: async (input) => {
      seen.finishes.push(input);
      await hold.finishTurn;
      return { nextTurn: null, status: 'waiting' };
    },
  });
  return { seen, activities };
}

/** Mock activities whose approval request is held until `release` opens; `order` lists what ran. */
function heldRequest(testEnv: TestWorkflowEnvironment, calls: ToolCallSummary[], release: Promise<void>) {
  const requesting = latch();
  const order: string[] = [];
  const { seen, activities } = harness(testEnv, calls);
  const { requestToolApprovals, recordToolDecisions, runTools, finishTurn } = activities;
  activities.requestToolApprovals = async (input) => {
    requesting.open();
    await release;
    const requested = await requestToolApprovals(input);
    order.push('requested');
    return requested;
  };
  activities.recordToolDecisions = async (input) => {
    order.push(`record ${input.decisions.map((d) => d.callId).join(',')}`);
    return recordToolDecisions(input);
  };
  activities.runTools = async (input) => {
    order.push(`run ${input.callIds?.join(',')}`);
    return runTools(input);
  };
  activities.finishTurn = async (input) => {
    order.push('finish');
    return finishTurn(input);
  };
  return { seen, activities, order, requesting: requesting.promise };
}

/** Waits until the run waits for decisions: the approval request is done and its timer started. */
async function waitingForDecisions(handle: Handle): Promise<void> {
  await waitUntil(
    async () => (await handle.fetchHistory()).events?.some((e) => e.timerStartedEventAttributes) ?? false,
    15_000,
    'the approval timer',
  );
}

/** Waits until the run has handled its signals: a workflow task completed after the last signal. */
async function signalsHandled(handle: Handle): Promise<void> {
  await waitUntil(
    async () => {
      const events = (await handle.fetchHistory()).events ?? [];
      const signalled = events.findLastIndex((e) => e.workflowExecutionSignaledEventAttributes);
      return signalled >= 0 && events.slice(signalled).some((e) => e.workflowTaskCompletedEventAttributes);
    },
    15_000,
    'the signal to be handled',
  );
}

/**
 * Sends a decision. Bounded: a handler that throws anything but an ApplicationFailure fails the workflow
 * task instead of the update, and the update would wait for ever.
 */
async function decide(handle: Handle, decision: ToolCallDecisionInput) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to the decision on ${decision.callId}`)), 15_000);
  });
  try {
    return await Promise.race([handle.executeUpdate(decideToolCallUpdate, { args: [decision] }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The update was refused by the validator: the call does not wait for a decision. */
async function expectNotWaiting(update: Promise<unknown>): Promise<void> {
  const err = await update.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  expect((cause as ApplicationFailure).type).toBe(TOOL_CALL_NOT_WAITING);
}

describe('chatWorkflow tool approval', () => {
  let env: TestWorkflowEnvironment;
  /**
   * The shared dev server, for interrupts while an activity runs: when the activity completes in the
   * workflow task that cancels it, the time-skipping server refuses the task (ACTIVITY_UNKNOWN) and the
   * run hangs (temporalio/sdk-java#2391). Time is not skipped in those tests.
   */
  let dev: TestWorkflowEnvironment;

  beforeAll(async () => {
    [env, dev] = await Promise.all([createTimeSkippingEnv(), connectDevServer()]);
  });
  afterAll(async () => {
    await Promise.all([env?.teardown(), dev?.teardown()]);
  });

  it('runs the auto call at once while the ask call waits, and asks only for the ask call', async () => {
    const calls = [ask('a1', 'shell'), { id: 'r1', name: 'read_file' }];
    const { seen, activities } = harness(env, calls);
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      await waitingForDecisions(handle);
      await waitUntil(() => seen.tools.length === 1, 15_000, 'runTools for the auto call');
      // The auto call ran before any decision was taken: nothing recorded yet, a1 still waits.
      expect(seen.tools).toEqual([{ chatId, turn: 1, step: 0, callIds: ['r1'] }]);
      expect(seen.decisions).toEqual([]);
      expect(seen.requests).toEqual([{ chatId, turn: 1, step: 0, calls: [ask('a1', 'shell')] }]);

      await decide(handle, { callId: 'a1', decision: 'approve', userId: USER });
      return handle.result();
    });
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
    expect(seen.tools).toEqual([
      { chatId, turn: 1, step: 0, callIds: ['r1'] },
      { chatId, turn: 1, step: 0, callIds: ['a1'] },
    ]);
    expect(seen.steps.map((s) => s.step)).toEqual([0, 1]);
  });

  it('expires a call nobody decides after its 24 h wait, without waiting a day', async () => {
    const { seen, activities } = harness(env, [ask('e1', 'shell')]);
    const chatId = randomUUID();
    const startedAt = Date.now();
    const before = await env.currentTimeMs();
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 1, taskQueue)),
    );
    const skipped = (await env.currentTimeMs()) - before;
    const wallMs = Date.now() - startedAt;

    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 1,
        step: 0,
        decisions: [
          {
            callId: 'e1',
            toolName: 'shell',
            decision: 'expired',
            reason: `no decision by ${seen.expiresAt}`,
            decidedBy: null,
            decidedAt: expect.any(String),
          },
        ],
        settled: true,
      },
    ]);
    // Decided by the timer, in workflow time, a day after the wait began.
    expect(Date.parse(seen.decisions[0]!.decisions[0]!.decidedAt)).toBeGreaterThanOrEqual(Date.parse(seen.expiresAt));
    expect(seen.tools).toEqual([]);
    // The turn went on: the model read the expiry in step 1 and stopped.
    expect(seen.steps.map((s) => s.step)).toEqual([0, 1]);
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
    expect(seen.finishes).toEqual([{ chatId, turn: 1, outcome: 'completed', error: null }]);
    expect(skipped).toBeGreaterThanOrEqual(DAY_MS);
    // Proof that time was skipped, not a speed target: a real day cannot pass inside this bound.
    expect(wallMs).toBeLessThan(30_000);
  });

  it('runs an approved call, then refuses a duplicate decision and an unknown call', async () => {
    const release = latch();
    const { seen, activities } = harness(env, [ask('c1', 'shell')], { runTools: release.promise });
    const chatId = randomUUID();
    const result = await withWorker(
      env,
      activities,
      releasing(release, async (taskQueue) => {
        const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 2, taskQueue));
        await waitingForDecisions(handle);
        const taken = await decide(handle, { callId: 'c1', decision: 'approve', userId: USER });
        expect(taken).toEqual({ callId: 'c1', decision: 'approved', decidedAt: expect.any(String) });

        // The run is still open (runTools is held): the validator, not a closed workflow, refuses these.
        await waitUntil(() => seen.tools.length === 1, 15_000, 'runTools for the approved call');
        await expectNotWaiting(decide(handle, { callId: 'c1', decision: 'approve', userId: USER }));
        await expectNotWaiting(decide(handle, { callId: 'c1', decision: 'deny', userId: USER }));
        await expectNotWaiting(decide(handle, { callId: 'nope', decision: 'approve', userId: USER }));
        release.open();
        return handle.result();
      }),
    );
    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 2,
        step: 0,
        decisions: [
          {
            callId: 'c1',
            toolName: 'shell',
            decision: 'approved',
            reason: null,
            decidedBy: USER,
            decidedAt: expect.any(String),
          },
        ],
        settled: true,
      },
    ]);
    expect(seen.tools).toEqual([{ chatId, turn: 2, step: 0, callIds: ['c1'] }]);
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
  });

  it('records a denial with its reason and does not run the denied call', async () => {
    const { seen, activities } = harness(env, [ask('d1', 'shell')]);
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      await waitingForDecisions(handle);
      const taken = await decide(handle, { callId: 'd1', decision: 'deny', reason: 'too risky', userId: USER });
      expect(taken).toMatchObject({ callId: 'd1', decision: 'denied' });
      return handle.result();
    });
    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 1,
        step: 0,
        decisions: [
          {
            callId: 'd1',
            toolName: 'shell',
            decision: 'denied',
            reason: 'too risky',
            decidedBy: USER,
            decidedAt: expect.any(String),
          },
        ],
        settled: true,
      },
    ]);
    expect(seen.tools).toEqual([]);
    expect(seen.steps.map((s) => s.step)).toEqual([0, 1]);
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
  });

  it('approve_always approves the same tool’s other waiting call, not another tool’s', async () => {
    const calls = [ask('s1', 'shell'), ask('s2', 'shell'), ask('w1', 'write_file')];
    const { seen, activities } = harness(env, calls);
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      await waitingForDecisions(handle);
      const taken = await decide(handle, { callId: 's1', decision: 'approve_always', userId: USER });
      expect(taken).toMatchObject({ callId: 's1', decision: 'approved_always' });
      await waitUntil(() => seen.tools.length === 1, 15_000, 'runTools for the shell calls');
      // s2 was decided with s1: it no longer waits. w1 (another tool) still does.
      await expectNotWaiting(decide(handle, { callId: 's2', decision: 'deny', userId: USER }));
      await decide(handle, { callId: 'w1', decision: 'deny', userId: USER });
      return handle.result();
    });
    const decided = (callId: string, decision: ToolDecision['decision'], reason: string | null) => ({
      callId,
      toolName: callId === 'w1' ? 'write_file' : 'shell',
      decision,
      reason,
      decidedBy: USER,
      decidedAt: expect.any(String),
    });
    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 1,
        step: 0,
        decisions: [
          decided('s1', 'approved_always', null),
          decided('s2', 'approved', 'approved for the rest of the chat with call s1'),
        ],
        // w1 still waited when the shell calls were recorded.
        settled: false,
      },
      { chatId, turn: 1, step: 0, decisions: [decided('w1', 'denied', null)], settled: true },
    ]);
    expect(seen.tools).toEqual([{ chatId, turn: 1, step: 0, callIds: ['s1', 's2'] }]);
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
  });

  it('denies the waiting call as stopped on an interrupt, ends interrupted and refuses later decisions', async () => {
    const release = latch();
    const { seen, activities } = harness(env, [ask('i1', 'shell')], { finishTurn: release.promise });
    const chatId = randomUUID();
    const result = await withWorker(
      env,
      activities,
      releasing(release, async (taskQueue) => {
        const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 3, taskQueue));
        await waitingForDecisions(handle);
        await handle.signal(interruptSignal, { turn: 3 });
        // finishTurn is held: the run is still open when the late decision arrives.
        await waitUntil(() => seen.finishes.length === 1, 15_000, 'finishTurn');
        await expectNotWaiting(decide(handle, { callId: 'i1', decision: 'approve', userId: USER }));
        release.open();
        return handle.result();
      }),
    );
    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 3,
        step: 0,
        decisions: [
          {
            callId: 'i1',
            toolName: 'shell',
            decision: 'denied',
            reason: null,
            decidedBy: null,
            decidedAt: expect.any(String),
            stopped: true,
          },
        ],
        settled: true,
      },
    ]);
    expect(seen.tools).toEqual([]);
    expect(seen.steps.map((s) => s.step)).toEqual([0]);
    expect(seen.finishes).toEqual([{ chatId, turn: 3, outcome: 'interrupted', error: null }]);
    expect(result.outcome).toBe('interrupted');
  });

  it('on an interrupt while the approval request is recorded, denies its calls once the request is done', async () => {
    const release = latch();
    const { seen, activities, order, requesting } = heldRequest(dev, [ask('q1', 'shell')], release.promise);
    const chatId = randomUUID();
    const result = await withWorker(
      dev,
      activities,
      releasing(release, async (taskQueue) => {
        const handle = await dev.client.workflow.start(chatWorkflow, turnOptions(chatId, 2, taskQueue));
        await requesting;
        await handle.signal(interruptSignal, { turn: 2 });
        // The run handled the interrupt while requestToolApprovals still ran (held until now).
        await signalsHandled(handle);
        release.open();
        return handle.result();
      }),
    );
    // The denial follows the request: it finds the rows the request wrote (none is left waiting).
    expect(order).toEqual(['requested', 'record q1', 'finish']);
    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 2,
        step: 0,
        decisions: [expect.objectContaining({ callId: 'q1', decision: 'denied', decidedBy: null, stopped: true })],
        settled: true,
      },
    ]);
    expect(seen.finishes).toEqual([{ chatId, turn: 2, outcome: 'interrupted', error: null }]);
    expect(result.outcome).toBe('interrupted');
  });

  it('takes a decision that arrives while the approval request is still being recorded', async () => {
    // action_required is published by the request, before the run has its answer: a quick client can
    // decide in between, and the call must already count as waiting then.
    const release = latch();
    const { seen, activities, order, requesting } = heldRequest(env, [ask('x1', 'shell')], release.promise);
    const chatId = randomUUID();
    const result = await withWorker(
      env,
      activities,
      releasing(release, async (taskQueue) => {
        const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
        await requesting;
        const taken = await decide(handle, { callId: 'x1', decision: 'approve', userId: USER });
        expect(taken).toMatchObject({ callId: 'x1', decision: 'approved' });
        release.open();
        return handle.result();
      }),
    );
    expect(order).toEqual(['requested', 'record x1', 'run x1', 'finish']);
    expect(seen.decisions).toEqual([
      {
        chatId,
        turn: 1,
        step: 0,
        decisions: [expect.objectContaining({ callId: 'x1', decision: 'approved', decidedBy: USER })],
        settled: true,
      },
    ]);
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
  });

  it('on an interrupt while an approved call runs, denies only the call still waiting, then finishes', async () => {
    const release = latch();
    const order: string[] = [];
    const calls = [ask('p1', 'shell'), ask('p2', 'write_file')];
    const { seen, activities } = harness(dev, calls, { runTools: release.promise });
    const { recordToolDecisions, runTools, finishTurn } = activities;
    activities.recordToolDecisions = async (input) => {
      order.push(`record ${input.decisions.map((d) => d.callId).join(',')}`);
      return recordToolDecisions(input);
    };
    activities.runTools = async (input) => {
      const ran = await runTools(input);
      order.push(`ran ${input.callIds?.join(',')}`);
      return ran;
    };
    activities.finishTurn = async (input) => {
      order.push('finish');
      return finishTurn(input);
    };
    const chatId = randomUUID();
    const result = await withWorker(
      dev,
      activities,
      releasing(release, async (taskQueue) => {
        const handle = await dev.client.workflow.start(chatWorkflow, turnOptions(chatId, 4, taskQueue));
        await waitingForDecisions(handle);
        await decide(handle, { callId: 'p1', decision: 'approve', userId: USER });
        await waitUntil(() => seen.tools.length === 1, 15_000, 'runTools for the approved call');
        await handle.signal(interruptSignal, { turn: 4 });
        // p2 still waits until p1 settles, but the turn is stopping: a decision on it is refused.
        await expectNotWaiting(decide(handle, { callId: 'p2', decision: 'approve', userId: USER }));
        // The running call settles (here: it completes) before the waiting one is denied.
        release.open();
        return handle.result();
      }),
    );
    expect(order).toEqual(['record p1', 'ran p1', 'record p2', 'finish']);
    expect(seen.decisions[0]).toMatchObject({ decisions: [{ callId: 'p1', decision: 'approved' }], settled: false });
    expect(seen.decisions[1]).toMatchObject({
      decisions: [{ callId: 'p2', toolName: 'write_file', decision: 'denied', decidedBy: null, stopped: true }],
      settled: true,
    });
    expect(seen.finishes).toEqual([{ chatId, turn: 4, outcome: 'interrupted', error: null }]);
    expect(result.outcome).toBe('interrupted');
  });
});
