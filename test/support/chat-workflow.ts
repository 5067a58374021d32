/**
 * chatWorkflow against mock activities, for workflow tests: typed mocks in which every activity a
 * test does not provide fails loudly, and a worker for them on a fresh task queue.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowStartOptions } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { StepSummary } from '../../src/turn/model-step';
import type { chatWorkflow } from '../../workflows';
import { getWorkflowBundle } from './temporal';

/** Typed mocks: every activity not in `overrides` fails loudly when called (titles excepted). */
export function mockActivities(overrides: Partial<Activities>): Activities {
  const unexpected = (name: string) => async (): Promise<never> => {
    throw new Error(`unexpected activity call: ${name}`);
  };
  const all: Activities = {
    runModelStep: unexpected('runModelStep'),
    runTools: unexpected('runTools'),
    persistToolResults: unexpected('persistToolResults'),
    spawnSubagent: unexpected('spawnSubagent'),
    prepareWaitAgent: unexpected('prepareWaitAgent'),
    getSubagentState: unexpected('getSubagentState'),
    messageSubagent: unexpected('messageSubagent'),
    closeSubagent: unexpected('closeSubagent'),
    finishTurn: unexpected('finishTurn'),
    compactChat: unexpected('compactChat'),
    requestToolApprovals: unexpected('requestToolApprovals'),
    recordToolDecisions: unexpected('recordToolDecisions'),
    // Title generation is best effort and runs on every first turn; most tests do not care.
    generateChatTitle: async () => ({ title: null }),
  };
  return { ...all, ...overrides };
}

/** A successful step without tool calls; `more` asks for another step. */
export const okStep = (more: boolean): StepSummary => ({
  status: 'ok',
  finishReason: more ? 'tool-calls' : 'stop',
  toolCalls: [],
  continue: more,
  compaction: null,
});

/** Runs `body` against a worker of `env` whose activities are `activities`, on a fresh task queue. */
export function withWorker<T>(
  env: TestWorkflowEnvironment,
  activities: Activities,
  body: (taskQueue: string) => Promise<T>,
): Promise<T> {
  return withWorkers(env, activities, null, body);
}

/**
 * withWorker, plus, when given, a worker polling `other.taskQueue` with only `other.activities` (a
 * workspace host's queue, a process's early-step queue).
 */
export async function withWorkers<T>(
  env: TestWorkflowEnvironment,
  shared: Activities,
  other: { taskQueue: string; activities: Partial<Activities> } | null,
  body: (taskQueue: string) => Promise<T>,
): Promise<T> {
  const taskQueue = `chat-wf-${randomUUID()}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await getWorkflowBundle(),
    activities: shared,
  });
  if (!other) return worker.runUntil(body(taskQueue));
  const otherWorker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: other.taskQueue,
    activities: other.activities,
  });
  return otherWorker.runUntil(worker.runUntil(body(taskQueue)));
}

/** Start options for turn `turn` of `chatId`, under the workflow id chatd gives it. */
export function turnOptions(
  chatId: string,
  turn: number,
  taskQueue: string,
): WorkflowStartOptions<typeof chatWorkflow> {
  return { args: [{ chatId, turn }], taskQueue, workflowId: `chat-${chatId}` };
}
