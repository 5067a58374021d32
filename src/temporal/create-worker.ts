/**
 * Builds the Temporal workers of a chatd process: the turn worker (workflows from
 * workflows/index.ts, bundled once or prebuilt, and every activity, on the shared task queue) and
 * the workspace-host worker (only the tool activities, on the host's own queue `chatd-ws-<hostId>`;
 * README "Workspace hosts"). Activities are bound to this process's dependencies.
 */
import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { createToolActivities } from '../../activities/tools.activities';
import type { ToolStepDeps } from '../turn/tool-step';

export const workflowsPath = require.resolve('../../workflows');

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

export async function createWorker(config: WorkerConfig, deps: ActivityDeps): Promise<Worker> {
  return Worker.create({
    ...commonOptions(config),
    ...(config.workflowBundle ? { workflowBundle: config.workflowBundle } : { workflowsPath }),
    activities: createActivities(deps),
  });
}

/**
 * The worker of a workspace host: polls `config.taskQueue` (the host's queue) for the tool activities
 * of the chats whose workspace this host holds. No workflows and no model activities run here.
 */
export async function createWorkspaceHostWorker(
  config: Omit<WorkerConfig, 'workflowBundle'>,
  deps: ToolStepDeps,
): Promise<Worker> {
  return Worker.create({ ...commonOptions(config), activities: createToolActivities(deps) });
}
