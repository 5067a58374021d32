/**
 * The S1 worker, in the bench runner's process: bundles bench/floor/workflows.ts once and polls a
 * task queue of its own on the same Temporal server chatd uses.
 */
import { randomBytes } from 'node:crypto';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createFloorActivities } from './activities';

export interface FloorWorker {
  taskQueue: string;
  stop(): Promise<void>;
}

/**
 * Installs a quiet Temporal runtime unless one is installed already (once per process, before the
 * first native connection or local server).
 */
export function installQuietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Installed earlier in this process.
  }
}

export async function startFloorWorker(address: string): Promise<FloorWorker> {
  installQuietRuntime();
  const taskQueue = `bench-floor-${randomBytes(4).toString('hex')}`;
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('./workflows'),
    // The SDK's default slot counts, as chatd's worker has them.
    activities: createFloorActivities(),
  });
  const done = worker.run().finally(() => connection.close());
  return {
    taskQueue,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
