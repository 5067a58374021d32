/**
 * Traces (README "Traces") on the real stack with an in-memory exporter: one turn is one trace from
 * the POST that starts it to the turn's end. The HTTP server span is the root; Temporal's client,
 * workflow (exported from the sandbox through the worker's sink) and activity spans follow it; the
 * model call carries the GenAI attributes, each tool call has its span, database statements theirs,
 * and the span of the activity that ended the turn (here the last model step) the turn's tokens and cost.
 */
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { startTracing } from '../../src/tracing/tracing';
import { startTestApp, textBody, type TestApp } from '../support/app';
import { captureHistory } from '../support/temporal';
import { until } from '../support/wait';

describe('tracing a turn', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  const exporter = new InMemorySpanExporter();

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    const tracing = startTracing({
      serviceName: 'chatd-test',
      processors: [new SimpleSpanProcessor({ exporter })],
    });
    app = await startTestApp({ fake, tracing });
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('records the turn as one trace from the POST to the finish', async () => {
    // Priced, so the model calls and the turn carry their cost.
    const priced = await app.request('PATCH', `/model-configs/${app.modelConfigId}`, {
      options: { cost: { input_price_per_million_tokens: 2, output_price_per_million_tokens: 4 } },
    });
    expect(priced.status).toBe(200);
    fake.enqueue(
      toolCalls([{ id: 'call_trace', name: 'execute', args: { command: 'echo traced' } }]),
      text('Traced answer.'),
    );
    const created = await app.request('POST', '/chats', textBody('Trace this turn'));
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    expect(await handle.result()).toEqual({ outcome: 'completed', steps: 2 });

    const root = await until(
      async () => exporter.getFinishedSpans().find((s) => s.name === 'POST /api/v1/chats' && !s.parentSpanContext),
      'the POST span',
    );
    const traceId = root.spanContext().traceId;
    const inTrace = (): ReadableSpan[] =>
      exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    // The workflow's spans leave the sandbox when its run ends.
    await until(
      async () => (inTrace().some((s) => s.name === 'RunWorkflow:chatWorkflow') ? true : undefined),
      'the workflow span',
    );
    const spans = inTrace();
    const named = (name: string): ReadableSpan[] => spans.filter((s) => s.name === name);
    const one = (name: string): ReadableSpan => {
      const found = named(name);
      expect(found.map((s) => s.name)).toEqual([name]);
      return found[0]!;
    };
    const parentOf = (span: ReadableSpan): ReadableSpan | undefined =>
      spans.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId);

    expect(root.kind).toBe(SpanKind.SERVER);
    expect(root.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/v1/chats',
      'http.response.status_code': 201,
    });
    expect(root.attributes['chatd.request_id']).toEqual(expect.any(String));

    const start = one('SignalWithStartWorkflow:chatWorkflow');
    expect(parentOf(start)).toBe(root);
    const run = one('RunWorkflow:chatWorkflow');
    expect(parentOf(run)).toBe(start);
    expect(run.attributes.temporalWorkflowId).toBe(`chat-${chatId}`);

    const modelActivities = named('RunActivity:runModelStep');
    expect(modelActivities).toHaveLength(2);
    for (const activity of modelActivities) {
      expect(parentOf(activity)?.name).toBe('StartActivity:runModelStep');
      expect(parentOf(parentOf(activity)!)).toBe(run);
    }

    const modelCalls = named('chat fake-model');
    expect(modelCalls).toHaveLength(2);
    for (const call of modelCalls) {
      expect(modelActivities).toContain(parentOf(call));
      expect(call.kind).toBe(SpanKind.CLIENT);
      expect(call.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'fake-model',
      });
      expect(call.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(call.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
      expect(call.attributes['chatd.step.cost_micros']).toBe(
        Number(call.attributes['gen_ai.usage.input_tokens']) * 2 +
          Number(call.attributes['gen_ai.usage.output_tokens']) * 4,
      );
    }
    expect(modelCalls.map((c) => c.attributes['gen_ai.response.finish_reasons'])).toEqual(
      expect.arrayContaining([['tool-calls'], ['stop']]),
    );

    // Without a workspace the tool answers the model with an error: an error outcome, not a failure.
    const tool = one('execute_tool execute');
    expect(parentOf(tool)?.name).toBe('RunActivity:runTools');
    expect(tool.attributes).toMatchObject({ 'gen_ai.tool.name': 'execute', 'chatd.tool.outcome': 'error' });

    // Statements of the request and of the activities are in the trace, below their spans.
    const statements = spans.filter((s) => s.attributes['db.system.name'] === 'postgresql');
    expect(statements.some((s) => parentOf(s) === root)).toBe(true);
    expect(statements.some((s) => modelActivities.includes(parentOf(s)!))).toBe(true);
    expect(statements.every((s) => typeof s.attributes['db.query.text'] === 'string')).toBe(true);

    // The last model step ended the turn: no finishTurn activity, and its span carries the turn's figures.
    expect(named('RunActivity:finishTurn')).toEqual([]);
    const ends = spans.filter((s) => s.attributes['chatd.turn.outcome'] !== undefined);
    expect(ends.map((s) => s.name)).toEqual(['RunActivity:runModelStep']);
    const finish = ends[0]!;
    expect(finish.attributes['chatd.turn.outcome']).toBe('completed');
    const outputTokens = modelCalls.reduce((sum, c) => sum + Number(c.attributes['gen_ai.usage.output_tokens']), 0);
    expect(finish.attributes['chatd.turn.output_tokens']).toBe(outputTokens);
    const stepCosts = modelCalls.map((c) => Number(c.attributes['chatd.step.cost_micros']));
    expect(finish.attributes['chatd.turn.cost_micros']).toBe(stepCosts[0]! + stepCosts[1]!);

    // Every span of the trace hangs from the POST.
    for (const span of spans) {
      let top = span;
      while (parentOf(top)) top = parentOf(top)!;
      expect(top).toBe(root);
    }

    await captureHistory(handle, 'chat-workflow.traced');
  });
});
