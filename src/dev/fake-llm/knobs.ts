/**
 * Benchmark and demo knobs of the fake LLM: parsing them from CLI flags or from a model name such as
 * `fake?ttft=300&tps=100&tokens=2000&tools=1&error=429&every=3&chunk=1&ts=1`, and the fallback responder that
 * turns them into steps (a friendly paced answer quoting the user, tool calls, injected errors).
 */
import { endsWithToolResult, lastUserText, type RecordedRequest } from './request';
import {
  cut,
  error,
  hang,
  overloadedInStream,
  splitTokens,
  text,
  toolCalls,
  type FakePacing,
  type FakeStep,
} from './script';
import type { FakeResponder } from './server';

/** Knobs of the fallback responder. Per-request values (from the model name) override the CLI defaults. */
export interface FakeKnobs {
  /** First-token delay in ms (`ttft`). */
  ttft: number;
  /** Tokens per second; 0 = as fast as possible (`tps`). */
  tps: number;
  /** Answer length in tokens (`tokens`); default: the demo answer's own length. */
  tokens?: number;
  /** Tokens per SSE chunk (`chunk`). */
  chunk: number;
  /** Tool calls on the first request of a turn (`tools`). */
  tools: number;
  /** Name of the tool called (`tool`, default `execute`). */
  tool: string;
  /** Tool arguments as JSON (`args`); default `{ command: 'echo hello from fake-llm' }` for `execute`, else `{}`. */
  args?: Record<string, unknown>;
  /** Injected failure (`error`): 429, 500, 529 or any HTTP status, `overloaded` (in-stream), `cut`, `hang`. */
  error?: string;
  /** Probability of injecting `error` per request (`p`, default 1 when `every` is unset). */
  p?: number;
  /** Inject `error` on every Nth request instead (`every`). */
  every?: number;
  /** `retry-after` seconds of an injected 429 (`retry`). */
  retryAfter: number;
  /** Stamp every token as `@<epoch ms> ` for exact per-token latency (`ts=1`). */
  ts: boolean;
}

/** Defaults of the standalone process: a human-watchable demo (about 40 tokens/s). */
export const DEMO_KNOBS: FakeKnobs = {
  ttft: 250,
  tps: 40,
  chunk: 1,
  tools: 0,
  tool: 'execute',
  retryAfter: 1,
  ts: false,
};

const ERROR_KINDS = ['overloaded', 'cut', 'hang'];

function num(name: string, raw: string, min: number, max = Number.POSITIVE_INFINITY): number {
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    throw new Error(`fake-llm: knob ${name}=${raw} must be a number in [${min}, ${max}]`);
  }
  return value;
}

/**
 * Applies knobs from `source` (URL query parameters or CLI flags) on top of `base`. Unknown names are ignored;
 * invalid values throw, so a mistyped model name fails the request loudly instead of silently doing nothing.
 */
export function parseKnobs(source: URLSearchParams | Record<string, string | undefined>, base: FakeKnobs): FakeKnobs {
  const get = (name: string): string | undefined =>
    source instanceof URLSearchParams ? (source.get(name) ?? undefined) : source[name];
  const k: FakeKnobs = { ...base };
  const set = (name: string, apply: (raw: string) => void): void => {
    const raw = get(name);
    if (raw !== undefined) apply(raw);
  };
  set('ttft', (v) => (k.ttft = num('ttft', v, 0)));
  set('tps', (v) => (k.tps = num('tps', v, 0)));
  set('tokens', (v) => (k.tokens = Math.floor(num('tokens', v, 1))));
  set('chunk', (v) => (k.chunk = Math.floor(num('chunk', v, 1))));
  set('tools', (v) => (k.tools = Math.floor(num('tools', v, 0, 64))));
  set('tool', (v) => (k.tool = v));
  set('args', (v) => {
    const parsed: unknown = JSON.parse(v);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`fake-llm: knob args=${v} must be a JSON object`);
    }
    k.args = parsed as Record<string, unknown>;
  });
  set('error', (v) => {
    if (!ERROR_KINDS.includes(v)) num('error', v, 400, 599);
    k.error = v;
  });
  set('p', (v) => (k.p = num('p', v, 0, 1)));
  set('every', (v) => (k.every = Math.floor(num('every', v, 1))));
  set('retry', (v) => (k.retryAfter = num('retry', v, 0)));
  set('ts', (v) => (k.ts = v === '1' || v === 'true'));
  return k;
}

