/**
 * The small HTTP server of `chatd worker` and `chatd workspace-host` (CHATD_WORKER_HTTP_PORT, on
 * CHATD_HTTP_HOST; README "Health"): GET /healthz (the process is up), GET /readyz (200 while every
 * Temporal worker of the process is running, 503 while they start, drain or have stopped) and GET
 * /metrics (the process's metrics with the Temporal SDK's, behind CHATD_METRICS_TOKEN when set).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { State } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { ChatdMetrics } from '../metrics/chatd-metrics';
import { METRICS_PATH, serveMetrics } from '../metrics/http';

/** A worker process as /readyz reports it; only `ready` answers 200. */
export type WorkerReadiness = 'starting' | 'ready' | 'draining' | 'stopped';

/** The process's readiness from the states of its Temporal workers: ready only when all run. */
export function workerReadiness(states: readonly State[]): WorkerReadiness {
  if (states.some((s) => s === 'STOPPED' || s === 'FAILED')) return 'stopped';
  if (states.some((s) => s === 'STOPPING' || s === 'DRAINING' || s === 'DRAINED')) return 'draining';
  if (states.some((s) => s === 'INITIALIZED')) return 'starting';
  return 'ready';
}

export interface WorkerHttpOptions {
  host: string;
  /** 0: any free port (tests); the entry point does not start the server for CHATD_WORKER_HTTP_PORT=0. */
  port: number;
  metrics: Pick<ChatdMetrics, 'render'>;
  metricsToken: string | undefined;
  readiness(): WorkerReadiness;
  log: Logger;
}

export interface WorkerHttpServer {
  url: string;
  close(): Promise<void>;
}

const json = (res: http.ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
};

/** Listens on host:port; a port already taken fails the start with the error. */
export async function startWorkerHttp(options: WorkerHttpOptions): Promise<WorkerHttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: { code: 'method_not_allowed', message: 'Only GET is served here.' } });
    } else if (path === '/healthz') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const status = options.readiness();
      json(res, status === 'ready' ? 200 : 503, { status });
    } else if (path === METRICS_PATH) {
      serveMetrics(req, res, options.metrics, options.metricsToken).catch((err: unknown) => {
        options.log.error({ err }, 'metrics scrape failed');
        if (!res.headersSent) json(res, 500, { error: { code: 'internal_error', message: 'Metrics failed.' } });
        else res.destroy();
      });
    } else {
      json(res, 404, { error: { code: 'not_found', message: 'Not found: /healthz, /readyz and /metrics are.' } });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  return {
    url: `http://${shownHost}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
