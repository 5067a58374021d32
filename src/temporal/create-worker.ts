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
}

export async function createWorker(config: WorkerConfig, deps: ActivityDeps): Promise<Worker> {
  return Worker.create({
    connection: config.connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    ...(config.workflowBundle ? { workflowBundle: config.workflowBundle } : { workflowsPath }),
    activities: createActivities(deps),
    // Heartbeats carry cancellation (interrupts); do not let the SDK hold them back for long.
    defaultHeartbeatThrottleInterval: '500 milliseconds',
    maxHeartbeatThrottleInterval: '1 second',
    shutdownGraceTime: '5 seconds',
  });
}