/** Knobs for one request: the part of the model name after `?` applied on top of `base`. */
export function knobsFromModel(model: string, base: FakeKnobs): FakeKnobs {
  const q = model.indexOf('?');
  return q < 0 ? { ...base } : parseKnobs(new URLSearchParams(model.slice(q + 1)), base);
}

const FILLER =
  'The quick brown fox jumps over the lazy dog while the fake model keeps talking so that the benchmark has enough tokens to measure.';

/** The demo answer: a few friendly sentences quoting `userText`, stretched or cut to `tokens` tokens if given. */
export function demoAnswer(userText: string, tokens?: number): string {
  const quote = userText.replace(/\s+/g, ' ').trim();
  const shown = quote.length > 160 ? `${quote.slice(0, 160)}…` : quote || '(nothing)';
  const answer =
    `You said: "${shown}". I am the chatd fake model, so I cannot really think about it, but I can stream ` +
    'a reply so you can watch the words arrive one by one. Each word travels as its own server-sent event, ' +
    'through the worker, the stream bus and the API, exactly like a real model answer would. Send another ' +
    'message and I will echo it back the same way.';
  if (tokens === undefined) return answer;
  const out = splitTokens(answer).slice(0, tokens);
  const filler = splitTokens(` ${FILLER}`);
  for (let i = 0; out.length < tokens; i++) out.push(filler[i % filler.length] ?? ' fake');
  return out.join('');
}

function firstTokens(s: string, n: number): string {
  return splitTokens(s).slice(0, n).join('');
}

function injectedStep(k: FakeKnobs, answer: string, pacing: FakePacing): FakeStep {
  switch (k.error) {
    case 'overloaded':
      return overloadedInStream({ afterText: firstTokens(answer, 5), ...pacing });
    case 'cut':
      return cut({
        afterText: firstTokens(answer, Math.max(1, Math.floor(splitTokens(answer).length / 2))),
        ...pacing,
      });
    case 'hang':
      return hang({ afterText: firstTokens(answer, 5), ...pacing });
    default: {
      const status = Number(k.error);
      return error(status, status === 429 ? { retryAfterSeconds: k.retryAfter } : {});
    }
  }
}

/**
 * The fallback of the standalone process: per request, reads knobs from the model name over `base`, then
 * injects the configured error (every Nth request or with probability `p`), or makes `tools` tool calls on
 * the first request of a turn, or streams the demo answer.
 */
export function createKnobResponder(base: FakeKnobs): FakeResponder {
  let served = 0;
  return (req: RecordedRequest): FakeStep => {
    const k = knobsFromModel(req.model, base);
    served += 1;
    const pacing: FakePacing = { firstTokenDelayMs: k.ttft, tokensPerSecond: k.tps, chunkSize: k.chunk };
    const answer = demoAnswer(lastUserText(req), k.tokens);
    if (k.error !== undefined) {
      const inject = k.every !== undefined ? served % k.every === 0 : Math.random() < (k.p ?? 1);
      if (inject) return injectedStep(k, answer, pacing);
    }
    if (k.tools > 0 && !endsWithToolResult(req)) {
      const args = k.args ?? (k.tool === 'execute' ? { command: 'echo hello from fake-llm' } : {});
      const calls = Array.from({ length: k.tools }, () => ({ name: k.tool, args }));
      return toolCalls(calls, { text: firstTokens(answer, 8), ...pacing });
    }
    return text(answer, { ...pacing, stampTokens: k.ts });
  };
}
