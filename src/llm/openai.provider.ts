/**
 * OpenAI adapter: the Responses API (default for `openai`) and Chat Completions (`openai-compat`, or
 * `openai` with `apiMode: 'chat'`) behind the neutral `LlmProvider` interface.
 *
 * Uses the real `openai` SDK with retries off (the caller owns retries) and translates neutral messages to
 * wire items and streamed wire events back to `ModelStreamEvent`s and one `ModelStepResult`.
 */
import OpenAI from 'openai';
import { classifyProviderError, classifyProviderFailure, LlmError } from './errors';
import {
  emptyUsage,
  parseToolInput,
  type FinishReason,
  type LlmProvider,
  type ModelAssistantPart,
  type ModelMessage,
  type ModelRequest,
  type ModelStepResult,
  type ModelStreamEvent,
  type ModelToolResult,
  type ModelUserPart,
  type StreamStepOptions,
  type Usage,
} from './types';

type ResponseInputItem = OpenAI.Responses.ResponseInputItem;
type ResponseStreamEvent = OpenAI.Responses.ResponseStreamEvent;
type ResponseObject = OpenAI.Responses.Response;
type ChatMessageParam = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type ChatChunk = OpenAI.Chat.Completions.ChatCompletionChunk;
type ChatFinish = OpenAI.Chat.Completions.ChatCompletionChunk.Choice['finish_reason'];

