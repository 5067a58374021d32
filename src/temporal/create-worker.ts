/**
 * Builds the Temporal worker that runs chat turns: workflows from workflows/index.ts (bundled once,
 * or a prebuilt bundle) and activities from activities/ bound to this process's dependencies.
 */
import type { NativeConnection } from '@temporalio/worker';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';

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

export async function createWorker(config: WorkerConfig, deps: ActivityDeps): Promise<Worker> {
  return Worker.create({
    connection: config.connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(config.workflowBundle ? { workflowBundle: config.workflowBundle } : { workflowsPath }),
    activities: createActivities(deps),
    // A model step waits on the provider for the whole answer: slots, not CPU, would cap the
    // chats a worker streams at once (the SDK default of 100 queued a storm's turns for seconds).
    ...(config.maxActivities !== undefined ? { maxConcurrentActivityTaskExecutions: config.maxActivities } : {}),
    // Heartbeats carry cancellation (interrupts); do not let the SDK hold them back for long.
    defaultHeartbeatThrottleInterval: '500 milliseconds',
    maxHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: '5 seconds',
  });
}
