/**
 * Public entry point of the fake LLM provider used by tests, the demo and the benchmarks: the server, the
 * script builders and the knob-driven fallback. Import from here (`test/support/fake-llm`).
 */
export * from './script';
export * from './server';
export { createKnobResponder, DEMO_KNOBS, demoAnswer, knobsFromModel, parseKnobs, type FakeKnobs } from './knobs';
export { lastUserText, endsWithToolResult } from './request';