/** Options of `createOpenAiProvider`. */
export interface OpenAiProviderOptions {
  apiKey: string;
  /** Defaults to `https://api.openai.com/v1`; required in practice for `openai-compat`. */
  baseUrl?: string;
  apiMode: 'responses' | 'chat';
  /** Sent as `User-Agent` on every request, replacing the SDK's own (reference §6.16). */
  userAgent: string;
  kind: 'openai' | 'openai-compat';
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

// ---------------------------------------------------------------------------------------------------------
// Responses API

async function streamResponses(
  client: OpenAI,
  request: ModelRequest,
  signal: AbortSignal | undefined,
  emit: Emit,
  kind: OpenAiProviderOptions['kind'],
): Promise<ModelStepResult> {
  const store = request.options.store === true;
  const body = buildResponsesBody(request, store);
  const stream = await client.responses.create(body, requestOptions(request, signal));
  const stopAbortLink = linkAbort(signal, stream.controller);

  const acc = new ContentBuilder(emit);
  /** Output item id → neutral part, for events that reference their item by id. */
  const reasoningByItem = new Map<string, Extract<ModelAssistantPart, { type: 'reasoning' }>>();
  const callsByItem = new Map<string, Extract<ModelAssistantPart, { type: 'tool-call' }>>();
  const seenSources = new Set<string>();
  let final: ResponseObject | null = null;
  let responseId: string | undefined;

  try {
    for await (const event of stream as AsyncIterable<ResponseStreamEvent>) {
      switch (event.type) {
        case 'response.created':
          responseId = event.response.id;
          break;
        case 'response.output_item.added': {
          const item = event.item;
          if (item.type === 'reasoning') {
            reasoningByItem.set(item.id, acc.startReasoning({ providerItemId: item.id }));
          } else if (item.type === 'function_call') {
            callsByItem.set(item.id ?? item.call_id, acc.startToolCall(item.call_id, item.name, false));
          } else if (item.type === 'web_search_call') {
            callsByItem.set(item.id, acc.startToolCall(item.id, 'web_search', true));
          }
          break;
        }
        case 'response.output_text.delta':
          acc.text(event.delta, `${event.item_id}:${event.content_index}`);
          break;
        case 'response.reasoning_summary_part.added': {
          // Several summary parts of one reasoning item are kept as one neutral part, separated like
          // paragraphs so the UI does not glue two summaries into one sentence.
          const part = reasoningByItem.get(event.item_id);
          if (part && event.summary_index > 0) acc.reasoningInto(part, '\n\n');
          break;
        }
        case 'response.reasoning_summary_text.delta':
        case 'response.reasoning_text.delta': {
          const part = reasoningByItem.get(event.item_id);
          if (part) acc.reasoningInto(part, event.delta);
          break;
        }
        case 'response.function_call_arguments.delta': {
          const part = callsByItem.get(event.item_id);
          if (part) acc.toolCallDelta(part, event.delta);
          break;
        }
        case 'response.output_text.annotation.added': {
          const annotation = event.annotation;
          if (annotation && annotation.type === 'url_citation' && !seenSources.has(annotation.url)) {
            seenSources.add(annotation.url);
            acc.source(`${event.item_id}:${event.annotation_index}`, annotation.url, annotation.title);
          }
          break;
        }
        case 'response.output_item.done': {
          const item = event.item;
          if (item.type === 'reasoning') {
            const part = reasoningByItem.get(item.id);
            if (part) {
              // The encrypted content is only complete on `done` (the `added` copy may be partial).
              if (item.encrypted_content) part.encrypted = item.encrypted_content;
              if (!part.text && item.summary.length > 0) part.text = item.summary.map((s) => s.text).join('\n\n');
            }
          } else if (item.type === 'function_call') {
            const part = callsByItem.get(item.id ?? item.call_id);
            // `arguments` on the finished item is authoritative; the deltas were only for live display.
            if (part) acc.finishToolCall(part, item.arguments);
          } else if (item.type === 'web_search_call') {
            const part = callsByItem.get(item.id);
            if (part) {
              acc.finishToolCall(part, JSON.stringify(item.action ?? {}));
              const sources = item.action?.type === 'search' ? (item.action.sources ?? []) : [];
              acc.providerToolResult(item.id, 'web_search', { status: item.status, sources }, item.status === 'failed');
            }
          }
          break;
        }
        case 'response.completed':
        case 'response.incomplete':
          final = event.response;
          break;
        case 'response.failed': {
          const error = event.response.error;
          throw classifyProviderFailure({ code: error?.code ?? null, message: error?.message ?? null }, kind);
        }
        default:
          break;
      }
    }
  } finally {
    stopAbortLink();
  }

  // The SDK ends iteration quietly when the request is aborted, so an aborted signal is checked here.
  if (signal?.aborted) throw new LlmError({ kind: 'canceled', provider: kind });
  if (!final) throw truncatedStream(kind);

  return {
    content: acc.finish(),
    finishReason: responsesFinishReason(final, acc.hasLocalToolCalls()),
    usage: responsesUsage(final.usage),
    responseId: final.id ?? responseId,
  };
}

function buildResponsesBody(request: ModelRequest, store: boolean): OpenAI.Responses.ResponseCreateParamsStreaming {
  const o = request.options;
  const tools: OpenAI.Responses.Tool[] = request.tools.map((t) => ({
    type: 'function',
    name: t.name,
    description: t.description,
    parameters: t.inputSchema,
    // Our zod-generated schemas do not meet strict mode's rules (every property required, no defaults).
    strict: false,
  }));
  const webSearch = request.providerTools?.webSearch;
  if (webSearch?.enabled) {
    tools.push({
      type: 'web_search',
      ...(webSearch.allowedDomains?.length ? { filters: { allowed_domains: webSearch.allowedDomains } } : {}),
    });
  }
  const reasoning =
    o.reasoningEffort || o.reasoningSummary
      ? {
          ...(o.reasoningEffort ? { effort: o.reasoningEffort } : {}),
          ...(o.reasoningSummary ? { summary: o.reasoningSummary } : {}),
        }
      : undefined;

  const include: OpenAI.Responses.ResponseIncludable[] = [];
  // Without `store` the server keeps nothing, so reasoning can only be replayed from its encrypted content;
  // the reference requests it on every unstored call, since reasoning models think without being asked.
  if (!store) include.push('reasoning.encrypted_content');
  // Search sources are omitted from `web_search_call` items unless asked for.
  if (webSearch?.enabled) include.push('web_search_call.action.sources');

  return {
    model: request.model,
    input: toResponsesInput(request.messages, store),
    stream: true,
    // Sent explicitly: the API's default is to store, and chain mode must be an opt-in.
    store,
    ...(request.previousResponseId ? { previous_response_id: request.previousResponseId } : {}),
    ...(include.length > 0 ? { include } : {}),
    ...(reasoning ? { reasoning } : {}),
    ...(tools.length > 0 ? { tools, tool_choice: o.toolChoice ?? 'auto' } : {}),
    ...(o.maxOutputTokens !== undefined ? { max_output_tokens: o.maxOutputTokens } : {}),
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.topP !== undefined ? { top_p: o.topP } : {}),
  };
}

