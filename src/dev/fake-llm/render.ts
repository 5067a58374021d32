/**
 * Turns one FakeStep into one HTTP response. A step first becomes a protocol-neutral plan (content blocks,
 * an ending, usage, pacing); the plan is then driven through the renderer of the endpoint's wire protocol,
 * either as an SSE stream (paced token by token) or as one complete JSON body.
 */
import { anthropicRenderer } from './anthropic';
import { providerError } from './errors';
import { openAiChatRenderer } from './openai-chat';
import { openAiResponsesRenderer } from './openai-responses';
import { estimateInputTokens, type FakeProtocol, type RecordedRequest } from './request';
import {
  countTokens,
  splitArgs,
  splitTokens,
  stampToken,
  type FakeSearchResult,
  type FakeStep,
  type FakeUsage,
} from './script';
import { Pacer, StreamClosedError, type Pacing, type ResponseSink } from './sink';

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

const RENDERERS: Record<FakeProtocol, (ctx: RenderContext) => ProtocolRenderer> = {
  'openai-chat': openAiChatRenderer,
  'openai-responses': openAiResponsesRenderer,
  anthropic: anthropicRenderer,
};

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

/** The streamable pieces of a block: tokens for text/reasoning, ~8-character slices for tool arguments. */
function piecesOf(block: PlanBlock): string[] {
  switch (block.type) {
    case 'text':
    case 'reasoning':
      return splitTokens(block.text);
    case 'tool-call':
      return splitArgs(block.args);
    case 'web-search':
      return [];
  }
}

async function streamPlan(plan: Plan, renderer: ProtocolRenderer, sink: ResponseSink): Promise<void> {
  const pacer = new Pacer(sink, plan.pacing);
  sink.head(200, renderer.headers(true));
  renderer.start();
  const failing = plan.ending === 'overloaded' || plan.ending === 'cut' || plan.ending === 'hang';
  for (const [i, block] of plan.blocks.entries()) {
    await pacer.start();
    renderer.open(block);
    const pieces = piecesOf(block);
    let full = '';
    for (let p = 0; p < pieces.length; p += plan.pacing.chunkSize) {
      const chunk = pieces.slice(p, p + plan.pacing.chunkSize);
      await pacer.emit(chunk.length, () => {
        const textChunk =
          block.type === 'text' && block.stamp ? chunk.map(() => stampToken()).join('') : chunk.join('');
        full += textChunk;
        renderer.delta(block, textChunk);
      });
    }
    // A failing stream stops mid-block, as a real one does: its last block is never closed.
    if (!(failing && i === plan.blocks.length - 1)) renderer.close(block, full);
  }
  switch (plan.ending) {
    case 'stop':
    case 'length':
    case 'tool-calls':
      renderer.finish(plan.ending, plan.usage);
      sink.end();
      return;
    case 'overloaded':
      renderer.fail();
      sink.end();
      return;
    case 'cut':
      await sink.destroy();
      return;
    case 'hang':
      await sink.flush();
      await sink.closed;
      return;
  }
}

async function completePlan(plan: Plan, renderer: ProtocolRenderer, ctx: RenderContext): Promise<void> {
  const { sink, req } = ctx;
  const pacer = new Pacer(sink, plan.pacing);
  switch (plan.ending) {
    case 'overloaded':
      writeError(ctx, req.protocol === 'anthropic' ? 529 : 503, {});
      return;
    case 'cut':
      await sink.destroy();
      return;
    case 'hang':
      await sink.closed;
      return;
    default: {
      const tokens = plan.blocks.reduce((n, b) => n + piecesOf(b).length, 0);
      await pacer.simulate(tokens);
      const blocks = plan.blocks.map((b) =>
        b.type === 'text' && b.stamp
          ? {
              ...b,
              text: splitTokens(b.text)
                .map(() => stampToken())
                .join(''),
            }
          : b,
      );
      const body = renderer.complete(blocks, plan.ending, plan.usage);
      sink.json(200, renderer.headers(false), body);
    }
  }
}

/** The request and response a step is served on. */
export type ServeContext = Pick<RenderContext, 'req' | 'sink'>;

function writeError(ctx: ServeContext, status: number, opts: Parameters<typeof providerError>[2]): void {
  const err = providerError(ctx.req.protocol, status, { ...opts, model: ctx.req.model });
  ctx.sink.json(err.status, err.headers, err.body);
}

/** Answers one request with one step, in the wire format of the request's protocol. */
export async function serveStep(step: FakeStep, ctx: ServeContext): Promise<void> {
  try {
    if (step.kind === 'error') {
      writeError(ctx, step.status, {
        retryAfterSeconds: step.retryAfterSeconds,
        type: step.type,
        message: step.message,
        ...(step.code !== undefined ? { code: step.code } : {}),
        ...(step.param !== undefined ? { param: step.param } : {}),
      });
      return;
    }
    const plan = planStep(step, ctx.req);
    const planCtx: RenderContext = { ...ctx, plan };
    const renderer = RENDERERS[ctx.req.protocol](planCtx);
    if (ctx.req.stream) await streamPlan(plan, renderer, ctx.sink);
    else await completePlan(plan, renderer, planCtx);
  } catch (err) {
    if (err instanceof StreamClosedError) return;
    throw err;
  }
}

/** Answers a request nothing was planned for: a loud 500 in the protocol's error shape. */
export function serveUnplanned(ctx: ServeContext, message: string): void {
  writeError(ctx, 500, {
    message,
    type: ctx.req.protocol === 'anthropic' ? 'api_error' : 'fake_llm_unplanned',
    noRetry: true,
  });
}
