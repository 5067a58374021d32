/**
 * What an operator sees of a turn's model and tool calls: one log line as each ends (README "Logs";
 * the activity's log context adds chat, turn and step) and, with tracing on, a span around each
 * (src/tracing/spans.ts). Failures of a model call are logged by its activity, which classifies them.
 */
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { ModelStepResult } from '../llm/types';
import type { ToolCallRequest } from '../tools/registry';
import type { ToolOutput } from '../tools/types';
import { inModelCallSpan, inToolCallSpan } from '../tracing/spans';
import { calculateCostMicros } from './cost';
import { INTERRUPT } from './deps';
import type { ToolCallOutcome, TurnMetrics } from './metrics';
import type { ResolvedModel } from './models';

export interface Observers {
  log?: Logger;
  /** Set when tracing is on. */
  tracer?: Tracer;
  /** Told of each tool call's outcome and duration (README "Operations"). */
  metrics?: Pick<TurnMetrics, 'toolCall'>;
}

/** Runs one provider call of a model step: a `chat <model>` span and a line when it ends. */
export async function observeModelCall(
  deps: Observers,
  model: Pick<ResolvedModel, 'providerKind' | 'model' | 'prices'>,
  signal: AbortSignal,
  call: () => Promise<ModelStepResult>,
): Promise<ModelStepResult> {
  const started = performance.now();
  const interrupted = () => signal.aborted && signal.reason === INTERRUPT;
  const fields = { provider: model.providerKind, model: model.model };
  try {
    const result = deps.tracer
      ? await inModelCallSpan(
          deps.tracer,
          model,
          call,
          (r) => ({
            finishReason: r.finishReason,
            inputTokens: r.usage.inputTokens,
            outputTokens: r.usage.outputTokens,
            responseId: r.responseId,
            costMicros: calculateCostMicros(r.usage, model.prices),
          }),
          interrupted,
        )
      : await call();
    deps.log?.info(
      {
        ...fields,
        finishReason: result.finishReason,
        inputTokens: result.usage.inputTokens,
        outputTokens: result.usage.outputTokens,
        costMicros: calculateCostMicros(result.usage, model.prices),
        durationMs: Math.round(performance.now() - started),
      },
      'model call finished',
    );
    return result;
  } catch (err) {
    if (interrupted()) {
      deps.log?.info({ ...fields, durationMs: Math.round(performance.now() - started) }, 'model call interrupted');
    }
    throw err;
  }
}

/**
 * The `observe` hook of executeToolCalls: an `execute_tool <name>` span per call, and a line and a
 * metric as each ends with its outcome (`ok`, `error`: the tool reported an error to the model,
 * `interrupted`, `failed`: it threw, which fails the step). `metricName` keeps the metric's tool label
 * bounded (MCP tools are named by their servers, not by chatd).
 */
export function toolCallObserver(
  deps: Observers,
  signal: AbortSignal,
  metricName: (tool: string) => string,
): (call: ToolCallRequest, run: () => Promise<ToolOutput>) => Promise<ToolOutput> {
  const outcomeOf = (output: ToolOutput): ToolCallOutcome =>
    !output.isError ? 'ok' : signal.aborted && signal.reason === INTERRUPT ? 'interrupted' : 'error';
  return async (call, run) => {
    const started = performance.now();
    const ended = (outcome: ToolCallOutcome): { outcome: ToolCallOutcome; durationMs: number } => {
      const ms = performance.now() - started;
      deps.metrics?.toolCall({ tool: metricName(call.name), outcome, seconds: ms / 1000 });
      return { outcome, durationMs: Math.round(ms) };
    };
    const fields = { tool: call.name, toolCallId: call.id };
    try {
      const output = deps.tracer ? await inToolCallSpan(deps.tracer, call, run, outcomeOf) : await run();
      // Reported before logging: `log?.` would skip evaluating its arguments without a logger.
      const done = ended(outcomeOf(output));
      deps.log?.info({ ...fields, ...done }, 'tool call finished');
      return output;
    } catch (err) {
      const done = ended('failed');
      deps.log?.warn({ ...fields, err, ...done }, 'tool call failed');
      throw err;
    }
  };
}