/** Neutral messages → Responses input items. */
export function toResponsesInput(messages: ModelMessage[], store: boolean): ResponseInputItem[] {
  const items: ResponseInputItem[] = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        if (message.content) items.push({ role: 'system', content: message.content });
        break;
      case 'user': {
        const content = userContentForResponses(message.content);
        if (content.length > 0) items.push({ role: 'user', content });
        break;
      }
      case 'assistant':
        for (const part of message.content) {
          const item = assistantPartToResponsesItem(part, store);
          if (item) items.push(item);
        }
        break;
      case 'tool':
        for (const result of message.content) {
          items.push({ type: 'function_call_output', call_id: result.id, output: toolResultText(result) });
        }
        break;
    }
  }
  return items;
}

function userContentForResponses(parts: ModelUserPart[]): OpenAI.Responses.ResponseInputMessageContentList {
  const out: OpenAI.Responses.ResponseInputMessageContentList = [];
  for (const part of parts) {
    if (part.type === 'text') {
      if (part.text) out.push({ type: 'input_text', text: part.text });
    } else {
      out.push({ type: 'input_image', image_url: `data:${part.mediaType};base64,${part.data}`, detail: 'auto' });
    }
  }
  return out;
}

function assistantPartToResponsesItem(part: ModelAssistantPart, store: boolean): ResponseInputItem | null {
  switch (part.type) {
    case 'text':
      return part.text ? { role: 'assistant', content: part.text } : null;
    case 'reasoning':
      // Stored responses keep their reasoning server side; replaying it would duplicate it (reference §6.17).
      // Unstored reasoning can be replayed only with its encrypted content; a summary alone is rejected.
      if (store || !part.encrypted || !part.providerItemId) return null;
      return {
        type: 'reasoning',
        id: part.providerItemId,
        encrypted_content: part.encrypted,
        summary: part.text ? [{ type: 'summary_text', text: part.text }] : [],
      };
    case 'tool-call':
      if (part.providerExecuted) {
        // A replayed reasoning item must be followed by the item it led to, so the web search call is sent
        // back too (its results are not: OpenAI returns them as text annotations, not as an item).
        if (part.name !== 'web_search' || store) return null;
        return {
          type: 'web_search_call',
          id: part.id,
          status: 'completed',
          action: part.input as unknown as OpenAI.Responses.ResponseFunctionWebSearch['action'],
        };
      }
      return { type: 'function_call', call_id: part.id, name: part.name, arguments: JSON.stringify(part.input) };
    case 'tool-result':
    case 'source':
      return null;
  }
}

function responsesFinishReason(response: ResponseObject, hasToolCalls: boolean): FinishReason {
  if (response.status === 'incomplete') {
    const reason = response.incomplete_details?.reason;
    if (reason === 'max_output_tokens') return 'length';
    if (reason === 'content_filter') return 'content-filter';
    return 'other';
  }
  return hasToolCalls ? 'tool-calls' : 'stop';
}

