/**
 * The process's metrics (src/metrics/chatd-metrics.ts): what each port call shows in the Prometheus text,
 * the cached queue depth, and the Temporal SDK's exporter appended to `/metrics` (a local fake exporter).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChatdMetrics } from '../../../src/metrics/chatd-metrics';
import { fetchExposition } from '../../../src/metrics/exposition';
import { emptyUsage } from '../../../src/llm/types';

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (
      Object.entries(labels).every(([k, v]) => found[k] === v) &&
      Object.keys(found).length === Object.keys(labels).length
    )
      return Number(match[3]);
  }
  return undefined;
}

async function fakeExporter(body: string, status = 200): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/metrics`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('ChatdMetrics', () => {
  it('counts HTTP requests by method, route template and status, with a latency histogram', async () => {
    const metrics = new ChatdMetrics({ processMetrics: false });
    metrics.httpRequest({ method: 'POST', route: '/api/v1/chats', status: 201, seconds: 0.02 });
    metrics.httpRequest({ method: 'POST', route: '/api/v1/chats', status: 201, seconds: 0.2 });
    metrics.httpRequest({ method: 'GET', route: 'unmatched', status: 404, seconds: 0.001 });
    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(body, 'chatd_http_requests_total', { method: 'POST', route: '/api/v1/chats', status: '201' })).toBe(
      2,
    );
    expect(sample(body, 'chatd_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(sample(body, 'chatd_http_request_duration_seconds_count', { method: 'POST', route: '/api/v1/chats' })).toBe(
      2,
    );
    expect(
      sample(body, 'chatd_http_request_duration_seconds_bucket', {
        method: 'POST',
        route: '/api/v1/chats',
        le: '0.025',
      }),
    ).toBe(1);
  });

  it('reports turns, model calls, tokens, cost and tool calls', async () => {
    const metrics = new ChatdMetrics({ processMetrics: false });
    metrics.turnStarted({ chatId: 'c1', turn: 1 });
    metrics.turnFinished({ chatId: 'c1', turn: 1 }, 'completed');
    // Started in another worker process: counted, without a duration.
    metrics.turnFinished({ chatId: 'c2', turn: 4 }, 'failed');
    metrics.modelCall({ provider: 'openai', model: 'gpt-x', outcome: 'ok', firstTokenSeconds: 0.4, seconds: 3 });
    metrics.modelCall({
      provider: 'openai',
      model: 'gpt-x',
      outcome: 'rate_limit',
      firstTokenSeconds: null,
      seconds: 1,
    });
    metrics.modelUsage({
      model: 'gpt-x',
      kind: 'step',
      usage: { ...emptyUsage(), inputTokens: 100, outputTokens: 20, cacheReadTokens: 50 },
      costMicros: 2_500,
    });
    metrics.modelUsage({
      model: 'cheap',
      kind: 'title',
      usage: { ...emptyUsage(), outputTokens: 5 },
      costMicros: null,
    });
    metrics.toolCall({ tool: 'execute', outcome: 'ok', seconds: 0.3 });
    metrics.toolCall({ tool: 'mcp', outcome: 'error', seconds: 2 });
    const { body } = await metrics.render();

    expect(sample(body, 'chatd_turns_started_total')).toBe(1);
    expect(sample(body, 'chatd_turns_finished_total', { outcome: 'completed' })).toBe(1);
    expect(sample(body, 'chatd_turns_finished_total', { outcome: 'failed' })).toBe(1);
    // A turn without a known start counts as finished but has no duration.
    expect(sample(body, 'chatd_turn_duration_seconds_count', { outcome: 'completed' })).toBe(1);
    expect(sample(body, 'chatd_turn_duration_seconds_count', { outcome: 'failed' })).toBeUndefined();
    // Time to first token only for calls that streamed output; every call in the duration histogram.
    expect(sample(body, 'chatd_model_time_to_first_token_seconds_count', { provider: 'openai', model: 'gpt-x' })).toBe(
      1,
    );
    expect(
      sample(body, 'chatd_model_call_duration_seconds_count', {
        provider: 'openai',
        model: 'gpt-x',
        outcome: 'rate_limit',
      }),
    ).toBe(1);
    expect(sample(body, 'chatd_model_tokens_total', { model: 'gpt-x', kind: 'step', type: 'input' })).toBe(100);
    expect(sample(body, 'chatd_model_tokens_total', { model: 'gpt-x', kind: 'step', type: 'output' })).toBe(20);
    expect(sample(body, 'chatd_model_tokens_total', { model: 'gpt-x', kind: 'step', type: 'cache_read' })).toBe(50);
    expect(
      sample(body, 'chatd_model_tokens_total', { model: 'gpt-x', kind: 'step', type: 'reasoning' }),
    ).toBeUndefined();
    expect(sample(body, 'chatd_model_cost_usd_total', { model: 'gpt-x', kind: 'step' })).toBeCloseTo(0.0025, 10);
    expect(sample(body, 'chatd_model_unpriced_calls_total', { model: 'cheap', kind: 'title' })).toBe(1);
    expect(sample(body, 'chatd_tool_call_duration_seconds_count', { tool: 'execute', outcome: 'ok' })).toBe(1);
    expect(sample(body, 'chatd_tool_call_duration_seconds_count', { tool: 'mcp', outcome: 'error' })).toBe(1);
  });

  it('reports open streams and the bus', async () => {
    const metrics = new ChatdMetrics({ processMetrics: false });
    metrics.openStreams.inc();
    metrics.openStreams.inc();
    metrics.openStreams.dec();
    metrics.delivered(0.004);
    metrics.sent(0.001);
    metrics.dropped(3);
    const { body } = await metrics.render();
    expect(sample(body, 'chatd_sse_streams_open')).toBe(1);
    expect(sample(body, 'chatd_bus_delivery_lag_seconds_count')).toBe(1);
    expect(sample(body, 'chatd_bus_delivery_lag_seconds_bucket', { le: '0.005' })).toBe(1);
    expect(sample(body, 'chatd_bus_notify_wait_seconds_count')).toBe(1);
    expect(sample(body, 'chatd_bus_notify_dropped_total')).toBe(3);
  });

  it('includes process metrics unless turned off', async () => {
    expect((await new ChatdMetrics().render()).body).toMatch(/^process_cpu_user_seconds_total /m);
    expect((await new ChatdMetrics({ processMetrics: false }).render()).body).not.toMatch(/^process_/m);
  });

  it('samples the queue depth once per cache period and reads again after a failure', async () => {
    const metrics = new ChatdMetrics({ processMetrics: false, queueDepthCacheMs: 60_000 });
    expect(sample((await metrics.render()).body, 'chatd_queue_depth', { queue: 'turn_slot' })).toBeUndefined();

    let reads = 0;
    let fail = true;
    metrics.readQueueDepthFrom(async () => {
      reads += 1;
      if (fail) throw new Error('database down');
      return { awaitingSlot: 4, queuedMessages: 7 };
    });
    expect(sample((await metrics.render()).body, 'chatd_queue_depth', { queue: 'turn_slot' })).toBeUndefined();
    fail = false;
    const { body } = await metrics.render();
    expect(sample(body, 'chatd_queue_depth', { queue: 'turn_slot' })).toBe(4);
    expect(sample(body, 'chatd_queue_depth', { queue: 'queued_messages' })).toBe(7);
    await metrics.render();
    expect(reads).toBe(2);
  });

  it("appends the Temporal SDK exporter's text, and leaves it out when the exporter fails", async () => {
    const exporter = await fakeExporter(
      '# HELP temporal_request x\n# TYPE temporal_request counter\ntemporal_request{a="b"} 5\n',
    );
    const failing = await fakeExporter('nope', 500);
    try {
      const merged = (await new ChatdMetrics({ processMetrics: false, temporalMetricsUrl: exporter.url }).render())
        .body;
      expect(sample(merged, 'temporal_request', { a: 'b' })).toBe(5);
      expect(merged).toMatch(/^# TYPE chatd_turns_started_total counter$/m);
      // One exposition: chatd's families, then Temporal's, each line on its own.
      expect(merged.indexOf('chatd_turns_started_total')).toBeLessThan(merged.indexOf('temporal_request'));
      expect(merged).toMatch(/\n# HELP temporal_request x\n/);
      expect(merged.endsWith('\n')).toBe(true);

      const alone = (await new ChatdMetrics({ processMetrics: false, temporalMetricsUrl: failing.url }).render()).body;
      expect(alone).toMatch(/^chatd_turns_started_total 0$/m);
      expect(alone).not.toContain('nope');
    } finally {
      await exporter.close();
      await failing.close();
    }
  });

  it('reads nothing from an exporter that does not answer', async () => {
    expect(await fetchExposition('http://127.0.0.1:1/metrics')).toBe('');
  });
});
