/**
 * Builds the Temporal workers of a chatd process: the turn worker (workflows from
 * workflows/index.ts, bundled once or prebuilt, and every activity, on the shared task queue) and
 * the workspace-host worker (only the tool activities, on the host's own queue `chatd-ws-<hostId>`;
 * README "Workspace hosts"). Activities are bound to this process's dependencies.
 *
 * Every activity runs in its log context (chat, turn, step; README "Logs"). With tracing on
 * (`deps.tracing`, README "Traces") the workers also get Temporal's OpenTelemetry interceptors: the
 * workflow module in the bundle, the activity interceptors and the sink the workflow spans leave by.
 * Without it they get none of that.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { createToolActivities } from '../../activities/tools.activities';
import { createLlmActivities } from '../../activities/llm.activities';
import { activityLogContext } from '../../activities/log-context';
import type { ToolStepDeps } from '../turn/tool-step';
import { TRACING_WORKFLOW_MODULES, tracingActivityInterceptors, workflowSpanSinks } from '../tracing/temporal';
import type { Tracing } from '../tracing/tracing';

export const workflowsPath = require.resolve('../../workflows');

/** The workflow bundles `npm run build` writes into dist/ (scripts/build-workflow-bundle.ts). */
export const PREBUILT_BUNDLE_FILES = { plain: 'workflow-bundle.js', traced: 'workflow-bundle-traced.js' } as const;

/**
 * The bundle `npm run build` wrote beside the compiled code (dist/), for a worker with or without
 * tracing; undefined when running from the TypeScript sources, which bundle at worker start.
 */
export function prebuiltWorkflowBundle(traced: boolean): { codePath: string } | undefined {
  const file = path.resolve(__dirname, '../..', traced ? PREBUILT_BUNDLE_FILES.traced : PREBUILT_BUNDLE_FILES.plain);
  return __filename.endsWith('.js') && existsSync(file) ? { codePath: file } : undefined;
}

export interface WorkerConfig {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Prebuilt bundle (tests share one per file; production may ship one). */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Concurrent activities (default: the SDK's 100). */
  maxActivities?: number;
}

/** Options both workers share. */
function commonOptions(config: Omit<WorkerConfig, 'workflowBundle'>) {
  return {
    connection: config.connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    // A model step waits on the provider for the whole answer: slots, not CPU, would cap the
    // chats a worker streams at once (the SDK default of 100 queued a storm's turns for seconds).
    ...(config.maxActivities !== undefined ? { maxConcurrentActivityTaskExecutions: config.maxActivities } : {}),
    // Heartbeats carry cancellation (interrupts); do not let the SDK hold them back for long.
    defaultHeartbeatThrottleInterval: '500 milliseconds',
    maxHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: '5 seconds',
  } satisfies WorkerOptions;
}

/** The process's tracing, when it is on. */
export interface TracedDeps {
  tracing?: Tracing;
}

/** The workflow interceptor modules a bundle for these workers needs (none without tracing). */
export function workflowInterceptorModules(tracing: Tracing | undefined): string[] {
  return tracing ? [...TRACING_WORKFLOW_MODULES] : [];
}

/** The activity interceptors: tracing's outermost (log lines then carry its ids), then the log context. */
function activityInterceptors(tracing: Tracing | undefined) {
  return { activity: [...(tracing ? [tracingActivityInterceptors(tracing)] : []), activityLogContext] };
}

/**
 * A prebuilt `workflowBundle` must have been built with `workflowInterceptorModules(deps.tracing)`:
 * the worker cannot add modules to it.
 */
export async function createWorker(config: WorkerConfig, deps: ActivityDeps & TracedDeps): Promise<Worker> {
  const { tracing } = deps;
  const workflowBundle = config.workflowBundle ?? prebuiltWorkflowBundle(Boolean(tracing));
  return Worker.create({
    ...commonOptions(config),
    ...(workflowBundle ? { workflowBundle } : { workflowsPath }),
    activities: createActivities(deps),
    interceptors: {
      ...activityInterceptors(tracing),
      ...(workflowBundle ? {} : { workflowModules: workflowInterceptorModules(tracing) }),
    },
    ...(tracing ? { sinks: workflowSpanSinks(tracing) } : {}),
  });
}

/**
 * The worker of this process's early first steps (docs/architecture.md "Early first step"): polls
 * `config.taskQueue` (the process's own queue) for the model steps of the turns this process started.
 */
export async function createEarlyStepWorker(
  config: Omit<WorkerConfig, 'workflowBundle'>,
  deps: ActivityDeps & TracedDeps,
): Promise<Worker> {
  const { runModelStep } = createLlmActivities(deps);
  return Worker.create({
    ...commonOptions(config),
    activities: { runModelStep },
    interceptors: activityInterceptors(deps.tracing),
  });
}

/**
 * The worker of a workspace host: polls `config.taskQueue` (the host's queue) for the tool activities
 * of the chats whose workspace this host holds. No workflows and no model activities run here.
 */
export async function createWorkspaceHostWorker(
  config: Omit<WorkerConfig, 'workflowBundle'>,
  deps: ToolStepDeps & TracedDeps,
): Promise<Worker> {
  return Worker.create({
    ...commonOptions(config),
    activities: createToolActivities(deps),
    interceptors: activityInterceptors(deps.tracing),
  });
}
