/**
 * chatWorkflow while its turn waits for a running-turn slot (docs/operations.md "Fair scheduling"), with
 * mock activities: a `queued` first step is retried after a durable timer (2 s, doubling) or as soon as
 * the `turn-slot-freed` signal comes; an interrupt or an edit ends the wait; and a wait long enough to
 * be suggested a continue-as-new rolls over to a fresh history instead of growing one without bound.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import type { FinishInput } from '../../src/turn/finish-turn';
import type { StepInput } from '../../src/turn/deps';
import type { StepSummary } from '../../src/turn/model-step';
import { chatWorkflow } from '../../workflows';
import { interruptSignal, turnRequestedSignal, turnSlotFreedSignal } from '../../workflows/messages';
import { TURN_SLOTS_PATCH } from '../../workflows/turn-slots';
import { mockActivities, okStep, turnOptions, withWorker } from '../support/chat-workflow';
import { connectDevServer, createTimeSkippingEnv } from '../support/temporal';

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const queued = (position: number): StepSummary => ({ status: 'queued', position });

/** Mock activities recording each step and finish; `steps` answers each step call in turn. */
function recorder(
  steps: (input: StepInput, call: number) => StepSummary | Promise<StepSummary>,
  next: (input: FinishInput) => number | null = () => null,
) {
  const calls = { steps: [] as StepInput[], finishes: [] as FinishInput[] };
  const activities = mockActivities({
    runModelStep: async (input) => {
      calls.steps.push(input);
      return steps(input, calls.steps.length);
    },
    finishTurn: async (input) => {
      calls.finishes.push(input);
      return { nextTurn: next(input), status: 'waiting' };
    },
  });
  return { calls, activities };
}

/**
 * Resolves once the run has started `count` slot-wait timers: it took the queued answer and waits, so a
 * signal sent now reaches the wait (one sent while the step still ran would find nothing waiting yet).
 */
