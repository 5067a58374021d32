/**
 * The OpenAI Responses API (`POST /v1/responses`, the default for `openai`): neutral request → request
 * body and input items, and the streamed events (output items, text, reasoning summaries, function-call
 * arguments, web search calls with url citations) → `ModelStreamEvent`s and one `ModelStepResult`.
 * Used by openai.provider.ts; the fake server's side of this protocol is src/dev/fake-llm/openai-responses.ts.
 */
import type OpenAI from 'openai';
import { classifyProviderFailure, LlmError } from './errors';
import {
  dataUrl,
  isImagePart,
  openAiFileLimits,
  OPENAI_FILE_LIMITS,
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

type ResponseInputItem = OpenAI.Responses.ResponseInputItem;
type ResponseStreamEvent = OpenAI.Responses.ResponseStreamEvent;
type ResponseObject = OpenAI.Responses.Response;

/** Streams one step over the Responses API. */
export async function streamResponses(
  client: OpenAI,
  request: ModelRequest,
  signal: AbortSignal | undefined,
  emit: Emit,
  kind: OpenAiKind,
): Promise<ModelStepResult> {
  const store = request.options.store === true;
  const body = buildResponsesBody(request, store, kind);
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

function buildResponsesBody(
  request: ModelRequest,
  store: boolean,
  kind: OpenAiKind,
): OpenAI.Responses.ResponseCreateParamsStreaming {
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
  // it is requested on every unstored call, since reasoning models think without being asked.
  if (!store) include.push('reasoning.encrypted_content');
  // Search sources are omitted from `web_search_call` items unless asked for.
  if (webSearch?.enabled) include.push('web_search_call.action.sources');

  return {
    model: request.model,
    input: toResponsesInput(request.messages, store, openAiFileLimits(kind)),
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

/** Neutral messages → Responses input items; user files within `fileLimits` (the others become notes). */
export function toResponsesInput(
  messages: ModelMessage[],
  store: boolean,
  fileLimits: FileInputLimits = OPENAI_FILE_LIMITS,
): ResponseInputItem[] {
  const refusedFiles = planFileInputs(messages, fileLimits);
  const items: ResponseInputItem[] = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
        if (message.content) items.push({ role: 'system', content: message.content });
        break;
      case 'user': {
        const content = userContentForResponses(message.content, refusedFiles);
        if (content.length > 0) items.push({ role: 'user', content });
        break;
      }
      case 'assistant':
        items.push(...withFollowingItems(message.content.flatMap((p) => assistantPartToResponsesItem(p, store) ?? [])));
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

/** User parts → input_text, input_image (a data URL) and, for PDFs, input_file (a data URL with its name). */
function userContentForResponses(
  parts: ModelUserPart[],
  refusedFiles: ReadonlyMap<ModelFilePart, string>,
): OpenAI.Responses.ResponseInputMessageContentList {
  const out: OpenAI.Responses.ResponseInputMessageContentList = [];
  for (const part of parts) {
    if (part.type === 'text') {
      if (part.text) out.push({ type: 'input_text', text: part.text });
      continue;
    }
    const note = refusedFiles.get(part);
    if (note !== undefined) out.push({ type: 'input_text', text: note });
    else if (isImagePart(part)) out.push({ type: 'input_image', image_url: dataUrl(part), detail: 'auto' });
    else out.push({ type: 'input_file', filename: part.name, file_data: dataUrl(part) });
  }
  return out;
}

/**
 * The API refuses a replayed reasoning item that is not followed by the item it produced ("Item 'rs_…' of
 * type 'reasoning' was provided without its required following item."). When no such item of the message is
 * sent (its text was blank, its web search never finished), the reasoning is not sent either.
 */
function withFollowingItems(items: ResponseInputItem[]): ResponseInputItem[] {
  return items.filter((item, i) => item.type !== 'reasoning' || items.slice(i + 1).some((n) => n.type !== 'reasoning'));
}

function assistantPartToResponsesItem(part: ModelAssistantPart, store: boolean): ResponseInputItem | null {
  switch (part.type) {
    case 'text':
      return part.text ? { role: 'assistant', content: part.text } : null;
    case 'reasoning':
      // Stored responses keep their reasoning server side; replaying it would duplicate it.
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