function responsesUsage(usage: OpenAI.Responses.ResponseUsage | null | undefined): Usage {
  if (!usage) return emptyUsage();
  const cached = count(usage.input_tokens_details?.cached_tokens);
  const written = count(usage.input_tokens_details?.cache_write_tokens);
  return {
    // OpenAI counts cached tokens inside input_tokens; the neutral convention excludes them.
    inputTokens: count(subtract(usage.input_tokens, (cached ?? 0) + (written ?? 0))),
    outputTokens: count(usage.output_tokens),
    totalTokens: count(usage.total_tokens),
    reasoningTokens: count(usage.output_tokens_details?.reasoning_tokens),
    cacheReadTokens: cached,
    cacheCreationTokens: written,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Chat Completions

interface ChatToolCallState {
  part: Extract<ModelAssistantPart, { type: 'tool-call' }>;
  args: string;
}

async function streamChat(
  client: OpenAI,
  request: ModelRequest,
  signal: AbortSignal | undefined,
  emit: Emit,
  kind: OpenAiProviderOptions['kind'],
): Promise<ModelStepResult> {
  const stream = await client.chat.completions.create(buildChatBody(request, kind), requestOptions(request, signal));
  const stopAbortLink = linkAbort(signal, stream.controller);

  const acc = new ContentBuilder(emit);
  const callsByIndex = new Map<number, ChatToolCallState>();
  const calls: ChatToolCallState[] = [];
  let finish: ChatFinish = null;
  let usage: Usage = emptyUsage();

  try {
    for await (const chunk of stream as AsyncIterable<ChatChunk>) {
      if (chunk.usage) usage = chatUsage(chunk.usage);
      const choice = chunk.choices?.[0];
      if (!choice) continue; // the include_usage chunk has no choices
      const delta = choice.delta ?? {};

      // Non-standard reasoning fields: DeepSeek and vLLM send `reasoning_content`, OpenRouter and Ollama
      // send `reasoning`. The official API sends neither.
      const extra = delta as { reasoning_content?: unknown; reasoning?: unknown };
      const reasoning = typeof extra.reasoning_content === 'string' ? extra.reasoning_content : extra.reasoning;
      if (typeof reasoning === 'string' && reasoning) acc.reasoning(reasoning);

      if (delta.content) acc.text(delta.content, 'content');

      for (const tc of delta.tool_calls ?? []) {
        let state = callsByIndex.get(tc.index);
        // Some compatible servers number every call 0 and tell them apart only by id.
        if (state && tc.id && tc.id !== state.part.id) state = undefined;
        if (!state) {
          // The id and name arrive on the first fragment; servers that omit the id get a stable local one.
          const id = tc.id || `call_${calls.length}`;
          state = { part: acc.startToolCall(id, tc.function?.name ?? '', false), args: '' };
          callsByIndex.set(tc.index, state);
          calls.push(state);
        } else if (tc.function?.name && !state.part.name) {
          state.part.name = tc.function.name;
        }
        const fragment = tc.function?.arguments;
        if (fragment) {
          state.args += fragment;
          acc.toolCallDelta(state.part, fragment);
        }
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  } finally {
    stopAbortLink();
  }

  if (signal?.aborted) throw new LlmError({ kind: 'canceled', provider: kind });
  // A stream that closes without a finish_reason was cut (the SDK stops quietly on an early EOF).
  if (!finish) throw truncatedStream(kind);
  for (const state of calls) acc.finishToolCall(state.part, state.args);

  return { content: acc.finish(), finishReason: chatFinishReason(finish, calls.length > 0), usage };
}

function buildChatBody(
  request: ModelRequest,
  kind: OpenAiProviderOptions['kind'],
): OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming {
  const o = request.options;
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = request.tools.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.inputSchema },
  }));
  return {
    model: request.model,
    messages: toChatMessages(request.messages),
    stream: true,
    stream_options: { include_usage: true },
    ...(tools.length > 0 ? { tools, tool_choice: o.toolChoice ?? 'auto' } : {}),
    // OpenAI deprecated `max_tokens` for `max_completion_tokens`, but most compatible servers (vLLM, Ollama,
    // LM Studio) only understand the old name.
    ...(o.maxOutputTokens !== undefined
      ? kind === 'openai'
        ? { max_completion_tokens: o.maxOutputTokens }
        : { max_tokens: o.maxOutputTokens }
      : {}),
    ...(o.reasoningEffort ? { reasoning_effort: o.reasoningEffort } : {}),
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.topP !== undefined ? { top_p: o.topP } : {}),
  };
}

