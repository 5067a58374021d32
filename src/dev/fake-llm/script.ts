/**
 * The script vocabulary of the fake LLM server: protocol-agnostic steps, the builders that write them, and the
 * token helpers that size and pace them. One step answers exactly one HTTP request; server.ts renders it in the
 * wire format of whichever endpoint (OpenAI Chat Completions, OpenAI Responses, Anthropic Messages) the request
 * hit. Steps are plain JSON, so a running fake takes them over HTTP too (`POST /__fake/enqueue`).
 */

/**
 * Token accounting reported by a step. Each number is rendered verbatim into the provider's own field:
 * OpenAI `prompt_tokens`/`input_tokens` (which *include* cached tokens) and Anthropic `input_tokens` (which
 * *exclude* them), so pick numbers with the provider's semantics in mind. `outputTokens` includes reasoning.
 */
export interface FakeUsage {
  inputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
}

/** Streaming pace of a step. Defaults: one token per chunk, no first-token delay, as fast as possible. */
export interface FakePacing {
  /** Tokens per SSE chunk (tool arguments are split in pieces of about 8 characters, each one "token"). */
  chunkSize?: number;
  /** Delay between the stream preamble (`message_start`, `response.created`, …) and the first content. */
  firstTokenDelayMs?: number;
  /** Tokens per second, measured with real timers; 0 or unset = as fast as possible. */
  tokensPerSecond?: number;
}

/** One function/tool call the fake model makes. `args` may be a raw (even malformed) JSON string. */
export interface FakeToolCall {
  /** Call id; generated in the provider's style (`call_…` / `toolu_…`) when omitted. */
  id?: string;
  name: string;
  args: Record<string, unknown> | string;
}

/** One web search hit returned by a provider-executed web search. */
export interface FakeSearchResult {
  url: string;
  title: string;
}

/** A streamed (or complete) assistant answer, optionally preceded by reasoning / extended thinking. */
export interface FakeTextStep extends FakePacing {
  kind: 'text';
  content: string;
  /** Reasoning summary (OpenAI Responses), thinking (Anthropic) or `reasoning_content` (Chat Completions). */
  reasoning?: string;
  /** Anthropic thinking signature / OpenAI `encrypted_content`; generated when reasoning is set and this is not. */
  signature?: string;
  usage?: Partial<FakeUsage>;
  /** `length` renders `finish_reason: length` / `response.incomplete` / `stop_reason: max_tokens`. */
  finishReason?: 'stop' | 'length';
  /** Replace every token with `@<epoch ms with fractional part> ` stamped when the token is written. */
  stampTokens?: boolean;
}

/** The model asks for one or more local tool calls (finish reason `tool_calls` / `tool_use`). */
export interface FakeToolCallsStep extends FakePacing {
  kind: 'tool-calls';
  calls: FakeToolCall[];
  /** Text the model says before calling the tools. */
  text?: string;
  usage?: Partial<FakeUsage>;
}

/** A provider-executed web search (Anthropic `server_tool_use`, OpenAI `web_search_call`) and the answer. */
export interface FakeWebSearchStep extends FakePacing {
  kind: 'web-search';
  query: string;
  results: FakeSearchResult[];
  text: string;
  usage?: Partial<FakeUsage>;
}

/** An HTTP error with the provider's real error body and headers for that status. */
export interface FakeErrorStep {
  kind: 'error';
  status: number;
  /** Sets `retry-after`; a 429 always carries one (default 1 s). */
  retryAfterSeconds?: number;
  /** Overrides the provider error type (Anthropic `error.type`, OpenAI `error.type`/`code`). */
  type?: string;
  message?: string;
  /** OpenAI only: the error's `code` and `param` fields. */
  code?: string | null;
  param?: string | null;
}

/** HTTP 200, optionally some text, then an in-stream failure (Anthropic `event: error` overloaded_error). */
export interface FakeOverloadedInStreamStep extends FakePacing {
  kind: 'overloaded-in-stream';
  afterText?: string;
}

/** HTTP 200, part of the stream, then the socket is destroyed without finishing the response. */
export interface FakeCutStep extends FakePacing {
  kind: 'cut';
  afterText: string;
}

/** HTTP 200 headers (and optional text), then nothing until the client aborts or the server closes. */
export interface FakeHangStep extends FakePacing {
  kind: 'hang';
  afterText?: string;
}

/** One scripted answer to one HTTP request. */
export type FakeStep =
  | FakeTextStep
  | FakeToolCallsStep
  | FakeWebSearchStep
  | FakeErrorStep
  | FakeOverloadedInStreamStep
  | FakeCutStep
  | FakeHangStep;

