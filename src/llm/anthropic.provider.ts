/**
 * Anthropic adapter: the Messages API (streaming) behind the neutral `LlmProvider` interface.
 *
 * Owns Anthropic's request rules (system blocks, strictly alternating roles, thinking replay with
 * signatures, prompt-cache breakpoints, server-side web search) and the translation of its block-indexed
 * stream into `ModelStreamEvent`s. Uses the real `@anthropic-ai/sdk` with retries off.
 */
import Anthropic from '@anthropic-ai/sdk';
import { classifyProviderError, LlmError } from './errors';
import { ANTHROPIC_FILE_LIMITS, isImagePart, planFileInputs } from './file-inputs';
import {
  type FinishReason,
  type LlmProvider,
  type ModelAssistantPart,
  type ModelFilePart,
  type ModelMessage,
  type ModelRequest,
  type ModelStepResult,
  type StreamStepOptions,
  type Usage,
} from './types';
import {
  ConsumerError,
  ContentBuilder,
  count,
  guardedEmitter,
  linkAbort,
  truncatedStream,
  type Emit,
} from './step-stream';
import { toolResultText } from './step-stream';

type MessageParam = Anthropic.Messages.MessageParam;
type ContentBlockParam = Anthropic.Messages.ContentBlockParam;
type TextBlockParam = Anthropic.Messages.TextBlockParam;
type StreamEvent = Anthropic.Messages.RawMessageStreamEvent;
type StopReason = Anthropic.Messages.StopReason;

/** Options of `createAnthropicProvider`. */
export interface AnthropicProviderOptions {
  apiKey: string;
  /** Defaults to `https://api.anthropic.com` (without `/v1`: the SDK adds it). */
  baseUrl?: string;
  /** Sent as `User-Agent` on every request, replacing the SDK's own. */
  userAgent: string;
  fetch?: typeof fetch;
  /** Time allowed until response headers arrive; the SDK default (10 min) when unset. */
  timeoutMs?: number;
}

const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';
/** Messages requires `max_tokens`; this is used when the model config sets none. */
const DEFAULT_MAX_TOKENS = 8192;
/** Anthropic's minimum thinking budget is 1024 tokens, and `max_tokens` must exceed the budget. */
const MIN_VISIBLE_OUTPUT_TOKENS = 1024;
const EPHEMERAL: Anthropic.Messages.CacheControlEphemeral = { type: 'ephemeral' };

/**
 * Creates an Anthropic provider with its own SDK client. `streamStep` throws `LlmError` for every failure,
 * including an `overloaded_error` event inside a 200 stream (retryable) and `kind: 'canceled'` when
 * `options.signal` aborts.
 */
export function createAnthropicProvider(opts: AnthropicProviderOptions): LlmProvider {
  const client = new Anthropic({
    apiKey: opts.apiKey,
    // Explicit, so neither ANTHROPIC_BASE_URL nor ANTHROPIC_AUTH_TOKEN from the environment is picked up.
    authToken: null,
    baseURL: opts.baseUrl ?? ANTHROPIC_DEFAULT_BASE_URL,
    maxRetries: 0,
    // The SDK sets `User-Agent: Anthropic/JS …` itself; default headers are applied after it and win.
    defaultHeaders: { 'User-Agent': opts.userAgent },
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.timeoutMs !== undefined ? { timeout: opts.timeoutMs } : {}),
  });

  return {
    kind: 'anthropic',
    async streamStep(request: ModelRequest, options: StreamStepOptions): Promise<ModelStepResult> {
      const emit = guardedEmitter(options.onEvent);
      try {
        if (options.signal?.aborted) throw new LlmError({ kind: 'canceled', provider: 'anthropic' });
        return await streamMessages(client, request, options.signal, emit);
      } catch (err) {
        if (err instanceof ConsumerError) throw err.original;
        // Whatever surfaced (an SDK abort error, a "terminated" fetch body), our own abort decides the kind.
        if (options.signal?.aborted) throw new LlmError({ kind: 'canceled', provider: 'anthropic', cause: err });
        throw classifyProviderError(err, 'anthropic');
      }
    },
  };
}

