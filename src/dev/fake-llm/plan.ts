/**
 * What a FakeStep becomes before it is written: a protocol-neutral plan (content blocks in output order, how
 * the answer ends, usage and pacing), and the renderer interface each wire protocol implements for it. Kept
 * apart from render.ts so the three protocol renderers and the driver that picks between them share these
 * types without importing each other.
 */
import { estimateInputTokens, type RecordedRequest } from './request';
import { countTokens, type FakeSearchResult, type FakeStep, type FakeUsage } from './script';
import type { Pacing, ResponseSink } from './sink';

/** One content block of a plan, in output order. */
export type PlanBlock =
  | { type: 'reasoning'; text: string; signature: string }
  | { type: 'text'; text: string; stamp: boolean }
  | { type: 'tool-call'; id: string | undefined; name: string; args: string }
  | { type: 'web-search'; query: string; results: FakeSearchResult[] };

/** How a completed stream ends. */
export type FinishEnding = 'stop' | 'length' | 'tool-calls';

/** How a plan ends: a normal finish or one of the failure modes. */
export type PlanEnding = FinishEnding | 'overloaded' | 'cut' | 'hang';

/** A step reduced to what every protocol needs. */
export interface Plan {
  blocks: PlanBlock[];
  ending: PlanEnding;
  usage: FakeUsage;
  pacing: Pacing;
}

/** Writes one protocol's SSE events / JSON body for a plan. A new renderer is made per request. */
export interface ProtocolRenderer {
  /** Headers of the 200 response (content type, request id, …). */
  headers(stream: boolean): Record<string, string>;
  /** The preamble (`message_start`, `response.created`, the role chunk, …). */
  start(): void;
  open(block: PlanBlock): void;
  /** A chunk of a text, reasoning or tool-argument block. */
  delta(block: PlanBlock, text: string): void;
  /** Ends a block; `full` is everything streamed into it. */
  close(block: PlanBlock, full: string): void;
  finish(ending: FinishEnding, usage: FakeUsage): void;
  /** The provider's mid-stream overload failure. */
  fail(): void;
  /** The complete non-streaming body for resolved blocks. */
  complete(blocks: PlanBlock[], ending: FinishEnding, usage: FakeUsage): unknown;
}

/** What renderers know about the request they answer. */
export interface RenderContext {
  req: RecordedRequest;
  sink: ResponseSink;
  /** The plan being rendered (its ending and usage are known before the first byte, as some preambles need). */
  plan: Plan;
}

function defaultSignature(): string {
  return Buffer.from(`fake-llm-signature:${Date.now()}:${Math.random()}`).toString('base64');
}

function argsString(args: Record<string, unknown> | string): string {
  return typeof args === 'string' ? args : JSON.stringify(args);
}

/** Builds the neutral plan of a non-error step. */
export function planStep(step: Exclude<FakeStep, { kind: 'error' }>, req: RecordedRequest): Plan {
  const blocks: PlanBlock[] = [];
  let ending: PlanEnding;
  let usage: Partial<FakeUsage> | undefined;
  switch (step.kind) {
    case 'text':
      if (step.reasoning !== undefined) {
        blocks.push({ type: 'reasoning', text: step.reasoning, signature: step.signature ?? defaultSignature() });
      }
      blocks.push({ type: 'text', text: step.content, stamp: step.stampTokens === true });
      ending = step.finishReason ?? 'stop';
      usage = step.usage;
      break;
    case 'tool-calls':
      if (step.text) blocks.push({ type: 'text', text: step.text, stamp: false });
      for (const call of step.calls) {
        blocks.push({ type: 'tool-call', id: call.id, name: call.name, args: argsString(call.args) });
      }
      ending = 'tool-calls';
      usage = step.usage;
      break;
    case 'web-search':
      blocks.push({ type: 'web-search', query: step.query, results: step.results });
      blocks.push({ type: 'text', text: step.text, stamp: false });
      ending = 'stop';
      usage = step.usage;
      break;
    case 'overloaded-in-stream':
      if (step.afterText) blocks.push({ type: 'text', text: step.afterText, stamp: false });
      ending = 'overloaded';
      break;
    case 'cut':
      blocks.push({ type: 'text', text: step.afterText, stamp: false });
      ending = 'cut';
      break;
    case 'hang':
      if (step.afterText) blocks.push({ type: 'text', text: step.afterText, stamp: false });
      ending = 'hang';
      break;
  }
  const reasoningTokens = blocks.reduce((n, b) => n + (b.type === 'reasoning' ? countTokens(b.text) : 0), 0);
  const visibleTokens = blocks.reduce((n, b) => {
    if (b.type === 'text') return n + countTokens(b.text);
    if (b.type === 'tool-call') return n + Math.max(1, Math.ceil((b.name.length + b.args.length) / 4));
    return n;
  }, 0);
  return {
    blocks,
    ending,
    usage: {
      inputTokens: usage?.inputTokens ?? estimateInputTokens(req),
      outputTokens: usage?.outputTokens ?? Math.max(1, reasoningTokens + visibleTokens),
      reasoningTokens: usage?.reasoningTokens ?? reasoningTokens,
      cacheReadTokens: usage?.cacheReadTokens ?? 0,
      cacheCreationTokens: usage?.cacheCreationTokens ?? 0,
    },
    pacing: {
      chunkSize: Math.max(1, Math.floor(step.chunkSize ?? 1)),
      firstTokenDelayMs: Math.max(0, step.firstTokenDelayMs ?? 0),
      tokensPerSecond: Math.max(0, step.tokensPerSecond ?? 0),
    },
  };
}
