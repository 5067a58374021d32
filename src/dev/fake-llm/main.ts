/**
 * The fake LLM as its own process (`npm run fake-llm -- [options]`; the benchmarks start it the same way):
 * point chatd's providers at it to chat without an account or to inject provider faults (docs/fake-llm.md).
 * Prints its URLs, answers from the knob-driven fallback when its script queue is empty, exposes the
 * `/__fake/*` control endpoints, and stops cleanly on SIGINT/SIGTERM. Reads no environment variables.
 */
import { parseArgs } from 'node:util';

import { createKnobResponder, DEMO_KNOBS, parseKnobs } from './knobs';
import { FakeLlmServer } from './server';

const USAGE = `Usage: npm run fake-llm -- [options]   (or: npx tsx src/dev/fake-llm/main.ts [options])

  --port <n>        port to listen on (default 4010; 0 = any free port)
  --host <addr>     interface to bind (default 127.0.0.1)
  --ttft <ms>       first-token delay (default ${DEMO_KNOBS.ttft})
  --tps <n>         tokens per second, 0 = as fast as possible (default ${DEMO_KNOBS.tps})
  --tokens <n>      answer length in tokens (default: the demo answer)
  --chunk <n>       tokens per SSE chunk (default 1)
  --tools <n>       tool calls on the first request of each turn (default 0)
  --tool <name>     tool to call (default execute)
  --args <json>     tool arguments (default {"command":"echo hello from fake-llm"} for execute)
  --error <kind>    inject 429 | 500 | 529 | <status> | overloaded | cut | hang
  --p <0..1>        probability of the injected error per request (default 1)
  --every <n>       inject the error on every Nth request instead
  --retry <s>       retry-after seconds of an injected 429 (default 1)
  --ts              stamp every token as "@<epoch ms> " for exact per-token latency
  --record <n>      keep only the last N requests for /__fake/requests (default 1000)
  --verbose         log one line per request

Per request, the same knobs can be given in the model name: fake?ttft=300&tps=100&tokens=2000&tools=1&error=429&every=3&ts=1
Control: POST /__fake/enqueue (JSON array of steps), GET /__fake/requests, POST /__fake/reset, GET /__fake/health`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '4010' },
      host: { type: 'string', default: '127.0.0.1' },
      ttft: { type: 'string' },
      tps: { type: 'string' },
      tokens: { type: 'string' },
      chunk: { type: 'string' },
      tools: { type: 'string' },
      tool: { type: 'string' },
      args: { type: 'string' },
      error: { type: 'string' },
      p: { type: 'string' },
      every: { type: 'string' },
      retry: { type: 'string' },
      ts: { type: 'boolean', default: false },
      record: { type: 'string', default: '1000' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const { port, host, ts, record, verbose, help: _help, ...knobFlags } = values;
  const base = parseKnobs({ ...knobFlags, ...(ts ? { ts: '1' } : {}) }, DEMO_KNOBS);
  const fake = await FakeLlmServer.start({
    port: Number(port),
    host,
    fallback: createKnobResponder(base),
    maxRecorded: Number(record),
    onRequest: verbose
      ? (req) =>
          console.log(
            `${new Date().toISOString()} ${req.protocol} ${req.model} -> ${
              req.rejected !== undefined ? `400 ${req.rejected}` : (req.step?.kind ?? 'unplanned')
            }`,
          )
      : undefined,
  });
  console.log(`fake-llm listening on ${fake.url}`);
  console.log(`  OpenAI base URL:    ${fake.openaiBaseUrl}`);
  console.log(`  Anthropic base URL: ${fake.anthropicBaseUrl}`);
  console.log(`  knobs: ${JSON.stringify(base)}`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`fake-llm: ${signal}, shutting down`);
    setTimeout(() => process.exit(1), 5_000).unref();
    fake.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('fake-llm: close failed', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
