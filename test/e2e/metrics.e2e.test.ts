/**
 * Metrics and health on the real stack (README "Metrics", "Health"): a turn moves the API's /metrics
 * (request counter by route template, turns, time to first token, tokens, open streams), readiness
 * answers 503 `draining` once the API's stop begins while requests in flight finish, and the worker's
 * health server goes from ready to 503 as its worker drains, serving the Temporal SDK's own metrics
 * (`temporal_*`) from this file's Runtime, installed with its Prometheus exporter by
 * installTemporalRuntime before anything else here touches Temporal.
 */
import { createLogger } from '../../src/log';
import { startApi, startWorker, type RunningApi, type RunningWorker } from '../../src/main/processes';
import { startWorkerHttp, type WorkerHttpServer } from '../../src/main/worker-http';
import { ChatdMetrics } from '../../src/metrics/chatd-metrics';
import { installTemporalRuntime, type TemporalRuntime } from '../../src/temporal/runtime';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text } from '../../src/dev/fake-llm/script';
import { startTestApp, textBody, type TestApp } from '../support/app';
import { SseClient } from '../support/sse';
import { getWorkflowBundle, temporalAddress } from '../support/temporal';
import { until, waitUntil } from '../support/wait';

/** The value of one sample of the Prometheus text, matched by name and exact label set. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of body.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const same =
      Object.keys(found).length === Object.keys(labels).length &&
      Object.entries(labels).every(([k, v]) => found[k] === v);
    if (same) return Number(match[3]);
  }
  return undefined;
}

describe('metrics and health', () => {
  let runtime: TemporalRuntime;
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    runtime = await installTemporalRuntime(createLogger('silent', 'test-temporal'), { metrics: true });
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const scrape = async (url = app.url): Promise<string> => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  it('a turn moves the request, turn, first-token and token metrics of /metrics', async () => {
    fake.enqueue(text('Metrics are counted.', { firstTokenDelayMs: 50 }));
    const created = await app.request('POST', '/chats', textBody('Count this'));
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting');
    // An open stream is counted while it is open.
    expect(sample(await scrape(), 'chatd_sse_streams_open')).toBe(1);
    stream.close();
    await app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`).result();

    // finishTurn reports the turn in the background, after its commit.
    const body = await until(async () => {
      const text = await scrape();
      return sample(text, 'chatd_turns_finished_total', { outcome: 'completed' }) === 1 ? text : undefined;
    }, 'the finished turn on /metrics');
    expect(sample(body, 'chatd_http_requests_total', { method: 'POST', route: '/api/v1/chats', status: '201' })).toBe(
      1,
    );
    expect(sample(body, 'chatd_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/chats' })).toBe(
      1,
    );
    expect(sample(body, 'chatd_turns_started_total')).toBe(1);
    expect(sample(body, 'chatd_turn_duration_seconds_count', { outcome: 'completed' })).toBe(1);
    expect(
      sample(body, 'chatd_model_time_to_first_token_seconds_count', { provider: 'openai', model: 'fake-model' }),
    ).toBe(1);
    expect(
      sample(body, 'chatd_model_call_duration_seconds_count', {
        provider: 'openai',
        model: 'fake-model',
        outcome: 'ok',
      }),
    ).toBe(1);
    expect(
      sample(body, 'chatd_model_tokens_total', { model: 'fake-model', kind: 'step', type: 'output' }),
    ).toBeGreaterThan(0);
    expect(sample(body, 'chatd_sse_streams_open')).toBe(0);
    expect(sample(body, 'chatd_queue_depth', { queue: 'turn_slot' })).toBe(0);
    expect(sample(body, 'chatd_queue_depth', { queue: 'queued_messages' })).toBe(0);
    // The chat's id is never a label: routes are templates.
    expect(body).not.toContain(chatId);
  });

  it('readiness answers 503 draining once the stop begins, while requests in flight finish', async () => {
    const api: RunningApi = await startApi(app.deps, '127.0.0.1', 0, { drainMs: 10 * 60_000 });
    const stream = SseClient.open(`${api.url}/api/v1/chats/watch`, app.token);
    try {
      expect((await fetch(`${api.url}/api/v1/readyz`)).status).toBe(200);
      await waitUntil(async () => sample(await scrape(api.url), 'chatd_sse_streams_open') === 1, 15_000, 'the stream');

      const stopping = api.stop();
      const ready = await fetch(`${api.url}/api/v1/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'draining' });
      // Still serving during the drain: liveness, and a request with its token.
      expect((await fetch(`${api.url}/api/v1/healthz`)).status).toBe(200);
      const me = await fetch(`${api.url}/api/v1/users/me`, { headers: { Authorization: `Bearer ${app.token}` } });
      expect(me.status).toBe(200);
      expect(stream.ended).toBe(false);

      // A second stop skips the rest of the drain: the listener closes and the stream ends.
      await Promise.all([api.stop(), stopping]);
      await stream.waitForEnd();
      await expect(fetch(`${api.url}/api/v1/healthz`)).rejects.toThrow();
    } finally {
      stream.close();
      await api.stop();
    }
  });

  it('the worker health server is ready while the worker runs and answers 503 once it drains', async () => {
    let worker: RunningWorker | null = null;
    const metrics = new ChatdMetrics({ processMetrics: false, temporalMetricsUrl: runtime.metricsUrl });
    const health: WorkerHttpServer = await startWorkerHttp({
      host: '127.0.0.1',
      port: 0,
      metrics,
      metricsToken: undefined,
      readiness: () => worker?.readiness() ?? 'starting',
      log: createLogger('silent', 'test'),
    });
    try {
      const ready = async (): Promise<{ status: number; body: { status: string } }> => {
        const res = await fetch(`${health.url}/readyz`);
        return { status: res.status, body: (await res.json()) as { status: string } };
      };
      expect(await ready()).toEqual({ status: 503, body: { status: 'starting' } });
      worker = await startWorker(app.deps, temporalAddress(), await getWorkflowBundle());
      await waitUntil(async () => (await ready()).status === 200, 30_000, 'the worker to run');
      expect((await ready()).body).toEqual({ status: 'ready' });

      // The SDK's runtime metrics come with chatd's on the same /metrics.
      const text = await until(async () => {
        const body = await scrape(health.url);
        return /^temporal_\w+/m.test(body) ? body : undefined;
      }, 'temporal_ metrics on the worker /metrics');
      expect(text).toMatch(/^# TYPE chatd_turns_started_total counter$/m);
      expect(text).toMatch(/^temporal_\w+(\{[^}]*\})? \S+$/m);

      const stopping = worker.stop();
      const draining = await ready();
      expect(draining.status).toBe(503);
      expect(['draining', 'stopped']).toContain(draining.body.status);
      await stopping;
      expect(await ready()).toEqual({ status: 503, body: { status: 'stopped' } });
      expect((await fetch(`${health.url}/healthz`)).status).toBe(200);
    } finally {
      await worker?.stop();
      await health.close();
    }
  });
});
