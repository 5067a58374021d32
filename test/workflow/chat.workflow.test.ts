/**
 * chatWorkflow's orchestration with typed mock activities on the time-skipping server: the step
 * loop, classified failures, interrupts (cancellation reaches the running step), and the hand-off
 * to the next turn through continue-as-new. No database or provider: only the workflow's decisions.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { StepSummary } from '../../src/turn/model-step';
import { chatWorkflow } from '../../workflows';
import { interruptSignal, subagentFinishedSignal, turnRequestedSignal } from '../../workflows/messages';
import { mockActivities, okStep, turnOptions, withWorker } from '../support/chat-workflow';
import { createTimeSkippingEnv } from '../support/temporal';
import type { FinishInput } from '../../src/turn/finish-turn';
import type { StepInput } from '../../src/turn/deps';

describe('chatWorkflow', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  function recorder(
    steps: (input: StepInput) => Promise<StepSummary>,
    next: (input: FinishInput) => number | null = () => null,
  ) {
    const calls = { steps: [] as StepInput[], finishes: [] as FinishInput[] };
    const activities = mockActivities({
      runModelStep: async (input) => {
        calls.steps.push(input);
        return steps(input);
      },
      finishTurn: async (input) => {
        calls.finishes.push(input);
        return { nextTurn: next(input), status: 'waiting' };
      },
    });
    return { calls, activities };
  }

  it('runs steps until the model stops, then finishes the turn as completed', async () => {
    const { calls, activities } = recorder(async (input) => okStep(input.step < 2));
    const chatId = randomUUID();
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 1, taskQueue)),
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
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 4, taskQueue)),
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
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 2, taskQueue));
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
      return okStep(false);
    });
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 3, taskQueue));
      await handle.signal(interruptSignal, { turn: 2 });
      release();
      return handle.result();
    });
    expect(result.outcome).toBe('completed');
    expect(calls.finishes[0]!.outcome).toBe('completed');
  });

  it('continues as the next turn when finishTurn promotes a queued message', async () => {
    const { calls, activities } = recorder(
      async () => okStep(false),
      (input) => (input.turn === 1 ? 2 : null),
    );
    const chatId = randomUUID();
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 1, taskQueue)),
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
      return okStep(false);
    });
    const chatId = randomUUID();
    const result = await withWorker(env, activities, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 5, taskQueue));
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

  describe('sub-agent tools', () => {
    const childId = '00000000-0000-4000-8000-000000000001';
    const waitStep = (input: StepInput): StepSummary =>
      input.step === 0
        ? {
            status: 'ok',
            finishReason: 'tool-calls',
            toolCalls: [{ id: 'w1', name: 'wait_agent' }],
            continue: true,
            compaction: null,
          }
        : okStep(false);

    it('wait_agent gives up at its durable 300 s default without waiting in real time', async () => {
      const stored: unknown[] = [];
      const activities = mockActivities({
        runModelStep: async (input) => waitStep(input),
        prepareWaitAgent: async () => ({
          childChatId: childId,
          timeoutSeconds: 300,
          state: { found: true, status: 'running', done: false, answer: '' },
        }),
        getSubagentState: async () => ({ found: true, status: 'running', done: false, answer: '' }),
        persistToolResults: async (input) => {
          stored.push(...input.results);
          return { stored: input.results.length };
        },
        finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
      });
      const chatId = randomUUID();
      const before = await env.currentTimeMs();
      const startedAt = Date.now();
      await withWorker(env, activities, (taskQueue) =>
        env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 1, taskQueue)),
      );
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(300_000);
      // Proof of skipped time, not a speed target: five real minutes cannot pass inside this bound.
      expect(Date.now() - startedAt).toBeLessThan(120_000);
      expect(stored).toEqual([
        {
          callId: 'w1',
          name: 'wait_agent',
          result: { chat_id: childId, status: 'running', timed_out: true },
          isError: false,
        },
      ]);
    });

    it('wait_agent returns as soon as the child reports it finished', async () => {
      const stored: unknown[] = [];
      let childDone = false;
      let prepared!: () => void;
      let preparedAt = 0;
      let answeredAt = 0;
      const waiting = new Promise<void>((resolve) => (prepared = resolve));
      const activities = mockActivities({
        runModelStep: async (input) => waitStep(input),
        prepareWaitAgent: async () => {
          preparedAt = await env.currentTimeMs();
          prepared();
          return {
            childChatId: childId,
            timeoutSeconds: 300,
            state: { found: true, status: 'running', done: false, answer: '' },
          };
        },
        getSubagentState: async () => {
          answeredAt = await env.currentTimeMs();
          return childDone
            ? { found: true, status: 'waiting', done: true, answer: 'done!' }
            : { found: true, status: 'running', done: false, answer: '' };
        },
        persistToolResults: async (input) => {
          stored.push(...input.results);
          return { stored: input.results.length };
        },
        finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
      });
      const chatId = randomUUID();
      await withWorker(env, activities, async (taskQueue) => {
        const handle = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
        await waiting;
        childDone = true;
        await handle.signal(subagentFinishedSignal, { chatId: childId });
        return handle.result();
      });
      expect(stored).toEqual([
        {
          callId: 'w1',
          name: 'wait_agent',
          result: { chat_id: childId, status: 'waiting', answer: 'done!' },
          isError: false,
        },
      ]);
      // Woken by the signal: the answer was read before the 300 s timer could fire.
      expect(answeredAt - preparedAt).toBeLessThan(300_000);
    });
  });

  it('compacts after a step over the threshold and lets the model continue once more', async () => {
    const trigger = { thresholdPercent: 70, usagePercent: 85, contextTokens: 850, contextLimit: 1000 };
    const compactions: number[] = [];
    const steps: number[] = [];
    const activities = mockActivities({
      runModelStep: async (input) => {
        steps.push(input.step);
        return { ...okStep(false), compaction: input.step === 0 ? trigger : null };
      },
      compactChat: async (input) => {
        compactions.push(input.step);
        expect(input.trigger).toEqual(trigger);
        return { status: 'compacted' };
      },
      finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
    });
    const chatId = randomUUID();
    const result = await withWorker(env, activities, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 1, taskQueue)),
    );
    // Compaction on what would have been the final step re-enters the loop for one more step.
    expect(compactions).toEqual([0]);
    expect(steps).toEqual([0, 1]);
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
  });
});
