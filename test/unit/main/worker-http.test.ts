/**
 * The worker roles' health and metrics server (src/main/worker-http.ts): readiness from the Temporal
 * workers' states, and the server's answers as the process goes from ready to draining.
 */
import { createLogger } from '../../../src/log';
import { startWorkerHttp, workerReadiness, type WorkerReadiness } from '../../../src/main/worker-http';
import { ChatdMetrics } from '../../../src/metrics/chatd-metrics';

describe('workerReadiness', () => {
  it('is ready only when every worker runs', () => {
    expect(workerReadiness(['RUNNING'])).toBe('ready');
    expect(workerReadiness(['RUNNING', 'RUNNING'])).toBe('ready');
    expect(workerReadiness(['INITIALIZED', 'RUNNING'])).toBe('starting');
    expect(workerReadiness(['RUNNING', 'STOPPING'])).toBe('draining');
    expect(workerReadiness(['DRAINING'])).toBe('draining');
    expect(workerReadiness(['DRAINED', 'RUNNING'])).toBe('draining');
    expect(workerReadiness(['STOPPED', 'DRAINING'])).toBe('stopped');
    expect(workerReadiness(['FAILED', 'RUNNING'])).toBe('stopped');
  });
});

describe('the worker health server', () => {
  it('answers /healthz, /readyz as the worker goes from ready to draining, and /metrics behind the token', async () => {
    let state: WorkerReadiness = 'starting';
    const metrics = new ChatdMetrics({ processMetrics: false });
    metrics.turnStarted({ chatId: 'c1', turn: 1 });
    const server = await startWorkerHttp({
      host: '127.0.0.1',
      port: 0,
      metrics,
      metricsToken: 'worker-metrics-token-123',
      readiness: () => state,
      log: createLogger('silent', 'test'),
    });
    try {
      const get = async (path: string, headers: Record<string, string> = {}) => {
        const res = await fetch(`${server.url}${path}`, { headers });
        return { status: res.status, text: await res.text() };
      };
      expect(await get('/healthz')).toEqual({ status: 200, text: '{"status":"ok"}' });
      expect(await get('/readyz')).toEqual({ status: 503, text: '{"status":"starting"}' });
      state = 'ready';
      expect(await get('/readyz')).toEqual({ status: 200, text: '{"status":"ready"}' });
      state = 'draining';
      expect(await get('/readyz')).toEqual({ status: 503, text: '{"status":"draining"}' });
      // Liveness holds while the worker drains.
      expect((await get('/healthz')).status).toBe(200);

      expect((await get('/metrics')).status).toBe(401);
      const scraped = await get('/metrics', { Authorization: 'Bearer worker-metrics-token-123' });
      expect(scraped.status).toBe(200);
      expect(scraped.text).toMatch(/^chatd_turns_started_total 1$/m);
      expect((await get('/elsewhere')).status).toBe(404);
      expect((await fetch(`${server.url}/readyz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.close();
    }
  });

  it('fails to start on a port that is taken', async () => {
    const log = createLogger('silent', 'test');
    const options = {
      host: '127.0.0.1',
      metrics: new ChatdMetrics({ processMetrics: false }),
      metricsToken: undefined,
    };
    const first = await startWorkerHttp({ ...options, port: 0, readiness: () => 'ready', log });
    try {
      const port = Number(new URL(first.url).port);
      await expect(startWorkerHttp({ ...options, port, readiness: () => 'ready', log })).rejects.toMatchObject({
        code: 'EADDRINUSE',
      });
    } finally {
      await first.close();
    }
  });
});
