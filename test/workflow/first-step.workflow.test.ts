/**
 * The early first step's routing in chatWorkflow (docs/architecture.md "Early first step"), on the
 * time-skipping server with mock activities: a turn whose input carries a first-step route runs step 0
 * on that queue (and later steps on the shared one); when nobody picks step 0 up within the route's
 * timeout, step 0 runs on the shared queue with `restart`; a route that comes with the turn-requested
 * signal of a run still closing is carried into the next run; a turn without a route never uses one.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ModelStepSummary } from '../../activities/llm.activities';
import { earlyStepTaskQueue, type FirstStepRoute } from '../../src/temporal/task-queues';
import type { ModelStepInput } from '../../src/turn/model-step';
import { chatWorkflow } from '../../workflows';
import { turnRequestedSignal } from '../../workflows/messages';
import { mockActivities, okStep, withWorkers } from '../support/chat-workflow';
import { createTimeSkippingEnv } from '../support/temporal';

describe('chatWorkflow running an early first step', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const newRoute = (pickupTimeoutSeconds = 60): FirstStepRoute => ({
    taskQueue: earlyStepTaskQueue(randomUUID()),
    pickupTimeoutSeconds,
  });

  /** Model steps that record where each ran, with their input; step 0 asks for one more step. */
  function recordedSteps() {
    const ran: Array<{ queue: string; input: ModelStepInput }> = [];
    const runModelStep = async (input: ModelStepInput): Promise<ModelStepSummary> => {
      ran.push({ queue: Context.current().info.taskQueue, input });
      return okStep(input.step === 0);
    };
    return { ran, runModelStep };
  }

  const finishTurn = async () => ({ nextTurn: null, status: 'waiting' as const });

  it('runs step 0 on the route and the later steps on the shared queue', async () => {
    const route = newRoute();
    const { ran, runModelStep } = recordedSteps();
    const chatId = randomUUID();
    let shared = '';
    const result = await withWorkers(
      env,
      mockActivities({ runModelStep, finishTurn }),
      { taskQueue: route.taskQueue, activities: { runModelStep } },
      (taskQueue) => {
        shared = taskQueue;
        return env.client.workflow.execute(chatWorkflow, {
          args: [{ chatId, turn: 1, firstStep: route }],
          taskQueue,
          workflowId: `chat-${chatId}`,
        });
      },
    );
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
    expect(ran.map((r) => [r.queue, r.input.step, r.input.restart ?? false])).toEqual([
      [route.taskQueue, 0, false],
      [shared, 1, false],
    ]);
  });

  it('runs step 0 on the shared queue, restarting it, when nobody picks it up in time', async () => {
    // The test server does not skip time for an activity waiting to be picked up: keep it short.
    const route = newRoute(2);
    const { ran, runModelStep } = recordedSteps();
    const chatId = randomUUID();
    let shared = '';
    const handle = await withWorkers(env, mockActivities({ runModelStep, finishTurn }), null, async (taskQueue) => {
      shared = taskQueue;
      const started = await env.client.workflow.start(chatWorkflow, {
        args: [{ chatId, turn: 3, firstStep: route }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      });
      expect(await started.result()).toEqual({ outcome: 'completed', steps: 2 });
      return started;
    });
    expect(ran.map((r) => [r.queue, r.input.step, r.input.restart ?? false])).toEqual([
      [shared, 0, true],
      [shared, 1, false],
    ]);
    const { events } = await handle.fetchHistory();
    const scheduled = events!
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a?.activityType?.name === 'runModelStep');
    expect(scheduled.map((a) => a!.taskQueue?.name)).toEqual([route.taskQueue, shared, shared]);
    expect(Number(scheduled[0]!.scheduleToStartTimeout?.seconds)).toBe(2);
  });

  it('carries the route of a turn requested while the run was closing into the next run', async () => {
    const route = newRoute();
    const ran: Array<{ queue: string; input: ModelStepInput }> = [];
    let releaseFinish: () => void = () => undefined;
    const finishing = new Promise<void>((resolve) => {
      releaseFinish = resolve;
    });
    const runModelStep = async (input: ModelStepInput): Promise<ModelStepSummary> => {
      ran.push({ queue: Context.current().info.taskQueue, input });
      // Turn 1 is interrupted, so its run closes through finishTurn, which waits for the signal below.
      return input.turn === 1 ? { status: 'interrupted' } : okStep(false);
    };
    const chatId = randomUUID();
    const shared = mockActivities({
      runModelStep,
      finishTurn: async (input) => {
        if (input.turn === 1) await finishing;
        return { nextTurn: null, status: 'waiting' };
      },
    });
    await withWorkers(env, shared, { taskQueue: route.taskQueue, activities: { runModelStep } }, async (taskQueue) => {
      const handle = await env.client.workflow.start(chatWorkflow, {
        args: [{ chatId, turn: 1 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      });
      // The message of turn 2 commits while turn 1's run is still in finishTurn.
      while (ran.length === 0) await new Promise((r) => setTimeout(r, 20));
      await handle.signal(turnRequestedSignal, { turn: 2, firstStep: route });
      releaseFinish();
      const next = env.client.workflow.getHandle(`chat-${chatId}`);
      expect(await next.result()).toEqual({ outcome: 'completed', steps: 1 });
    });
    expect(ran.map((r) => [r.queue, r.input.turn, r.input.step])).toEqual([
      [expect.stringMatching(/^chat-wf-/), 1, 0],
      [route.taskQueue, 2, 0],
    ]);
  });

  it('keeps a turn without a route on the shared queue', async () => {
    const { ran, runModelStep } = recordedSteps();
    let shared = '';
    await withWorkers(env, mockActivities({ runModelStep, finishTurn }), null, (taskQueue) => {
      shared = taskQueue;
      const chatId = randomUUID();
      return env.client.workflow.execute(chatWorkflow, {
        args: [{ chatId, turn: 1 }],
        taskQueue,
        workflowId: `chat-${chatId}`,
      });
    });
    expect(ran.map((r) => r.queue)).toEqual([shared, shared]);
  });
});
