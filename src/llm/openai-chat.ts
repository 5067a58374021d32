/**
 * OpenAI Chat Completions (`POST /v1/chat/completions`: `openai-compat`, or `openai` with
 * `apiMode: 'chat'`): neutral request → request body and messages, and the streamed chunks (text,
 * reasoning in the non-standard fields compatible servers use, tool-call fragments, the usage chunk) →
 * `ModelStreamEvent`s and one `ModelStepResult`. Used by openai.provider.ts; the fake server's side of
 * this protocol is src/dev/fake-llm/openai-chat.ts.
 */
import type OpenAI from 'openai';
import { LlmError } from './errors';
import {
  dataUrl,
  isImagePart,
  openAiFileLimits,
  OPENAI_COMPAT_FILE_LIMITS,
  planFileInputs,
  type FileInputLimits,
} from './file-inputs';
import { requestOptions, type OpenAiKind } from './openai-shared';
import {
  emptyUsage,
  type FinishReason,
  type ModelAssistantPart,
  type ModelFilePart,
  type ModelMessage,
  type ModelRequest,
  type ModelStepResult,
  type ModelUserPart,
  type Usage,
} from './types';
import { ContentBuilder, count, linkAbort, subtract, truncatedStream, type Emit } from './step-stream';
import { toolResultText } from './step-stream';

type ChatMessageParam = OpenAI.Chat.Completions.ChatCompletionMessageParam;
type ChatChunk = OpenAI.Chat.Completions.ChatCompletionChunk;
type ChatFinish = OpenAI.Chat.Completions.ChatCompletionChunk.Choice['finish_reason'];

interface ChatToolCallState {
  part: Extract<ModelAssistantPart, { type: 'tool-call' }>;
  args: string;
}

/** Streams one step over Chat Completions. */
export async function streamChat(
  client: OpenAI,
  request: ModelRequest,
  signal: AbortSignal | undefined,
  emit: Emit,
  kind: OpenAiKind,
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
  kind: OpenAiKind,
): OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming {
  const o = request.options;
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = request.tools.map((t) => ({
    type: 'function',
    function: { name: t.name, description: t.description, parameters: t.inputSchema },
  }));
  return {
    model: request.model,
    messages: toChatMessages(request.messages, openAiFileLimits(kind)),
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

/** Neutral messages → Chat Completions messages; user files within `fileLimits` (the others become notes). */
export function toChatMessages(
  messages: ModelMessage[],
  fileLimits: FileInputLimits = OPENAI_COMPAT_FILE_LIMITS,
): ChatMessageParam[] {
  const refusedFiles = planFileInputs(messages, fileLimits);
  const out: ChatMessageParam[] = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        if (message.content) out.push({ role: 'system', content: message.content });
        break;
      case 'user': {
        const parts = userContentForChat(message.content, refusedFiles);
        if (parts.length === 0) break;
        // Plain string content when there are no images: older compatible servers reject content arrays.
        if (parts.every((p) => p.type === 'text')) {
          out.push({ role: 'user', content: parts.map((p) => (p.type === 'text' ? p.text : '')).join('\n\n') });
        } else {
          out.push({ role: 'user', content: parts });
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

/**
 * User parts → text, image_url (a data URL) and, for PDFs, a `file` part (a data URL with its name);
 * empty text is dropped and refused files become text notes.
 */
function userContentForChat(
  parts: ModelUserPart[],
  refusedFiles: ReadonlyMap<ModelFilePart, string>,
): OpenAI.Chat.Completions.ChatCompletionContentPart[] {
  return parts.flatMap((p): OpenAI.Chat.Completions.ChatCompletionContentPart[] => {
    if (p.type === 'text') return p.text ? [{ type: 'text', text: p.text }] : [];
    const note = refusedFiles.get(p);
    if (note !== undefined) return [{ type: 'text', text: note }];
    if (isImagePart(p)) return [{ type: 'image_url', image_url: { url: dataUrl(p) } }];
    return [{ type: 'file', file: { filename: p.name, file_data: dataUrl(p) } }];
  });
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
