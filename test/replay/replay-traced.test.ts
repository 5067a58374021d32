/**
 * Tracing must not change what workflows do: every committed history (recorded without tracing,
 * and chat-workflow.traced.json, recorded with it) replays against the bundle a traced worker runs,
 * with the worker's workflow-span sink; replay exports no span. replay.test.ts replays the same
 * histories, the traced one included, without tracing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from '@temporalio/worker';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { workflowSpanSinks } from '../../src/tracing/temporal';
import { startTracing, type Tracing } from '../../src/tracing/tracing';
import { getTracedWorkflowBundle } from '../support/temporal';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const load = (file: string): { events: Array<Record<string, any>> } =>
  JSON.parse(readFileSync(path.join(dir, file), 'utf8'));

describe('replay of committed chatWorkflow histories with tracing on', () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;

  beforeAll(() => {
    tracing = startTracing({ serviceName: 'chatd-replay', processors: [new SimpleSpanProcessor({ exporter })] });
  });
  afterAll(() => tracing.shutdown());

  it('includes a history recorded with tracing', () => {
    expect(files).toContain('chat-workflow.traced.json');
    expect(JSON.stringify(load('chat-workflow.traced.json'))).toContain('_tracer-data');
  });

  it.each(files)('%s replays against the traced workflows', async (file) => {
    await expect(
      Worker.runReplayHistory(
        { workflowBundle: await getTracedWorkflowBundle(), sinks: workflowSpanSinks(tracing) },
        load(file),
        file,
      ),
    ).resolves.toBeUndefined();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