/** Every `FakeStep['kind']`, for validating steps that arrive as JSON. */
export const FAKE_STEP_KINDS: ReadonlyArray<FakeStep['kind']> = [
  'text',
  'tool-calls',
  'web-search',
  'error',
  'overloaded-in-stream',
  'cut',
  'hang',
];

/** Options of {@link text}. */
export interface TextOptions extends FakePacing {
  reasoning?: string;
  signature?: string;
  usage?: Partial<FakeUsage>;
  finishReason?: 'stop' | 'length';
  stampTokens?: boolean;
}

/** A streamed text answer (finish reason `stop` unless `finishReason: 'length'`). */
export function text(content: string, opts: TextOptions = {}): FakeTextStep {
  return { kind: 'text', content, ...opts };
}

/** Options of {@link toolCalls}. */
export interface ToolCallsOptions extends FakePacing {
  text?: string;
  usage?: Partial<FakeUsage>;
}

/** The model calls local tools; arguments are streamed split across several chunks. */
export function toolCalls(calls: FakeToolCall[], opts: ToolCallsOptions = {}): FakeToolCallsStep {
  return { kind: 'tool-calls', calls, ...opts };
}

/** Options of {@link webSearch}. */
export interface WebSearchOptions extends FakePacing {
  query: string;
  results: FakeSearchResult[];
  text: string;
  usage?: Partial<FakeUsage>;
}

/** A provider-executed web search followed by the answer text. */
export function webSearch(opts: WebSearchOptions): FakeWebSearchStep {
  return { kind: 'web-search', ...opts };
}

/** Options of {@link error}. */
export interface ErrorOptions {
  retryAfterSeconds?: number;
  type?: string;
  message?: string;
  /** OpenAI only: the error's `code` and `param` fields. */
  code?: string | null;
  param?: string | null;
}

/** An HTTP error response with the provider's real body for `status` (429, 500, 529, 401, 400, …). */
export function error(status: number, opts: ErrorOptions = {}): FakeErrorStep {
  return { kind: 'error', status, ...opts };
}

/** HTTP 200 then a mid-stream failure; for non-streaming requests this is an overloaded HTTP error. */
export function overloadedInStream(opts: { afterText?: string } & FakePacing = {}): FakeOverloadedInStreamStep {
  return { kind: 'overloaded-in-stream', ...opts };
}

/** Streams `afterText`, then destroys the socket (the client sees a connection error). */
export function cut(opts: { afterText: string } & FakePacing): FakeCutStep {
  return { kind: 'cut', ...opts };
}

/** Sends headers (and `afterText`), then never finishes until the client aborts; the abort is recorded. */
export function hang(opts: { afterText?: string } & FakePacing = {}): FakeHangStep {
  return { kind: 'hang', ...opts };
}

/** A one-line description of a step, used in failure messages. */
export function describeStep(step: FakeStep): string {
  switch (step.kind) {
    case 'text':
      return `text(${JSON.stringify(truncate(step.content, 40))})`;
    case 'tool-calls':
      return `toolCalls(${step.calls.map((c) => c.name).join(', ')})`;
    case 'web-search':
      return `webSearch(${JSON.stringify(step.query)})`;
    case 'error':
      return `error(${step.status})`;
    case 'overloaded-in-stream':
      return 'overloadedInStream()';
    case 'cut':
      return `cut(after ${JSON.stringify(truncate(step.afterText, 40))})`;
    case 'hang':
      return 'hang()';
  }
}

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Splits text into "tokens": each is one word with the whitespace before it (like a BPE ` word` token).
 * Joining the result gives back the input exactly.
 */
export function splitTokens(input: string): string[] {
  const tokens: string[] = input.match(/\s*\S+/g) ?? [];
  const consumed = tokens.reduce((n, t) => n + t.length, 0);
  const tail = input.slice(consumed);
  if (tail.length > 0) {
    if (tokens.length > 0) tokens[tokens.length - 1] += tail;
    else tokens.push(tail);
  }
  return tokens;
}

/** The number of tokens {@link splitTokens} finds in `input`. */
export function countTokens(input: string): number {
  return splitTokens(input).length;
}

/** Splits a tool-argument string into pieces of at most `size` characters, so it streams over several chunks. */
export function splitArgs(args: string, size = 8): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < args.length; i += size) pieces.push(args.slice(i, i + size));
  return pieces;
}

/** A rough input-token estimate (4 characters per token) of any JSON value. */
export function estimateTokens(value: unknown): number {
  const json = JSON.stringify(value ?? '') ?? '';
  return Math.max(1, Math.ceil(json.length / 4));
}

/** The text of a stamped token: `@<epoch ms, 3 decimals> `, from `performance.timeOrigin + performance.now()`. */
export function stampToken(): string {
  return `@${(performance.timeOrigin + performance.now()).toFixed(3)} `;
}