async function streamMessages(
  client: Anthropic,
  request: ModelRequest,
  signal: AbortSignal | undefined,
  emit: Emit,
): Promise<ModelStepResult> {
  const stream = await client.messages.create(buildMessagesBody(request), {
    ...(signal ? { signal } : {}),
    ...(request.headers && Object.keys(request.headers).length > 0 ? { headers: request.headers } : {}),
  });
  const stopAbortLink = linkAbort(signal, stream.controller);

  const acc = new ContentBuilder(emit);
  /**
   * Content block index → its state: the reasoning or tool-call part being built (text is appended through
   * the builder by key) and, for tool calls, the argument text so far.
   */
  const blocks = new Map<number, { part: ModelAssistantPart | null; args: string; sawDelta: boolean }>();
  const seenSources = new Set<string>();
  const usage = new AnthropicUsage();
  let stopReason: StopReason | null = null;
  let stopped = false;

  try {
    for await (const event of stream as AsyncIterable<StreamEvent>) {
      switch (event.type) {
        case 'message_start':
          usage.apply(event.message.usage);
          break;
        case 'content_block_start': {
          const block = event.content_block;
          switch (block.type) {
            case 'text':
              blocks.set(event.index, { part: null, args: '', sawDelta: false });
              acc.text(block.text, `block:${event.index}`);
              break;
            case 'thinking': {
              const part = acc.startReasoning({});
              if (block.signature) part.signature = block.signature;
              acc.reasoningInto(part, block.thinking);
              blocks.set(event.index, { part, args: '', sawDelta: false });
              break;
            }
            case 'redacted_thinking':
              // Safety-redacted thinking has no text, only opaque data that must be sent back unchanged.
              blocks.set(event.index, {
                part: acc.startReasoning({ redactedData: block.data }),
                args: '',
                sawDelta: false,
              });
              break;
            case 'tool_use':
            case 'server_tool_use': {
              const part = acc.startToolCall(block.id, block.name, block.type === 'server_tool_use');
              // The input normally streams as input_json_delta; a block that arrives whole keeps its input.
              blocks.set(event.index, { part, args: JSON.stringify(block.input ?? {}), sawDelta: false });
              break;
            }
            case 'web_search_tool_result':
              // The raw result content (including `encrypted_content`) is kept: it must be replayed verbatim.
              acc.providerToolResult(block.tool_use_id, 'web_search', block.content, !Array.isArray(block.content));
              break;
            default:
              break;
          }
          break;
        }
        case 'content_block_delta': {
          const state = blocks.get(event.index);
          if (!state) break;
          const delta = event.delta;
          if (delta.type === 'text_delta') {
            acc.text(delta.text, `block:${event.index}`);
          } else if (delta.type === 'thinking_delta' && state.part?.type === 'reasoning') {
            acc.reasoningInto(state.part, delta.thinking);
          } else if (delta.type === 'signature_delta' && state.part?.type === 'reasoning') {
            state.part.signature = delta.signature;
          } else if (delta.type === 'input_json_delta' && state.part?.type === 'tool-call') {
            // Fragments split anywhere, even inside a string or a number; only the whole text is parsed.
            if (!state.sawDelta) state.args = '';
            state.sawDelta = true;
            state.args += delta.partial_json;
            acc.toolCallDelta(state.part, delta.partial_json);
          } else if (delta.type === 'citations_delta' && delta.citation.type === 'web_search_result_location') {
            const { url, title } = delta.citation;
            if (!seenSources.has(url)) {
              seenSources.add(url);
              acc.source(`${event.index}:${seenSources.size}`, url, title ?? undefined);
            }
          }
          break;
        }
        case 'content_block_stop': {
          const state = blocks.get(event.index);
          if (state?.part?.type === 'tool-call') acc.finishToolCall(state.part, state.args);
          break;
        }
        case 'message_delta':
          usage.apply(event.usage);
          if (event.delta.stop_reason) stopReason = event.delta.stop_reason;
          break;
        case 'message_stop':
          stopped = true;
          break;
        default:
          break;
      }
    }
  } finally {
    stopAbortLink();
  }

  // The SDK ends iteration quietly when the request is aborted, so an aborted signal is checked here.
  if (signal?.aborted) throw new LlmError({ kind: 'canceled', provider: 'anthropic' });
  if (!stopped) throw truncatedStream('anthropic');

  return { content: acc.finish(), finishReason: finishReason(stopReason), usage: usage.toUsage() };
}

