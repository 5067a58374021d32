/**
 * chatd's own spans below the activities (README "Traces"): the model call, with the OpenTelemetry
 * GenAI semantic-convention attributes (provider, model, tokens, finish reason) and its cost; each
 * tool call; and each database statement run inside a trace. Only created when tracing is on: the
 * callers hold no tracer otherwise.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';

/** `gen_ai.provider.name` of a chatd provider kind; an OpenAI-compatible server speaks OpenAI's API. */
const GEN_AI_PROVIDERS: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  'openai-compat': 'openai',
};

export interface ModelCallAttributes {
  providerKind: string;
  model: string;
}

/** What the model call's span records when the call returns. */
export interface ModelCallOutcome {
  finishReason: string;
  /** Null when the provider did not report them (the attribute is left out). */
  inputTokens: number | null;
  outputTokens: number | null;
  responseId?: string;
  /** Null when the model has no prices (unpriced is not free: the attribute is left out). */
  costMicros: number | null;
}

/**
 * Runs `call` in a `chat <model>` CLIENT span; `outcome` reads what to record from its result. A call
 * that throws because the user interrupted it (`interrupted()`) is marked so, not as an error.
 */
export async function inModelCallSpan<T>(
  tracer: Tracer,
  model: ModelCallAttributes,
  call: () => Promise<T>,
  outcome: (result: T) => ModelCallOutcome,
  interrupted: () => boolean = () => false,
): Promise<T> {
  const provider = GEN_AI_PROVIDERS[model.providerKind] ?? model.providerKind;
  const attributes: Attributes = {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': provider,
    'gen_ai.system': provider,
    'gen_ai.request.model': model.model,
    'chatd.provider.kind': model.providerKind,
  };
  return tracer.startActiveSpan(`chat ${model.model}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      const result = await call();
      const o = outcome(result);
      span.setAttributes({
        'gen_ai.response.finish_reasons': [o.finishReason],
        ...(o.inputTokens !== null ? { 'gen_ai.usage.input_tokens': o.inputTokens } : {}),
        ...(o.outputTokens !== null ? { 'gen_ai.usage.output_tokens': o.outputTokens } : {}),
        ...(o.responseId ? { 'gen_ai.response.id': o.responseId } : {}),
        ...(o.costMicros !== null ? { 'chatd.step.cost_micros': o.costMicros } : {}),
      });
      return result;
    } catch (err) {
      if (interrupted()) span.setAttribute('chatd.interrupted', true);
      else failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Runs one tool call in an `execute_tool <name>` span; `outcome` tells how its result went (`error`: an error result). */
export async function inToolCallSpan<T>(
  tracer: Tracer,
  call: { id: string; name: string },
  run: () => Promise<T>,
  outcome: (result: T) => string,
): Promise<T> {
  const attributes: Attributes = {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': call.name,
    'gen_ai.tool.call.id': call.id,
  };
  return tracer.startActiveSpan(`execute_tool ${call.name}`, { attributes }, async (span) => {
    try {
      const result = await run();
      const o = outcome(result);
      span.setAttribute('chatd.tool.outcome', o);
      if (o === 'error') {
        span.setAttribute('error.type', 'tool_error');
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      return result;
    } catch (err) {
      span.setAttribute('chatd.tool.outcome', 'failed');
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The longest statement text a span keeps (multi-row inserts can be long; values are never in it). */
const MAX_QUERY_TEXT = 2_000;

/**
 * Wraps each database statement in a CLIENT span (`SELECT`, `INSERT`…, with `db.query.text`, the
 * parameterised SQL). Only statements inside a trace get one: background work (stream bus, usage
 * refresh, reaping) would otherwise start a trace per statement.
 */
export function databaseSpans(tracer: Tracer): <T>(sql: string, run: () => Promise<T>) => Promise<T> {
  return (sql, run) => {
    if (!trace.getActiveSpan()) return run();
    const operation = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? 'QUERY';
    const attributes: Attributes = {
      'db.system.name': 'postgresql',
      'db.operation.name': operation,
      'db.query.text': sql.length > MAX_QUERY_TEXT ? `${sql.slice(0, MAX_QUERY_TEXT)}…` : sql,
    };
    return tracer.startActiveSpan(operation, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        return await run();
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
        failed(span, err);
        throw err;
      } finally {
        span.end();
      }
    });
  };
}

function failed(span: Span, err: unknown): void {
  const error = err instanceof Error ? err : new Error(String(err));
  const kind = (err as { kind?: unknown }).kind;
  span.recordException(error);
  span.setAttribute('error.type', typeof kind === 'string' ? kind : error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}
