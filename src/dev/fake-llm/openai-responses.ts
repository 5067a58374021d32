/**
 * OpenAI Responses wire format (`POST /v1/responses`): named SSE events with a `sequence_number` each, in the
 * real lifecycle order (`response.created` → `response.in_progress` → output items with their content parts,
 * deltas and `.done` events → `response.completed` / `response.incomplete`), reasoning summaries,
 * function-call argument deltas, `web_search_call` items with url citations, the `error` + `response.failed`
 * pair for mid-stream failures, and the complete `response` object for non-streaming calls.
 */
import { hexId, openAiOverloadedError, randomId } from './errors';
import type { FinishEnding, PlanBlock, ProtocolRenderer, RenderContext } from './plan';
import { bodyOf, includes } from './request';
import type { FakeUsage } from './script';

type Json = Record<string, unknown>;

/** `ResponseUsage` as OpenAI sends it. */
function usageBody(u: FakeUsage): Json {
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: u.cacheReadTokens, cache_write_tokens: u.cacheCreationTokens },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}

function record(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

/** Renderer for the Responses endpoint. */
export function openAiResponsesRenderer(ctx: RenderContext): ProtocolRenderer {
  const { sink, req } = ctx;
  const body = bodyOf(req);
  const responseId = hexId('resp_');
  const createdAt = Math.floor(Date.now() / 1000);
  const model = req.model || 'gpt-fake';
  const withEncrypted = includes(req, 'reasoning.encrypted_content');
  const withSources = includes(req, 'web_search_call.action.sources');
  const incomplete = ctx.plan.ending === 'length';
  let sequence = 0;
  /** Finished output items, in output order, for the final response object. */
  const output: Json[] = [];
  /** Per-block item id and output index, assigned when the block opens. */
  const items = new Map<PlanBlock, { id: string; index: number; callId?: string }>();
  let search: Extract<PlanBlock, { type: 'web-search' }> | undefined;

  const emit = (type: string, fields: Json): void => {
    sink.event(type, { type, ...fields, sequence_number: sequence++ });
  };

  const responseObject = (status: string, extra: Json = {}): Json => {
    const reasoning = record(body.reasoning);
    return {
      id: responseId,
      object: 'response',
      created_at: createdAt,
      status,
      background: false,
      error: null,
      incomplete_details: null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      max_tool_calls: null,
      model,
      output: [],
      parallel_tool_calls: body.parallel_tool_calls ?? true,
      previous_response_id: body.previous_response_id ?? null,
      prompt_cache_key: null,
      reasoning: { effort: reasoning.effort ?? null, summary: reasoning.summary ?? null },
      safety_identifier: null,
      service_tier: 'default',
      store: body.store ?? true,
      temperature: body.temperature ?? 1,
      text: { format: { type: 'text' }, verbosity: 'medium' },
      tool_choice: body.tool_choice ?? 'auto',
      tools: Array.isArray(body.tools) ? body.tools : [],
      top_logprobs: 0,
      top_p: body.top_p ?? 1,
      truncation: 'disabled',
      usage: null,
      user: null,
      metadata: {},
      ...extra,
    };
  };

  const citations = (text: string): Json[] =>
    (search?.results ?? []).map((r) => ({
      type: 'url_citation',
      url: r.url,
      title: r.title,
      start_index: 0,
      end_index: text.length,
    }));

  /** The finished output item of a block. */
  const doneItem = (block: PlanBlock, full: string, id: string, callId: string | undefined): Json => {
    switch (block.type) {
      case 'reasoning':
        return {
          id,
          type: 'reasoning',
          summary: [{ type: 'summary_text', text: full }],
          ...(withEncrypted ? { encrypted_content: block.signature } : {}),
        };
      case 'text':
        return {
          id,
          type: 'message',
          status: incomplete ? 'incomplete' : 'completed',
          content: [{ type: 'output_text', annotations: citations(full), logprobs: [], text: full }],
          role: 'assistant',
        };
      case 'tool-call':
        return { id, type: 'function_call', status: 'completed', arguments: full, call_id: callId, name: block.name };
      case 'web-search':
        return {
          id,
          type: 'web_search_call',
          status: 'completed',
          action: {
            type: 'search',
            query: block.query,
            ...(withSources ? { sources: block.results.map((r) => ({ type: 'url', url: r.url })) } : {}),
          },
        };
    }
  };

  const newItemId = (block: PlanBlock): string => {
    const prefix = { reasoning: 'rs_', text: 'msg_', 'tool-call': 'fc_', 'web-search': 'ws_' }[block.type];
    return hexId(prefix);
  };

  const finalStatus = (): string => (incomplete ? 'incomplete' : 'completed');
  const finalExtra = (usage: FakeUsage): Json => ({
    output,
    usage: usageBody(usage),
    ...(incomplete
      ? { incomplete_details: { reason: 'max_output_tokens' } }
      : { completed_at: Math.floor(Date.now() / 1000) }),
  });

  return {
    headers: (stream) => ({
      'content-type': stream ? 'text/event-stream; charset=utf-8' : 'application/json',
      'cache-control': 'no-cache',
      'x-request-id': hexId('req_', 16),
      'openai-processing-ms': '1',
    }),

    start() {
      emit('response.created', { response: responseObject('in_progress') });
      emit('response.in_progress', { response: responseObject('in_progress') });
    },

    open(block) {
      const id = newItemId(block);
      const index = items.size;
      const callId = block.type === 'tool-call' ? (block.id ?? randomId('call_', 24)) : undefined;
      items.set(block, { id, index, callId });
      switch (block.type) {
        case 'reasoning':
          emit('response.output_item.added', { output_index: index, item: { id, type: 'reasoning', summary: [] } });
          emit('response.reasoning_summary_part.added', {
            item_id: id,
            output_index: index,
            summary_index: 0,
            part: { type: 'summary_text', text: '' },
          });
          return;
        case 'text':
          emit('response.output_item.added', {
            output_index: index,
            item: { id, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
          });
          emit('response.content_part.added', {
            item_id: id,
            output_index: index,
            content_index: 0,
            part: { type: 'output_text', annotations: [], logprobs: [], text: '' },
          });
          return;
        case 'tool-call':
          emit('response.output_item.added', {
            output_index: index,
            item: {
              id,
              type: 'function_call',
              status: 'in_progress',
              arguments: '',
              call_id: callId,
              name: block.name,
            },
          });
          return;
        case 'web-search':
          search = block;
          emit('response.output_item.added', {
            output_index: index,
            item: {
              id,
              type: 'web_search_call',
              status: 'in_progress',
              action: { type: 'search', query: block.query },
            },
          });
          emit('response.web_search_call.in_progress', { item_id: id, output_index: index });
          emit('response.web_search_call.searching', { item_id: id, output_index: index });
          return;
      }
    },

    delta(block, text) {
      const item = items.get(block);
      if (!item) return;
      switch (block.type) {
        case 'reasoning':
          emit('response.reasoning_summary_text.delta', {
            item_id: item.id,
            output_index: item.index,
            summary_index: 0,
            delta: text,
          });
          return;
        case 'text':
          emit('response.output_text.delta', {
            item_id: item.id,
            output_index: item.index,
            content_index: 0,
            delta: text,
            logprobs: [],
          });
          return;
        case 'tool-call':
          emit('response.function_call_arguments.delta', { item_id: item.id, output_index: item.index, delta: text });
          return;
        case 'web-search':
          return;
      }
    },

    close(block, full) {
      const item = items.get(block);
      if (!item) return;
      const { id, index } = item;
      switch (block.type) {
        case 'reasoning':
          emit('response.reasoning_summary_text.done', {
            item_id: id,
            output_index: index,
            summary_index: 0,
            text: full,
          });
          emit('response.reasoning_summary_part.done', {
            item_id: id,
            output_index: index,
            summary_index: 0,
            part: { type: 'summary_text', text: full },
          });
          break;
        case 'text': {
          const annotations = citations(full);
          annotations.forEach((annotation, annotationIndex) =>
            emit('response.output_text.annotation.added', {
              item_id: id,
              output_index: index,
              content_index: 0,
              annotation_index: annotationIndex,
              annotation,
            }),
          );
          emit('response.output_text.done', {
            item_id: id,
            output_index: index,
            content_index: 0,
            text: full,
            logprobs: [],
          });
          emit('response.content_part.done', {
            item_id: id,
            output_index: index,
            content_index: 0,
            part: { type: 'output_text', annotations, logprobs: [], text: full },
          });
          break;
        }
        case 'tool-call':
          emit('response.function_call_arguments.done', { item_id: id, output_index: index, arguments: full });
          break;
        case 'web-search':
          emit('response.web_search_call.completed', { item_id: id, output_index: index });
          break;
      }
      const done = doneItem(block, full, id, item.callId);
      output.push(done);
      emit('response.output_item.done', { output_index: index, item: done });
    },

    finish(_ending: FinishEnding, usage) {
      const type = incomplete ? 'response.incomplete' : 'response.completed';
      emit(type, { response: responseObject(finalStatus(), finalExtra(usage)) });
    },

    fail() {
      const err = openAiOverloadedError();
      emit('error', { code: err.code, message: err.message, param: err.param, error: err });
      emit('response.failed', {
        response: responseObject('failed', { output, error: { code: 'server_error', message: err.message } }),
      });
    },

    complete(blocks, _ending, usage) {
      search = blocks.find((b): b is Extract<PlanBlock, { type: 'web-search' }> => b.type === 'web-search');
      for (const block of blocks) {
        const full = block.type === 'tool-call' ? block.args : block.type === 'web-search' ? '' : block.text;
        const callId = block.type === 'tool-call' ? (block.id ?? randomId('call_', 24)) : undefined;
        output.push(doneItem(block, full, newItemId(block), callId));
      }
      return responseObject(finalStatus(), finalExtra(usage));
    },
  };
}