/** Builds the Messages request body; exported for tests of the request shape. */
export function buildMessagesBody(request: ModelRequest): Anthropic.Messages.MessageCreateParamsStreaming {
  const o = request.options;
  const thinkingBudget = o.thinkingBudgetTokens;
  const thinking = thinkingBudget !== undefined && thinkingBudget > 0;

  const tools: Anthropic.Messages.ToolUnion[] = request.tools.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: { ...t.inputSchema, type: 'object' },
  }));
  const webSearch = request.providerTools?.webSearch;
  if (webSearch?.enabled) {
    // allowed_domains and blocked_domains are mutually exclusive; an allow list is the stricter choice.
    const allowed = webSearch.allowedDomains?.length ? webSearch.allowedDomains : undefined;
    const blocked = !allowed && webSearch.blockedDomains?.length ? webSearch.blockedDomains : undefined;
    tools.push({
      type: 'web_search_20250305',
      name: 'web_search',
      ...(allowed ? { allowed_domains: allowed } : {}),
      ...(blocked ? { blocked_domains: blocked } : {}),
    });
  }

  const system = request.messages
    .filter((m): m is Extract<ModelMessage, { role: 'system' }> => m.role === 'system')
    .filter((m) => m.content.trim().length > 0)
    .map((m): TextBlockParam => ({ type: 'text', text: m.content }));
  // Cache breakpoint 1 of 3: the system prompt (with the tools before it) is the stable prefix.
  const lastSystem = system[system.length - 1];
  if (lastSystem) lastSystem.cache_control = EPHEMERAL;

  return {
    model: request.model,
    max_tokens: maxTokens(o.maxOutputTokens, thinking ? thinkingBudget : undefined),
    messages: withCacheBreakpoints(toAnthropicMessages(request.messages)),
    stream: true,
    ...(system.length > 0 ? { system } : {}),
    ...(thinking ? { thinking: { type: 'enabled' as const, budget_tokens: thinkingBudget } } : {}),
    ...(tools.length > 0 ? { tools, tool_choice: toolChoice(o.toolChoice, thinking) } : {}),
    // With extended thinking the API rejects any temperature but 1 and narrows top_p, so neither is sent.
    ...(!thinking && o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(!thinking && o.topP !== undefined ? { top_p: o.topP } : {}),
  };
}

function maxTokens(maxOutputTokens: number | undefined, thinkingBudget: number | undefined): number {
  if (thinkingBudget === undefined) return maxOutputTokens ?? DEFAULT_MAX_TOKENS;
  // Thinking tokens count against max_tokens, which must exceed budget_tokens (else HTTP 400).
  const wanted = maxOutputTokens ?? thinkingBudget + DEFAULT_MAX_TOKENS;
  return Math.max(wanted, thinkingBudget + MIN_VISIBLE_OUTPUT_TOKENS);
}

function toolChoice(choice: ModelRequest['options']['toolChoice'], thinking: boolean): Anthropic.Messages.ToolChoice {
  switch (choice) {
    case 'none':
      return { type: 'none' };
    case 'required':
      // Forcing tool use is not allowed together with extended thinking; fall back to letting the model choose.
      return thinking ? { type: 'auto' } : { type: 'any' };
    default:
      return { type: 'auto' };
  }
}

/**
 * Neutral messages → Anthropic messages. System messages are excluded (they go to `system`); tool results
 * become `tool_result` blocks in a user message; consecutive same-role messages are merged because the
 * Messages API requires strictly alternating roles.
 */
export function toAnthropicMessages(messages: ModelMessage[]): MessageParam[] {
  const refusedFiles = planFileInputs(messages, ANTHROPIC_FILE_LIMITS);
  const out: { role: 'user' | 'assistant'; content: ContentBlockParam[] }[] = [];
  const push = (role: 'user' | 'assistant', content: ContentBlockParam[]): void => {
    if (content.length === 0) return;
    const last = out[out.length - 1];
    if (last && last.role === role) last.content.push(...content);
    else out.push({ role, content: [...content] });
  };

  for (const message of messages) {
    switch (message.role) {
      case 'system':
        break;
      case 'user':
        push(
          'user',
          message.content.flatMap((p): ContentBlockParam[] => {
            // Empty text blocks are rejected by the API ("text content blocks must be non-empty").
            if (p.type === 'text') return p.text ? [{ type: 'text', text: p.text }] : [];
            return [fileBlock(p, refusedFiles.get(p))];
          }),
        );
        break;
      case 'assistant':
        push('assistant', message.content.flatMap(assistantBlock));
        break;
      case 'tool':
        push(
          'user',
          message.content.map((r): ContentBlockParam => ({
            type: 'tool_result',
            tool_use_id: r.id,
            content: toolResultText(r),
            ...(r.isError ? { is_error: true } : {}),
          })),
        );
        break;
    }
  }

  // tool_result blocks must come first in their user message; merging a tool message with a following
  // user message keeps that order, and this stable sort repairs the rare reverse case.
  for (const m of out) {
    if (m.role === 'user') {
      m.content = [
        ...m.content.filter((b) => b.type === 'tool_result'),
        ...m.content.filter((b) => b.type !== 'tool_result'),
      ];
    }
  }
  return out;
}

