/**
 * chatWorkflow's orchestration with typed mock activities on the time-skipping server: the step
 * loop, classified failures, interrupts (cancellation reaches the running step), and the hand-off
 * to the next turn through continue-as-new. No database or provider: only the workflow's decisions.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { FinishInput, StepInput, StepSummary } from '../../src/chat/turn-runner';
import { chatWorkflow } from '../../workflows';
import { interruptSignal, turnRequestedSignal } from '../../workflows/messages';
import { createTimeSkippingEnv, getWorkflowBundle } from '../support/temporal';

type MockActivities = Activities;

describe('chatWorkflow', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** Runs `body` against a worker whose activities are `activities`, on a fresh task queue. */
  async function withWorker<T>(activities: MockActivities, body: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = `chat-wf-${randomUUID()}`;
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await getWorkflowBundle(),
      activities,
    });
    return worker.runUntil(body(taskQueue));
  }

  function recorder(
    steps: (input: StepInput) => Promise<StepSummary>,
    next: (input: FinishInput) => number | null = () => null,
  ) {
    const calls = { steps: [] as StepInput[], finishes: [] as FinishInput[] };
    const activities: MockActivities = {
      runModelStep: async (input) => {
        calls.steps.push(input);
        return steps(input);
      },
      finishTurn: async (input) => {
        calls.finishes.push(input);
        return { nextTurn: next(input) };
      },
    };
    return { calls, activities };
  }

  const ok = (more: boolean): StepSummary => ({
    status: 'ok',
    finishReason: more ? 'tool-calls' : 'stop',
    toolCalls: [],
    continue: more,
  });

  it('runs steps until the model stops, then finishes the turn as completed', async () => {
    const { calls, activities } = recorder(async (input) => ok(input.step < 2));
    const chatId = randomUUID();
    const result = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, {
        args: [{ chatId, turn: 1 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      }),
    );
    expect(result).toEqual({ outcome: 'completed', steps: 3 });
    expect(calls.steps.map((s) => s.step)).toEqual([0, 1, 2]);
    expect(calls.finishes).toEqual([{ chatId, turn: 1, outcome: 'completed', error: null }]);
  });

  it('ends the turn as failed with the classified error of a non-retryable step failure', async () => {
    const payload = {
      message: 'Authentication with OpenAI failed.',
      kind: 'auth',
      provider: 'openai',
      retryable: false,
      status_code: 401,
    };
    const { calls, activities } = recorder(async () => {
      throw ApplicationFailure.create({
        type: 'LlmError.Auth',
        message: payload.message,
        nonRetryable: true,
        details: [payload],
      });
    });
    const chatId = randomUUID();
    const result = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, {
        args: [{ chatId, turn: 4 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      }),
    );
    expect(result.outcome).toBe('failed');
    expect(calls.finishes).toEqual([{ chatId, turn: 4, outcome: 'failed', error: payload }]);
  });

  it('cancels the running step on an interrupt signal and finishes as interrupted', async () => {
    const started = { resolve: () => undefined as void };
    const stepStarted = new Promise<void>((resolve) => (started.resolve = resolve));
    const { calls, activities } = recorder(async () => {
      started.resolve();
      // A streaming step: heartbeats until Temporal delivers the cancellation.
      const ctx = Context.current();
      for (;;) {
        ctx.heartbeat();
        await ctx.sleep(100);
      }
    });
    const chatId = randomUUID();
    const result = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, {
        args: [{ chatId, turn: 2 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      });
      await stepStarted;
      await handle.signal(interruptSignal, { turn: 2 });
      return handle.result();
    });
    expect(result.outcome).toBe('interrupted');
    expect(calls.finishes[0]).toMatchObject({ turn: 2, outcome: 'interrupted' });
  });

  it('ignores an interrupt meant for another turn', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { calls, activities } = recorder(async () => {
      await gate;
      return ok(false);
    });
    const chatId = randomUUID();
    const result = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, {
        args: [{ chatId, turn: 3 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      });
      await handle.signal(interruptSignal, { turn: 2 });
      release();
      return handle.result();
    });
    expect(result.outcome).toBe('completed');
    expect(calls.finishes[0]!.outcome).toBe('completed');
  });

  it('continues as the next turn when finishTurn promotes a queued message', async () => {
    const { calls, activities } = recorder(
      async () => ok(false),
      (input) => (input.turn === 1 ? 2 : null),
    );
    const chatId = randomUUID();
    const result = await withWorker(activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, {
        args: [{ chatId, turn: 1 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      }),
    );
    expect(result.outcome).toBe('completed');
    expect(calls.steps.map((s) => [s.turn, s.step])).toEqual([
      [1, 0],
      [2, 0],
    ]);
    expect(calls.finishes.map((f) => f.turn)).toEqual([1, 2]);
  });

  it('stops a superseded turn and continues as the newer one (edit)', async () => {
    const firstStarted = { resolve: () => undefined as void };
    const stepStarted = new Promise<void>((resolve) => (firstStarted.resolve = resolve));
    const { calls, activities } = recorder(async (input) => {
      if (input.turn === 5) {
        firstStarted.resolve();
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(100);
        }
      }
      return ok(false);
    });
    const chatId = randomUUID();
    const result = await withWorker(activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, {
        args: [{ chatId, turn: 5 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      });
      await stepStarted;
      await handle.signal(turnRequestedSignal, { turn: 6 });
      return handle.result();
    });
    expect(result.outcome).toBe('completed');
    expect(calls.finishes.map((f) => [f.turn, f.outcome])).toEqual([
      [5, 'superseded'],
      [6, 'completed'],
    ]);
  });
});
