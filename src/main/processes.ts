/**
 * The two roles a chatd process can play: the HTTP API and the Temporal worker. `npm start` runs
 * both in one process; production runs them as separate fleets (`chatd api`, `chatd worker`).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createApp, type AppDeps } from '../api/app';
import type { Deps } from '../deps';
import { createWorker, type WorkerConfig } from '../temporal/create-worker';

export interface RunningApi {
  url: string;
  server: http.Server;
  stop(): Promise<void>;
}

/** Tuning of the HTTP role that has no environment variable (tests shorten the SSE heartbeat). */
export type ApiOptions = Pick<AppDeps, 'sseHeartbeatMs' | 'sseMaxBufferedBytes'>;

/** Listens on host:port (0 = any free port). Stopping closes idle and streaming connections. */
export async function startApi(deps: Deps, host: string, port: number, options: ApiOptions = {}): Promise<RunningApi> {
  const app = createApp({
    ...options,
    db: deps.db,
    bus: deps.bus,
    turns: deps.turns,
    secrets: deps.secrets,
    log: deps.log,
    maxBodyBytes: deps.config.maxMessageBytes + 64 * 1024,
    checkTemporal: async () => {
      await deps.temporal.connection.workflowService.getSystemInfo({});
    },
    onModelConfigChange: () => deps.models.invalidate(),
  });
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${address.port}`,
    server,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Open SSE streams would hold close() forever; clients reconnect elsewhere with Last-Event-ID.
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 1000).unref();
      await closed;
    },
  };
}

export interface RunningWorker {
  worker: Worker;
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Starts polling the task queue; `stop()` drains in-flight tasks within the grace time. */
export async function startWorker(
  deps: Deps,
  address: string,
  workflowBundle?: WorkerConfig['workflowBundle'],
): Promise<RunningWorker> {
  const connection = await NativeConnection.connect({ address });
  const worker = await createWorker(
    {
      connection,
      namespace: deps.config.temporal.namespace,
      taskQueue: deps.config.temporal.taskQueue,
      workflowBundle,
      maxActivities: deps.config.workerMaxActivities,
    },
    deps,
  );
  const done = worker.run().finally(() => connection.close());
  return {
    worker,
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** Runs `stop` once on SIGINT/SIGTERM; a second signal exits at once. */
export function onShutdownSignal(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
