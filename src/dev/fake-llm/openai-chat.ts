/**
 * OpenAI Chat Completions wire format (`POST /v1/chat/completions`): `chat.completion.chunk` SSE frames
 * ending in `data: [DONE]`, tool-call deltas with split arguments, the usage chunk of
 * `stream_options.include_usage`, a `data: {"error":…}` frame for mid-stream failures, and the complete
 * `chat.completion` object. Reasoning is streamed as `delta.reasoning_content`, as OpenAI-compatible servers do.
 */
import { hexId, openAiOverloadedError, randomId } from './errors';
import type { FinishEnding, PlanBlock, ProtocolRenderer, RenderContext } from './plan';
import { wantsStreamUsage } from './request';
import type { FakeUsage } from './script';

const FINISH: Record<FinishEnding, 'stop' | 'length' | 'tool_calls'> = {
  stop: 'stop',
  length: 'length',
  'tool-calls': 'tool_calls',
};

/** `CompletionUsage` with the details objects OpenAI sends. */
function usageBody(u: FakeUsage): Record<string, unknown> {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: {
      cached_tokens: u.cacheReadTokens,
      audio_tokens: 0,
      ...(u.cacheCreationTokens > 0 ? { cache_write_tokens: u.cacheCreationTokens } : {}),
    },
    completion_tokens_details: {
      reasoning_tokens: u.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function urlCitations(block: PlanBlock, text: string): Array<Record<string, unknown>> {
  if (block.type !== 'web-search') return [];
  return block.results.map((r) => ({
    type: 'url_citation',
    url_citation: { url: r.url, title: r.title, start_index: 0, end_index: text.length },
  }));
}

/** Renderer for the Chat Completions endpoint. */
export function openAiChatRenderer(ctx: RenderContext): ProtocolRenderer {
  const { sink, req } = ctx;
  const id = randomId('chatcmpl-', 29);
  const created = Math.floor(Date.now() / 1000);
  const model = req.model || 'gpt-fake';
  const withUsage = wantsStreamUsage(req);
  const fingerprint = 'fp_fake0001';
  const toolIndex = new Map<PlanBlock, number>();
  let search: PlanBlock | undefined;

  const chunk = (delta: Record<string, unknown>, finishReason: string | null = null): void => {
    sink.event(null, {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      service_tier: 'default',
      system_fingerprint: fingerprint,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(withUsage ? { usage: null } : {}),
    });
  };

  return {
    headers: (stream) => ({
      'content-type': stream ? 'text/event-stream; charset=utf-8' : 'application/json',
      'cache-control': 'no-cache',
      'x-request-id': hexId('req_', 16),
      'openai-processing-ms': '1',
    }),

    start() {
      chunk({ role: 'assistant', content: '', refusal: null });
    },

    open(block) {
      if (block.type === 'tool-call') {
        const index = toolIndex.size;
        toolIndex.set(block, index);
        chunk({
          tool_calls: [
            {
              index,
              id: block.id ?? randomId('call_', 24),
              type: 'function',
              function: { name: block.name, arguments: '' },
            },
          ],
        });
      } else if (block.type === 'web-search') {
        search = block;
      }
    },

    delta(block, text) {
      switch (block.type) {
        case 'text':
          chunk({ content: text });
          return;
        case 'reasoning':
          chunk({ reasoning_content: text });
          return;
        case 'tool-call':
          chunk({ tool_calls: [{ index: toolIndex.get(block) ?? 0, function: { arguments: text } }] });
          return;
        case 'web-search':
          return;
      }
    },

    close(block, full) {
      if (block.type === 'text' && search) {
        chunk({ annotations: urlCitations(search, full) });
      }
    },

    finish(ending, usage) {
      chunk({}, FINISH[ending]);
      if (withUsage) {
        sink.event(null, {
          id,
          object: 'chat.completion.chunk',
          created,
          model,
          service_tier: 'default',
          system_fingerprint: fingerprint,
          choices: [],
          usage: usageBody(usage),
        });
      }
      sink.event(null, '[DONE]');
    },

    fail() {
      sink.event(null, { error: openAiOverloadedError() });
    },

    complete(blocks, ending, usage) {
      const textBlock = blocks.find((b) => b.type === 'text');
      const content = blocks
        .filter((b) => b.type === 'text')
        .map((b) => b.text)
        .join('');
      const reasoning = blocks.find((b) => b.type === 'reasoning');
      const searchBlock = blocks.find((b) => b.type === 'web-search');
      const calls = blocks.flatMap((b) =>
        b.type === 'tool-call'
          ? [{ id: b.id ?? randomId('call_', 24), type: 'function', function: { name: b.name, arguments: b.args } }]
          : [],
      );
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: textBlock ? content : null,
              refusal: null,
              annotations: searchBlock ? urlCitations(searchBlock, content) : [],
              ...(reasoning?.type === 'reasoning' ? { reasoning_content: reasoning.text } : {}),
              ...(calls.length > 0 ? { tool_calls: calls } : {}),
            },
            logprobs: null,
            finish_reason: FINISH[ending],
          },
        ],
        usage: usageBody(usage),
        service_tier: 'default',
        system_fingerprint: fingerprint,
      };
    },
  };
}
