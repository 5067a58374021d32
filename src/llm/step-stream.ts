/**
 * Stream plumbing every provider uses while turning an SDK stream into a model step: the guarded emitter
 * (a failing consumer is not a provider error), abort linking, the truncated-stream error, tool-result
 * text, usage counting and the `ContentBuilder` that assembles the step's content in stream order.
 */
import { LlmError } from './errors';
import { parseToolInput, type ModelAssistantPart, type ModelStreamEvent } from './types';
import { type ModelToolResult } from './types';

/** Forwards one stream event to the caller. */
export type Emit = (event: ModelStreamEvent) => void;

/** Wraps a failure of the caller's `onEvent`, so it is rethrown as is rather than classified as a provider error. */
export class ConsumerError extends Error {
  constructor(readonly original: unknown) {
    super('onEvent callback failed');
  }
}

/** Wraps `onEvent` so its own failures can be told apart from provider failures (see ConsumerError). */
export function guardedEmitter(onEvent: (event: ModelStreamEvent) => void): Emit {
  return (event) => {
    try {
      onEvent(event);
    } catch (err) {
      throw new ConsumerError(err);
    }
  };
}

/**
 * Also aborts the stream's own controller when the caller's signal fires, so the socket closes even while
 * the SDK is between reads. Returns the unsubscribe function.
 */
export function linkAbort(signal: AbortSignal | undefined, controller: AbortController): () => void {
  if (!signal) return () => undefined;
  const onAbort = (): void => controller.abort();
  if (signal.aborted) onAbort();
  signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/** The error for a stream that closed before its terminal event: retryable, like any cut connection. */
export function truncatedStream(kind: string): LlmError {
  return new LlmError({
    kind: 'server',
    provider: kind,
    detail: 'The response stream ended before the response was complete.',
  });
}

/** Token counts: a missing value or zero is "unknown" (see `Usage`). */
export function count(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

export function subtract(total: number | null | undefined, minus: number): number | null {
  return typeof total === 'number' ? Math.max(0, total - minus) : null;
}

/**
 * Assembles the assistant content in stream order while forwarding each increment to `emit`. Parts are
 * mutable until `finish()`, which drops empty text/reasoning parts (Anthropic rejects empty text blocks and
 * an empty reasoning part carries nothing to replay).
 */
export class ContentBuilder {
  private readonly parts: ModelAssistantPart[] = [];
  private lastTextKey: string | null = null;

  constructor(private readonly emit: Emit) {}

  /** Appends text; a new part starts when `key` (the output item / content index) changes. */
  text(delta: string, key: string): void {
    if (!delta) return;
    const last = this.parts[this.parts.length - 1];
    if (last?.type === 'text' && this.lastTextKey === key) {
      last.text += delta;
    } else {
      this.parts.push({ type: 'text', text: delta });
      this.lastTextKey = key;
    }
    this.emit({ type: 'text-delta', delta });
  }

  /** Appends reasoning to the trailing reasoning part (Chat Completions, which has no item ids). */
  reasoning(delta: string): void {
    const last = this.parts[this.parts.length - 1];
    const part = last?.type === 'reasoning' ? last : this.startReasoning({});
    this.reasoningInto(part, delta);
  }

  /** Opens a reasoning part; `init` carries replay data known up front (item id, redacted data). */
  startReasoning(
    init: Partial<Omit<Extract<ModelAssistantPart, { type: 'reasoning' }>, 'type' | 'text'>>,
  ): Extract<ModelAssistantPart, { type: 'reasoning' }> {
    const part: Extract<ModelAssistantPart, { type: 'reasoning' }> = { type: 'reasoning', text: '', ...init };
    this.parts.push(part);
    this.lastTextKey = null;
    return part;
  }

  reasoningInto(part: Extract<ModelAssistantPart, { type: 'reasoning' }>, delta: string): void {
    if (!delta) return;
    part.text += delta;
    this.emit({ type: 'reasoning-delta', delta });
  }

  startToolCall(
    id: string,
    name: string,
    providerExecuted: boolean,
  ): Extract<ModelAssistantPart, { type: 'tool-call' }> {
    const part: Extract<ModelAssistantPart, { type: 'tool-call' }> = {
      type: 'tool-call',
      id,
      name,
      input: {},
      ...(providerExecuted ? { providerExecuted: true } : {}),
    };
    this.parts.push(part);
    this.lastTextKey = null;
    this.emit({ type: 'tool-call-start', id, name, ...(providerExecuted ? { providerExecuted: true } : {}) });
    return part;
  }

  toolCallDelta(part: Extract<ModelAssistantPart, { type: 'tool-call' }>, delta: string): void {
    if (delta) this.emit({ type: 'tool-call-delta', id: part.id, delta });
  }

  /**
   * Completes a call from its full argument text. Malformed JSON (a model cut off mid-arguments, or a sloppy
   * compatible server) must not fail the step: the input becomes `{}` and `invalidInput` records the raw
   * text, so the tool layer answers with an error result the model can learn from.
   */
  finishToolCall(part: Extract<ModelAssistantPart, { type: 'tool-call' }>, args: string): void {
    const parsed = parseToolInput(args);
    part.input = parsed.input;
    if (parsed.invalidInput) part.invalidInput = parsed.invalidInput;
    this.emit({
      type: 'tool-call',
      id: part.id,
      name: part.name,
      input: part.input,
      ...(part.providerExecuted ? { providerExecuted: true } : {}),
      ...(parsed.invalidInput ? { invalidInput: parsed.invalidInput } : {}),
    });
  }

  providerToolResult(id: string, name: string, result: unknown, isError: boolean): void {
    this.parts.push({ type: 'tool-result', id, name, result, isError, providerExecuted: true });
    this.lastTextKey = null;
    this.emit({ type: 'tool-result', id, name, result, isError, providerExecuted: true });
  }

  source(id: string, url: string, title: string | undefined): void {
    this.parts.push({ type: 'source', id, url, ...(title ? { title } : {}) });
    this.emit({ type: 'source', id, url, ...(title ? { title } : {}) });
  }

  hasLocalToolCalls(): boolean {
    return this.parts.some((p) => p.type === 'tool-call' && !p.providerExecuted);
  }

  finish(): ModelAssistantPart[] {
    return this.parts.filter((p) => {
      if (p.type === 'text') return p.text.length > 0;
      if (p.type === 'reasoning') return p.text.length > 0 || !!p.encrypted || !!p.signature || !!p.redactedData;
      return true;
    });
  }
}
/** Tool results are JSON text to the model; strings are passed through unquoted. */
export function toolResultText(result: ModelToolResult): string {
  if (typeof result.result === 'string') return result.result;
  return JSON.stringify(result.result ?? null);
}
