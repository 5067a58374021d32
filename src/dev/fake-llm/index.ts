/**
 * The fake LLM provider, chatd's dev tool for running without a provider account and for injecting provider
 * faults (docs/fake-llm.md): the server, the script builders and the knob-driven fallback. `npm run fake-llm`
 * runs it as its own process (main.ts); `npm run demo`, the benchmarks and the test suites start it in-process.
 */
export * from './script';
export * from './server';
export { createKnobResponder, DEMO_KNOBS, demoAnswer, knobsFromModel, parseKnobs, type FakeKnobs } from './knobs';
export { lastUserText, endsWithToolResult } from './request';