/**
 * A user file as an `image` block or a PDF `document` block (base64 source), or the text note that
 * replaces a file the API would refuse (see file-inputs.ts).
 */
function fileBlock(part: ModelFilePart, note: string | undefined): ContentBlockParam {
  if (note !== undefined) return { type: 'text', text: note };
  if (isImagePart(part)) {
    const mediaType = part.mediaType as Anthropic.Messages.Base64ImageSource['media_type'];
    return { type: 'image', source: { type: 'base64', media_type: mediaType, data: part.data } };
  }
  return {
    type: 'document',
    source: { type: 'base64', media_type: 'application/pdf', data: part.data },
    title: part.name,
  };
}

function assistantBlock(part: ModelAssistantPart): ContentBlockParam[] {
  switch (part.type) {
    case 'text':
      // The API refuses empty and whitespace-only text blocks ("text content blocks must contain non-whitespace text").
      return part.text.trim() ? [{ type: 'text', text: part.text }] : [];
    case 'reasoning':
      // Thinking is replayed only with the signature Anthropic issued for it (or as opaque redacted data);
      // unsigned reasoning (from another provider, or cut off before its signature) would be rejected.
      if (part.redactedData) return [{ type: 'redacted_thinking', data: part.redactedData }];
      if (part.signature) return [{ type: 'thinking', thinking: part.text, signature: part.signature }];
      return [];
    case 'tool-call':
      if (part.providerExecuted) {
        return [
          {
            type: 'server_tool_use',
            id: part.id,
            name: part.name as Anthropic.Messages.ServerToolUseBlockParam['name'],
            input: part.input,
          },
        ];
      }
      return [{ type: 'tool_use', id: part.id, name: part.name, input: part.input }];
    case 'tool-result':
      // Provider-executed results stay in the assistant turn, right after their server_tool_use.
      return [
        {
          type: 'web_search_tool_result',
          tool_use_id: part.id,
          content: part.result as Anthropic.Messages.WebSearchToolResultBlockParamContent,
        },
      ];
    case 'source':
      return [];
  }
}

/**
 * Cache breakpoints 2 and 3 of 3: the last block of each of the final two messages, so the next step reads
 * the whole conversation so far from cache. Thinking blocks cannot carry cache_control, so
 * the breakpoint goes on the last block that can.
 */
function withCacheBreakpoints(messages: MessageParam[]): MessageParam[] {
  for (const message of messages.slice(-2)) {
    if (!Array.isArray(message.content)) continue;
    for (let i = message.content.length - 1; i >= 0; i--) {
      const block = message.content[i];
      if (block && block.type !== 'thinking' && block.type !== 'redacted_thinking') {
        (block as { cache_control?: Anthropic.Messages.CacheControlEphemeral }).cache_control = EPHEMERAL;
        break;
      }
    }
  }
  return messages;
}

function finishReason(stop: StopReason | null): FinishReason {
  switch (stop) {
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'tool_use':
      return 'tool-calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'refusal':
      return 'content-filter';
    default:
      // `pause_turn` (a long server-tool turn paused by the API) and anything newer.
      return 'other';
  }
}

/** Anthropic reports usage in message_start and updates it (cumulatively) in message_delta. */
class AnthropicUsage {
  private input: number | null = null;
  private output: number | null = null;
  private cacheRead: number | null = null;
  private cacheCreation: number | null = null;

  apply(u: {
    input_tokens?: number | null;
    output_tokens?: number | null;
    cache_read_input_tokens?: number | null;
    cache_creation_input_tokens?: number | null;
  }): void {
    if (typeof u.input_tokens === 'number') this.input = u.input_tokens;
    if (typeof u.output_tokens === 'number') this.output = u.output_tokens;
    if (typeof u.cache_read_input_tokens === 'number') this.cacheRead = u.cache_read_input_tokens;
    if (typeof u.cache_creation_input_tokens === 'number') this.cacheCreation = u.cache_creation_input_tokens;
  }

  toUsage(): Usage {
    const known = this.input !== null && this.output !== null;
    return {
      // Anthropic's input_tokens already excludes cache reads and writes (the neutral convention).
      inputTokens: count(this.input),
      outputTokens: count(this.output),
      // Anthropic reports no total; it is the sum of every input bucket and the output.
      totalTokens: known
        ? count((this.input ?? 0) + (this.cacheRead ?? 0) + (this.cacheCreation ?? 0) + (this.output ?? 0))
        : null,
      reasoningTokens: null,
      cacheReadTokens: count(this.cacheRead),
      cacheCreationTokens: count(this.cacheCreation),
    };
  }
}
