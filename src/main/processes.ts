/**
 * The roles a chatd process can play: the HTTP API, the Temporal worker and the workspace host.
 * `npm start` runs the API and the worker in one process; production runs them as separate fleets
 * (`chatd api`, `chatd worker`). The worker is also a workspace host unless configured otherwise:
 * it polls its host's task queue for the tool calls of the workspaces it holds; `chatd workspace-host`
 * polls only that queue (README "Workspace hosts").
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createApp } from '../api/app';
import type { Deps } from './deps';
import { randomUUID } from 'node:crypto';
import {
  createEarlyStepWorker,
  createWorker,
  createWorkspaceHostWorker,
  type WorkerConfig,
} from '../temporal/create-worker';
import { temporalConnectionOptions } from '../temporal/connection-options';
import { EARLY_STEP_PICKUP_SECONDS, earlyStepTaskQueue, workspaceHostTaskQueue } from '../temporal/task-queues';
import { EarlyFirstSteps } from '../turn/early-first-step';
import { type AppDeps } from '../api/deps';
import { resolveWebDir } from '../api/web-app';
import { workerReadiness, type WorkerReadiness } from './worker-http';

export interface RunningApi {
  url: string;
  server: http.Server;
  /** From now on /readyz answers 503 `draining`; everything else is served as before. */
  drain(): void;
  /**
   * Drains, keeps listening for the drain time (CHATD_DRAIN_SECONDS), then stops accepting connections
   * and waits for the requests in flight; open streams are closed after a second. Calling it again
   * while the drain time runs skips the rest of it.
   */
  stop(): Promise<void>;
}

/** Tuning of the HTTP role (tests shorten the SSE heartbeat); `drainMs` overrides CHATD_DRAIN_SECONDS. */
export type ApiOptions = Pick<AppDeps, 'sseHeartbeatMs' | 'sseMaxBufferedBytes'> & { drainMs?: number };

/** Listens on host:port (0 = any free port). Stopping closes idle and streaming connections. */
export async function startApi(deps: Deps, host: string, port: number, options: ApiOptions = {}): Promise<RunningApi> {
  const { drainMs = deps.config.http.drainMs, ...appOptions } = options;
  let draining = false;
  const app = createApp({
    ...appOptions,
    db: deps.db,
    bus: deps.bus,
    turns: deps.turns,
    secrets: deps.secrets,
    log: deps.log,
    usage: deps.usage,
    maxMessageBytes: deps.config.maxMessageBytes,
    requestLimits: deps.config.requestLimits,
    checkTemporal: async () => {
      await deps.temporal.connection.workflowService.getSystemInfo({});
    },
    onModelConfigChange: () => deps.models.invalidate(),
    workspaceSandbox: () => deps.workspaceSandbox(),
    vapidPublicKey: deps.vapidPublicKey,
    publicUrl: deps.config.publicUrl,
    corsOrigins: deps.config.corsOrigins,
    webDir: resolveWebDir(deps.config.webDir),
    tracer: deps.tracing?.tracer,
    metrics: deps.metrics,
    metricsToken: deps.config.metricsToken,
    draining: () => draining,
  });
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  let skipDrain: (() => void) | null = null;
  let stopped: Promise<void> | null = null;
  const stop = async (): Promise<void> => {
    draining = true;
    // Load balancers see /readyz fail and stop sending requests before the listener goes away.
    if (drainMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        skipDrain = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Open SSE streams would hold close() forever; clients reconnect elsewhere with Last-Event-ID.
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1000).unref();
    await closed;
  };
  return {
    url: `http://${shownHost}:${address.port}`,
    server,
    drain() {
      draining = true;
    },
    stop() {
      if (stopped) skipDrain?.();
      stopped ??= stop();
      return stopped;
    },
  };
}

export interface RunningWorker {
  worker: Worker;
  /** The workspace-host worker on `chatd-ws-<hostId>`, when this process serves workspaces. */
  hostWorker: Worker | null;
  done: Promise<void>;
  /** What the worker health server's /readyz reports (src/main/worker-http.ts). */
  readiness(): WorkerReadiness;
  stop(): Promise<void>;
}

/**
 * Starts polling the shared task queue and, unless `CHATD_WORKER_SERVE_WORKSPACES=false`, this host's
 * workspace queue; `stop()` drains in-flight tasks of both within the grace time. With `withApi` (the
 * process also runs the API) and CHATD_EARLY_FIRST_STEP on, it also polls its own queue for the first
 * model steps of the turns its API starts, which it begins early (docs/architecture.md "Early first step").
 */
export async function startWorker(
  deps: Deps,
  address: string,
  workflowBundle?: WorkerConfig['workflowBundle'],
  options: { withApi?: boolean } = {},
): Promise<RunningWorker> {
  const connection = await NativeConnection.connect(temporalConnectionOptions(deps.config.temporal, address));
  const early =
    options.withApi && deps.config.earlyFirstStep
      ? new EarlyFirstSteps(deps, EARLY_STEP_PICKUP_SECONDS * 1000)
      : undefined;
  try {
    const common = {
      connection,
      namespace: deps.config.temporal.namespace,
      maxActivities: deps.config.workerMaxActivities,
    };
    const activityDeps = early ? { ...deps, earlySteps: early } : deps;
    const worker = await createWorker(
      { ...common, taskQueue: deps.config.temporal.taskQueue, workflowBundle },
      activityDeps,
    );
    const hostWorker = deps.config.workspaceHost.servedByWorker ? await hostWorkerFor(deps, connection) : null;
    const extra: Worker[] = [];
    if (early) {
      const taskQueue = earlyStepTaskQueue(randomUUID());
      extra.push(await createEarlyStepWorker({ ...common, taskQueue }, activityDeps));
      deps.turns.startFirstStepsHere({ taskQueue, pickupTimeoutSeconds: EARLY_STEP_PICKUP_SECONDS }, (chatId, turn) =>
        early.begin(chatId, turn),
      );
    }
    return running(worker, hostWorker, connection, extra, () => early?.close());
  } catch (err) {
    early?.close();
    await connection.close();
    throw err;
  }
}

/** `chatd workspace-host`: only the tool activities, on this host's task queue. */
export async function startWorkspaceHost(deps: Deps, address: string): Promise<RunningWorker> {
  const connection = await NativeConnection.connect(temporalConnectionOptions(deps.config.temporal, address));
  try {
    return running(await hostWorkerFor(deps, connection), null, connection);
  } catch (err) {
    await connection.close();
    throw err;
  }
}

function hostWorkerFor(deps: Deps, connection: NativeConnection): Promise<Worker> {
  return createWorkspaceHostWorker(
    {
      connection,
      namespace: deps.config.temporal.namespace,
      taskQueue: workspaceHostTaskQueue(deps.config.workspaceHost.id),
      maxActivities: deps.config.workerMaxActivities,
    },
    deps,
  );
}

/**
 * Runs the workers until one stops; the others are then shut down too (`onShutdown` is told), and the
 * connection closed.
 */
function running(
  worker: Worker,
  hostWorker: Worker | null,
  connection: NativeConnection,
  extra: Worker[] = [],
  onShutdown?: () => void,
): RunningWorker {
  const workers = [worker, ...(hostWorker ? [hostWorker] : []), ...extra];
  const shutdown = (): void => {
    onShutdown?.();
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const done = Promise.allSettled(workers.map((w) => w.run().finally(shutdown))).then(async (results) => {
    await connection.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  return {
    worker,
    hostWorker,
    done,
    readiness: () => workerReadiness(workers.map((w) => w.getState())),
    async stop() {
      shutdown();
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