async function timersStarted(handle: WorkflowHandle, count: number): Promise<void> {
  for (let i = 0; i < 1_000; i++) {
    const events = (await handle.fetchHistory()).events ?? [];
    if (events.filter((e) => e.timerStartedEventAttributes).length >= count) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the run never started ${count} timer(s)`);
}

const timerDurationsMs = (events: HistoryEvent[]): number[] =>
  events
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => {
      const timeout = e.timerStartedEventAttributes!.startToFireTimeout!;
      return Number(timeout.seconds ?? 0) * 1000 + Math.round((timeout.nanos ?? 0) / 1e6);
    });

describe('chatWorkflow waiting for a turn slot', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('retries a queued first step after a doubling durable timer, then runs the turn', async () => {
    const { calls, activities } = recorder((input, call) => (call <= 3 ? queued(4 - call) : okStep(input.step < 1)));
    const chatId = randomUUID();
    const before = await env.currentTimeMs();
    const { result, events } = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      const result = await handle.result();
      return { result, events: (await handle.fetchHistory()).events ?? [] };
    });
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
    // Step 0 three times refused, then admitted; then step 1.
    expect(calls.steps.map((s) => s.step)).toEqual([0, 0, 0, 0, 1]);
    expect(calls.finishes).toEqual([{ chatId, turn: 1, outcome: 'completed', error: null }]);
    // The waits were durable timers of 2, 4 and 8 s (skipped here, not slept).
    expect(timerDurationsMs(events)).toEqual([2_000, 4_000, 8_000]);
    expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(14_000);
    // The wait is behind its patch (histories from before it never waited).
    const patches = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
    expect(patches.length).toBeGreaterThan(0);
    expect(
      patches.map((e) =>
        Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString(),
      ),
    ).toEqual(expect.arrayContaining([expect.stringContaining(TURN_SLOTS_PATCH)]));
  });

  it('caps the retry delay at 60 s', async () => {
    const { calls, activities } = recorder((_input, call) => (call <= 8 ? queued(1) : okStep(false)));
    const chatId = randomUUID();
    const events = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      await handle.result();
      return (await handle.fetchHistory()).events ?? [];
    });
    expect(calls.steps).toHaveLength(9);
    expect(timerDurationsMs(events)).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('retries at once when the turn-slot-freed signal comes, without waiting for the timer', async () => {
    const { calls, activities } = recorder((_input, call) => (call === 1 ? queued(1) : okStep(false)));
    const chatId = randomUUID();
    const events = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      await timersStarted(handle, 1);
      // Nothing awaits the result yet, so the test server does not skip time: only the signal can wake it.
      await handle.signal(turnSlotFreedSignal);
      expect((await handle.result()).outcome).toBe('completed');
      return (await handle.fetchHistory()).events ?? [];
    });
    expect(calls.steps.map((s) => s.step)).toEqual([0, 0]);
    expect(timerDurationsMs(events)).toEqual([2_000]);
    // The signal ended the wait: its timer was cancelled, never fired.
    expect(events.some((e) => e.timerFiredEventAttributes)).toBe(false);
    expect(events.some((e) => e.timerCanceledEventAttributes)).toBe(true);
    expect(
      events.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === turnSlotFreedSignal.name),
    ).toBe(true);
  });

  it('ends a waiting turn as interrupted on an interrupt, and hands the chat back', async () => {
    const { calls, activities } = recorder(() => queued(2));
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 3, taskQueue));
      await timersStarted(handle, 1);
      await handle.signal(interruptSignal, { turn: 3 });
      return handle.result();
    });
    expect(result.outcome).toBe('interrupted');
    expect(calls.steps).toHaveLength(1);
    expect(calls.finishes).toEqual([{ chatId, turn: 3, outcome: 'interrupted', error: null }]);
  });

  it('stops waiting when an edit supersedes the turn, and waits again as the new turn', async () => {
    const { calls, activities } = recorder(
      (input, call) => (input.turn === 1 || call === 2 ? queued(1) : okStep(false)),
      (input) => (input.turn === 1 ? 2 : null),
    );
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      await timersStarted(handle, 1);
      await handle.signal(turnRequestedSignal, { turn: 2 });
      return handle.result();
    });
    expect(result.outcome).toBe('completed');
    expect(calls.steps.map((s) => [s.turn, s.step])).toEqual([
      [1, 0],
      [2, 0],
      [2, 0],
    ]);
    expect(calls.finishes.map((f) => [f.turn, f.outcome])).toEqual([
      [1, 'superseded'],
      [2, 'completed'],
    ]);
  });
});

describe('chatWorkflow waiting long for a turn slot', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await connectDevServer();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /**
   * Each retry adds about ten events; a turn queued behind long ones (tool approvals wait up to days)
   * would reach Temporal's history limit and be terminated. The dev server suggests continue-as-new at
   * 400 events (test/support/global-setup.ts), so a few dozen signal-driven retries cross it.
   */
  it('continues as new while it waits, and still runs its turn from the first step', async () => {
    let admitted = false;
    const { calls, activities } = recorder(() => (admitted ? okStep(false) : queued(1)));
    const chatId = randomUUID();
    let rolledOverWhileQueued = false;
    const result = await withWorker(env, activities, async (taskQueue) => {
      const started = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
      // A handle on the workflow id follows its latest run.
      const handle = env.client.workflow.getHandle<typeof chatWorkflow>(started.workflowId);
      const firstRunId = (await handle.describe()).runId;
      // Wake the waiting run again and again until it rolls over (or clearly never will).
      for (let i = 0; i < 150 && !rolledOverWhileQueued; i++) {
        const seen = calls.steps.length;
        await handle.signal(turnSlotFreedSignal);
        for (let t = 0; t < 100 && calls.steps.length === seen; t++) await new Promise((r) => setTimeout(r, 20));
        rolledOverWhileQueued = (await handle.describe()).runId !== firstRunId;
      }
      admitted = true;
      await handle.signal(turnSlotFreedSignal);
      return handle.result();
    });
    expect(rolledOverWhileQueued).toBe(true);
    expect(result.outcome).toBe('completed');
    const runs: Array<{ status: string; events: number }> = [];
    for await (const run of env.client.workflow.list({ query: `WorkflowId = "chat-${chatId}"` })) {
      runs.push({ status: run.status.name, events: run.historyLength });
    }
    expect(runs.filter((r) => r.status === 'CONTINUED_AS_NEW').length).toBeGreaterThan(0);
    // Each run's history stays near the suggested size instead of growing with the wait.
    for (const run of runs) expect(run.events).toBeLessThan(600);
    // Every call was the first step of turn 1 (the new run retried it, it did not skip it), then one finish.
    expect(calls.steps.every((s) => s.turn === 1 && s.step === 0)).toBe(true);
    expect(calls.finishes).toEqual([{ chatId, turn: 1, outcome: 'completed', error: null }]);
  });
});
