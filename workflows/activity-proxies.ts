/**
 * Activity proxies of the turn workflow, grouped by kind with their timeouts and retry policies,
 * and each call labelled with a summary that operators read in the Temporal UI.
 */
import { TimeoutType } from '@temporalio/common';
import {
  ActivityCancellationType,
  ActivityFailure,
  proxyActivities,
  TimeoutFailure,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { FirstStepRoute, WorkspaceHostRoute } from '../src/temporal/task-queues';

/** Failure types that must not be retried: retrying cannot fix them. */
export const NON_RETRYABLE_LLM_ERRORS = [
  'LlmError.Auth',
  'LlmError.Config',
  'LlmError.ContextLength',
  'LlmError.Unknown',
];

const llmOptions: ActivityOptions = {
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '10 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  // The provider SDKs never retry: this policy is the only one. No maximumAttempts: retryable kinds retry forever.
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '60 seconds',
    nonRetryableErrorTypes: NON_RETRYABLE_LLM_ERRORS,
  },
};

const toolOptions: ActivityOptions = {
  // Longer than execute's 10-minute maximum; heartbeats detect a dead worker much sooner.
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '30 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '60 seconds' },
};

/** Short database transitions: one statement or transaction each, retried until the database answers. */
const databaseOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
};

/** One model step (LLM call + persist), labelled with its step number. */
export const modelStep = (step: number) =>
  proxyActivities<Activities>({ ...llmOptions, summary: `Model step ${step}` });

/**
 * A turn's first model step on the task queue of the process that started it early (docs/architecture.md
 * "Early first step"). A process that does not pick it up within the route's timeout fails the call at
 * once (schedule-to-start timeouts are never retried), and the workflow runs the step on the shared queue.
 */
export const earlyModelStep = (route: FirstStepRoute) =>
  proxyActivities<Activities>({
    ...llmOptions,
    taskQueue: route.taskQueue,
    scheduleToStartTimeout: route.pickupTimeoutSeconds * 1000,
    summary: 'Model step 0 (started early)',
  });

/** A schedule-to-start timeout of a routed activity: no worker polled its queue in time. */
export function isPickupTimeout(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START
  );
}

/** The local tool calls of a step. */
export const tools = (summary: string) => proxyActivities<Activities>({ ...toolOptions, summary });

/**
 * The local tool calls of a step on the task queue of the host holding the chat's workspace. A host that
 * does not pick them up within the route's timeout fails the call at once: schedule-to-start timeouts
 * are never retried, so nothing waits on a dead host's queue (README "Workspace hosts").
 */
export const hostTools = (summary: string, route: WorkspaceHostRoute) =>
  proxyActivities<Activities>({
    ...toolOptions,
    taskQueue: route.taskQueue,
    scheduleToStartTimeout: route.pickupTimeoutSeconds * 1000,
    summary,
  });

/**
 * Sub-agent bookkeeping in the database (activities/subagent.activities.ts): creating, inspecting,
 * messaging and closing the child chats the workflow runs.
 */
export const subagentChats = (summary: string) => proxyActivities<Activities>({ ...databaseOptions, summary });

/** Storing the results of tool calls the workflow settled itself (sub-agent calls, an unavailable host). */
export const toolResults = (summary: string) => proxyActivities<Activities>({ ...databaseOptions, summary });

/** Recording the calls that wait for approval, and the decisions on them (docs/tool-approval.md). */
export const approvals = (summary: string) => proxyActivities<Activities>({ ...databaseOptions, summary });

/** finishTurn: hands the chat back at the end of the run. */
export const finishing = proxyActivities<Activities>({ ...databaseOptions, summary: 'Finish turn' });

/** Compaction: a model call (the summary) with the model step's retry policy, labelled with its step. */
export const compaction = (step: number) =>
  proxyActivities<Activities>({
    ...llmOptions,
    startToCloseTimeout: '5 minutes',
    summary: `Compact context after step ${step}`,
  });

/** Best-effort side work (titles): a few attempts, then give up. */
export const background = (summary: string) =>
  proxyActivities<Activities>({
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
    summary,
  });
