/**
 * Workspace host routing in chatWorkflow (README "Workspace hosts"), on the time-skipping server
 * with mock activities: a step's local tool calls run on the task queue of the host that the model
 * step reported, never on the shared queue; a host queue nobody polls ends, after the route's
 * schedule-to-start timeout, in a "workspace host unavailable" error result per call, stored through
 * persistToolResults, and the turn goes on; a chat without a host keeps using the shared queue.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ModelStepSummary } from '../../activities/llm.activities';
import type { WorkflowToolResult } from '../../src/turn/tool-results';
import { workspaceHostTaskQueue, type WorkspaceHostRoute } from '../../src/temporal/task-queues';
import { chatWorkflow } from '../../workflows';
import { WORKSPACE_HOST_ROUTING_PATCH } from '../../workflows/workspace-hosts';
import { mockActivities, okStep, turnOptions, withWorkers } from '../support/chat-workflow';
import { createTimeSkippingEnv } from '../support/temporal';
import type { StepInput } from '../../src/turn/deps';

describe('chatWorkflow routing tool calls to the workspace host', () => {
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await createTimeSkippingEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const route = (hostId: string, pickupTimeoutSeconds = 60): WorkspaceHostRoute => ({
    hostId,
    taskQueue: workspaceHostTaskQueue(hostId),
    pickupTimeoutSeconds,
  });

  /** Step 0 calls two local tools (and reports `host`); step 1 answers. */
  function twoSteps(host: WorkspaceHostRoute | null) {
    const steps: StepInput[] = [];
    const runModelStep = async (input: StepInput): Promise<ModelStepSummary> => {
      steps.push(input);
      if (input.step > 0) return okStep(false);
      return {
        status: 'ok',
        finishReason: 'tool-calls',
        continue: true,
        compaction: null,
        toolCalls: [
          { id: 'call_a', name: 'execute' },
          { id: 'call_b', name: 'read_file' },
        ],
        workspaceHost: host,
      };
    };
    return { steps, runModelStep };
  }

  it("runs the step's tool calls on the host queue the model step reported, behind a patch marker", async () => {
    const host = route(`wf-host-${randomUUID()}`);
    const { steps, runModelStep } = twoSteps(host);
    const ranOn: string[] = [];
    const chatId = randomUUID();
    const shared = mockActivities({ runModelStep, finishTurn: async () => ({ nextTurn: null, status: 'waiting' }) });
    const handle = await withWorkers(
      env,
      shared,
      {
        taskQueue: host.taskQueue,
        activities: {
          runTools: async (input) => {
            ranOn.push(Context.current().info.taskQueue);
            expect(input).toMatchObject({ chatId, turn: 1, step: 0 });
            return { status: 'ok', results: 2 };
          },
        },
      },
      async (taskQueue) => {
        const started = await env.client.workflow.start(chatWorkflow, turnOptions(chatId, 1, taskQueue));
        expect(await started.result()).toEqual({ outcome: 'completed', steps: 2 });
        return started;
      },
    );
    expect(ranOn).toEqual([host.taskQueue]);
    expect(steps.map((s) => s.step)).toEqual([0, 1]);

    const { events } = await handle.fetchHistory();
    const scheduled = events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runTools');
    expect(scheduled).toHaveLength(1);
    const attributes = scheduled[0]!.activityTaskScheduledEventAttributes!;
    expect(attributes.taskQueue?.name).toBe(host.taskQueue);
    expect(Number(attributes.scheduleToStartTimeout?.seconds)).toBe(60);
    const markers = events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
    expect(markers).toHaveLength(1);
    const data = markers[0]!.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!;
    expect(JSON.parse(Buffer.from(data).toString('utf8'))).toMatchObject({ id: WORKSPACE_HOST_ROUTING_PATCH });
  });

  it('tells the model the host is unavailable when nobody picks the calls up in time, and goes on', async () => {
    // The test server does not skip time for an activity waiting to be picked up: keep it short.
    const host = route(`wf-gone-${randomUUID()}`, 2);
    const { steps, runModelStep } = twoSteps(host);
    const stored: Array<StepInput & { results: WorkflowToolResult[] }> = [];
    const chatId = randomUUID();
    const shared = mockActivities({
      runModelStep,
      persistToolResults: async (input) => {
        stored.push(input);
        return { stored: input.results.length };
      },
      finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
    });
    // No worker polls the host's queue.
    const result = await withWorkers(env, shared, null, (taskQueue) =>
      env.client.workflow.execute(chatWorkflow, turnOptions(chatId, 2, taskQueue)),
    );
    expect(result).toEqual({ outcome: 'completed', steps: 2 });
    const error = `workspace host unavailable: ${host.hostId} did not pick up the tool calls within 2 s; try again later`;
    expect(stored).toEqual([
      {
        chatId,
        turn: 2,
        step: 0,
        results: [
          { callId: 'call_a', name: 'execute', result: { error }, isError: true },
          { callId: 'call_b', name: 'read_file', result: { error }, isError: true },
        ],
      },
    ]);
    // The model got its next step: it sees the error results.
    expect(steps.map((s) => s.step)).toEqual([0, 1]);
  });

  it('keeps a chat without a workspace host on the shared queue', async () => {
    const { runModelStep } = twoSteps(null);
    const ranOn: string[] = [];
    const shared = mockActivities({
      runModelStep,
      runTools: async () => {
        ranOn.push(Context.current().info.taskQueue);
        return { status: 'ok', results: 2 };
      },
      finishTurn: async () => ({ nextTurn: null, status: 'waiting' }),
    });
    let sharedQueue = '';
    await withWorkers(env, shared, null, (taskQueue) => {
      sharedQueue = taskQueue;
      return env.client.workflow.execute(chatWorkflow, turnOptions(randomUUID(), 1, taskQueue));
    });
    expect(ranOn).toEqual([sharedQueue]);
  });
});
