/**
 * The process logger (pino, JSON lines). Created once in src/main/* and passed down.
 *
 * Lines also carry the fields of the log context they are written in (`withLogContext`): the
 * access log middleware binds the request id to everything a request logs, and the worker's
 * activity interceptor binds chat, turn, step and activity to everything an activity logs, however
 * deep below it the line is written (README "Logs"). With tracing on, lines written inside a span
 * carry its trace and span ids.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '@opentelemetry/api';
import pino, { type DestinationStream, type Logger } from 'pino';

/** Fields every line written in a context carries (README "Logs"). */
export interface LogContext {
  requestId?: string;
  chatId?: string;
  turn?: number;
  step?: number;
  activity?: string;
  attempt?: number;
}

/**
 * The context of the code running now. Like the OpenTelemetry context it follows the async call
 * chain, so it is one per process by nature: a line's context is where it is written, not who
 * holds the logger.
 */
const logContext = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `fields` (added to the enclosing context's) on every line it logs. */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  const outer = logContext.getStore();
  return logContext.run(outer ? { ...outer, ...fields } : fields, fn);
}

/** The fields of the current log context (empty outside one). */
export function currentLogContext(): LogContext {
  return logContext.getStore() ?? {};
}

/**
 * The context's fields, and the active span's ids when a (recording) span is active. Always a new
 * object: pino merges the line's own fields into it.
 */
function contextFields(): object {
  const fields = logContext.getStore();
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return { ...fields };
  const { traceId, spanId } = span.spanContext();
  return { ...fields, traceId, spanId };
}

/** `destination`: where lines go (default stdout); tests capture them. */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options = {
    name,
    level,
    redact: ['*.apiKey', '*.api_key', 'req.headers.authorization'],
    mixin: contextFields,
  };
  return destination ? pino(options, destination) : pino(options);
}