/** Neutral messages → Chat Completions messages. */
export function toChatMessages(messages: ModelMessage[]): ChatMessageParam[] {
  const out: ChatMessageParam[] = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        if (message.content) out.push({ role: 'system', content: message.content });
        break;
      case 'user': {
        const parts = message.content.filter((p) => p.type !== 'text' || p.text);
        if (parts.length === 0) break;
        // Plain string content when there are no images: older compatible servers reject content arrays.
        if (parts.every((p) => p.type === 'text')) {
          out.push({ role: 'user', content: parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n\n') });
        } else {
          out.push({
            role: 'user',
            content: parts.map((p) =>
              p.type === 'text'
                ? { type: 'text' as const, text: p.text }
                : { type: 'image_url' as const, image_url: { url: `data:${p.mediaType};base64,${p.data}` } },
            ),
          });
        }
        break;
      }
      case 'assistant': {
        // Chat Completions has no way to replay reasoning or provider-executed items; only text and local
        // tool calls go back (DeepSeek even rejects `reasoning_content` in requests).
        const text = message.content.flatMap((p) => (p.type === 'text' && p.text ? [p.text] : [])).join('');
        const toolCalls = message.content.flatMap((p) =>
          p.type === 'tool-call' && !p.providerExecuted
            ? [{ id: p.id, type: 'function' as const, function: { name: p.name, arguments: JSON.stringify(p.input) } }]
            : [],
        );
        if (!text && toolCalls.length === 0) break;
        out.push({
          role: 'assistant',
          content: text || null,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        });
        break;
      }
      case 'tool':
        for (const result of message.content) {
          out.push({ role: 'tool', tool_call_id: result.id, content: toolResultText(result) });
        }
        break;
    }
  }
  return out;
}

function chatFinishReason(finish: NonNullable<ChatFinish>, hasToolCalls: boolean): FinishReason {
  switch (finish) {
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content-filter';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'stop':
      // Some compatible servers (Ollama, older vLLM) report `stop` even when the step ends in tool calls.
      return hasToolCalls ? 'tool-calls' : 'stop';
    default:
      return 'other';
  }
}

function chatUsage(usage: OpenAI.Completions.CompletionUsage): Usage {
  const cached = count(usage.prompt_tokens_details?.cached_tokens);
  return {
    inputTokens: count(subtract(usage.prompt_tokens, cached ?? 0)),
    outputTokens: count(usage.completion_tokens),
    totalTokens: count(usage.total_tokens),
    reasoningTokens: count(usage.completion_tokens_details?.reasoning_tokens),
    cacheReadTokens: cached,
    cacheCreationTokens: null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Stream plumbing, also used by anthropic.provider.ts (exported for that reason only; not part of the
// neutral API, and a candidate for its own module).

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

function requestOptions(request: ModelRequest, signal: AbortSignal | undefined): OpenAI.RequestOptions {
  return {
    ...(signal ? { signal } : {}),
    ...(request.headers && Object.keys(request.headers).length > 0 ? { headers: request.headers } : {}),
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

/** Tool results are JSON text to the model; strings are passed through unquoted. */
export function toolResultText(result: ModelToolResult): string {
  if (typeof result.result === 'string') return result.result;
  return JSON.stringify(result.result ?? null);
}

/** Token counts: a missing value or zero is "unknown" (see `Usage`). */
export function count(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

function subtract(total: number | null | undefined, minus: number): number | null {
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
