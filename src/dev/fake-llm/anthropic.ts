/**
 * Anthropic Messages wire format (`POST /v1/messages`): `message_start` → `ping` → indexed
 * `content_block_start` / `content_block_delta` (text, thinking + signature, tool input JSON) /
 * `content_block_stop` → `message_delta` (stop reason, usage) → `message_stop`; `server_tool_use` +
 * `web_search_tool_result` blocks for web search; the in-stream `event: error` overloaded_error; and the
 * complete `message` object for non-streaming calls.
 */
import { anthropicOverloadedEvent, randomId } from './errors';
import type { FinishEnding, PlanBlock, ProtocolRenderer, RenderContext } from './plan';
import { splitArgs, type FakeSearchResult, type FakeUsage } from './script';

type Json = Record<string, unknown>;

const STOP_REASON: Record<FinishEnding, 'end_turn' | 'max_tokens' | 'tool_use'> = {
  stop: 'end_turn',
  length: 'max_tokens',
  'tool-calls': 'tool_use',
};

function searchResults(results: FakeSearchResult[]): Json[] {
  return results.map((r) => ({
    type: 'web_search_result',
    url: r.url,
    title: r.title,
    encrypted_content: Buffer.from(`fake-llm:${r.url}`).toString('base64'),
    page_age: null,
  }));
}

function parseInput(args: string): unknown {
  try {
    return JSON.parse(args);
  } catch {
    return args;
  }
}

/** Renderer for the Messages endpoint. */
export function anthropicRenderer(ctx: RenderContext): ProtocolRenderer {
  const { sink, req, plan } = ctx;
  const messageId = randomId('msg_01');
  const model = req.model || 'claude-fake';
  const searches = plan.blocks.filter((b) => b.type === 'web-search').length;
  /** Content-block index of each plan block (a web search takes two indexes). */
  const indexes = new Map<PlanBlock, number>();
  let nextIndex = 0;

  const emit = (type: string, fields: Json = {}): void => sink.event(type, { type, ...fields });

  const usageBody = (u: FakeUsage, outputTokens: number): Json => ({
    input_tokens: u.inputTokens,
    cache_creation_input_tokens: u.cacheCreationTokens,
    cache_read_input_tokens: u.cacheReadTokens,
    cache_creation: { ephemeral_5m_input_tokens: u.cacheCreationTokens, ephemeral_1h_input_tokens: 0 },
    output_tokens: outputTokens,
    ...(searches > 0 ? { server_tool_use: { web_search_requests: searches, web_fetch_requests: 0 } } : {}),
    service_tier: 'standard',
  });

  const message = (content: Json[], stopReason: string | null, usage: Json): Json => ({
    id: messageId,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage,
  });

  const serverToolUse = (id: string, input: unknown): Json => ({
    type: 'server_tool_use',
    id,
    name: 'web_search',
    input,
  });

  return {
    headers: (stream) => ({
      'content-type': stream ? 'text/event-stream; charset=utf-8' : 'application/json',
      'cache-control': 'no-cache',
      'request-id': randomId('req_011C'),
    }),

    start() {
      emit('message_start', { message: message([], null, usageBody(plan.usage, 1)) });
      emit('ping');
    },

    open(block) {
      const index = nextIndex++;
      indexes.set(block, index);
      switch (block.type) {
        case 'reasoning':
          emit('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
          return;
        case 'text':
          emit('content_block_start', { index, content_block: { type: 'text', text: '' } });
          return;
        case 'tool-call':
          emit('content_block_start', {
            index,
            content_block: { type: 'tool_use', id: block.id ?? randomId('toolu_01'), name: block.name, input: {} },
          });
          return;
        case 'web-search': {
          const toolUseId = randomId('srvtoolu_01');
          emit('content_block_start', { index, content_block: serverToolUse(toolUseId, {}) });
          for (const piece of splitArgs(JSON.stringify({ query: block.query }), 16)) {
            emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
          }
          emit('content_block_stop', { index });
          const resultIndex = nextIndex++;
          emit('content_block_start', {
            index: resultIndex,
            content_block: {
              type: 'web_search_tool_result',
              tool_use_id: toolUseId,
              content: searchResults(block.results),
            },
          });
          emit('content_block_stop', { index: resultIndex });
          return;
        }
      }
    },

    delta(block, text) {
      const index = indexes.get(block) ?? 0;
      switch (block.type) {
        case 'reasoning':
          emit('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: text } });
          return;
        case 'text':
          emit('content_block_delta', { index, delta: { type: 'text_delta', text } });
          return;
        case 'tool-call':
          emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: text } });
          return;
        case 'web-search':
          return;
      }
    },

    close(block) {
      if (block.type === 'web-search') return;
      const index = indexes.get(block) ?? 0;
      if (block.type === 'reasoning') {
        emit('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } });
      }
      emit('content_block_stop', { index });
    },

    finish(ending, usage) {
      const { service_tier: _tier, cache_creation: _cc, ...deltaUsage } = usageBody(usage, usage.outputTokens);
      emit('message_delta', { delta: { stop_reason: STOP_REASON[ending], stop_sequence: null }, usage: deltaUsage });
      emit('message_stop');
    },

    fail() {
      sink.event('error', anthropicOverloadedEvent());
    },

    complete(blocks, ending, usage) {
      const content: Json[] = [];
      for (const block of blocks) {
        switch (block.type) {
          case 'reasoning':
            content.push({ type: 'thinking', thinking: block.text, signature: block.signature });
            break;
          case 'text':
            content.push({ type: 'text', text: block.text });
            break;
          case 'tool-call':
            content.push({
              type: 'tool_use',
              id: block.id ?? randomId('toolu_01'),
              name: block.name,
              input: parseInput(block.args),
            });
            break;
          case 'web-search': {
            const toolUseId = randomId('srvtoolu_01');
            content.push(serverToolUse(toolUseId, { query: block.query }));
            content.push({
              type: 'web_search_tool_result',
              tool_use_id: toolUseId,
              content: searchResults(block.results),
            });
            break;
          }
        }
      }
      return message(content, STOP_REASON[ending], usageBody(usage, usage.outputTokens));
    },
  };
}
