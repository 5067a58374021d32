/**
 * OpenAI adapter: the Responses API (default for `openai`) and Chat Completions (`openai-compat`, or
 * `openai` with `apiMode: 'chat'`) behind the neutral `LlmProvider` interface.
 *
 * Uses the real `openai` SDK with retries off (the caller owns retries) and translates neutral messages to
 * wire items and streamed wire events back to `ModelStreamEvent`s and one `ModelStepResult`. This file
 * builds the client and picks the protocol; each protocol lives in its own file (openai-responses.ts,
 * openai-chat.ts), what they share in openai-shared.ts (and every provider in step-stream.ts). Used by registry.ts.
 */
import OpenAI from 'openai';
import { classifyProviderError, LlmError } from './errors';
import { streamChat } from './openai-chat';
import { streamResponses } from './openai-responses';
import { type OpenAiKind } from './openai-shared';
import type { LlmProvider, ModelRequest, ModelStepResult, StreamStepOptions } from './types';
import { ConsumerError, guardedEmitter } from './step-stream';

/** Options of `createOpenAiProvider`. */
export interface OpenAiProviderOptions {
  apiKey: string;
  /** Defaults to `https://api.openai.com/v1`; required in practice for `openai-compat`. */
  baseUrl?: string;
  apiMode: 'responses' | 'chat';
  /** Sent as `User-Agent` on every request, replacing the SDK's own. */
  userAgent: string;
  kind: OpenAiKind;
  fetch?: typeof fetch;
  /** Time allowed until response headers arrive; the SDK default (10 min) when unset. */
  timeoutMs?: number;
}

const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * Creates an OpenAI or OpenAI-compatible provider. Each call builds its own SDK client (no shared state).
 * `streamStep` throws `LlmError` for every failure, including `kind: 'canceled'` when `options.signal`
 * aborts; the HTTP request is aborted at once.
 */
export function createOpenAiProvider(opts: OpenAiProviderOptions): LlmProvider {
  const client = new OpenAI({
    apiKey: opts.apiKey,
    // Always explicit, so the SDK never falls back to OPENAI_BASE_URL from the environment.
    baseURL: opts.baseUrl ?? OPENAI_DEFAULT_BASE_URL,
    maxRetries: 0,
    // The SDK sets `User-Agent: OpenAI/JS …` itself; default headers are applied after it and win.
    defaultHeaders: { 'User-Agent': opts.userAgent },
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  });
  const kind = opts.kind;

  return {
    kind,
    async streamStep(request: ModelRequest, options: StreamStepOptions): Promise<ModelStepResult> {
      const emit = guardedEmitter(options.onEvent);
      try {
        if (options.signal?.aborted) throw new LlmError({ kind: 'canceled', provider: kind });
        return opts.apiMode === 'responses'
          ? await streamResponses(client, request, options.signal, emit, kind)
          : await streamChat(client, request, options.signal, emit, kind);
      } catch (err) {
        if (err instanceof ConsumerError) throw err.original;
        // Whatever surfaced (an SDK abort error, a "terminated" fetch body), our own abort decides the kind.
        if (options.signal?.aborted) {
          throw new LlmError({ kind: 'canceled', provider: kind, cause: err });
        }
        throw classifyProviderError(err, kind);
      }
    },
  };
}
