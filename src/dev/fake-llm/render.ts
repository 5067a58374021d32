/**
 * Turns one FakeStep into one HTTP response: the step's plan (plan.ts) is driven through the renderer of the
 * endpoint's wire protocol, either as an SSE stream (paced token by token) or as one complete JSON body.
 */
import { anthropicRenderer } from './anthropic';
import { providerError } from './errors';
import { openAiChatRenderer } from './openai-chat';
import { openAiResponsesRenderer } from './openai-responses';
import { planStep, type Plan, type PlanBlock, type ProtocolRenderer, type RenderContext } from './plan';
import type { FakeProtocol } from './request';
import { splitArgs, splitTokens, stampToken, type FakeStep } from './script';
import { Pacer, StreamClosedError, type ResponseSink } from './sink';

const RENDERERS: Record<FakeProtocol, (ctx: RenderContext) => ProtocolRenderer> = {
  'openai-chat': openAiChatRenderer,
  'openai-responses': openAiResponsesRenderer,
  anthropic: anthropicRenderer,
};

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
