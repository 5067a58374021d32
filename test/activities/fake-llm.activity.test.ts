/**
 * Pins the wire formats of the fake LLM server (src/dev/fake-llm) by driving it with the real `openai` and
 * `@anthropic-ai/sdk` clients: every step type on each of the three protocols must parse through the SDKs'
 * raw streams and their accumulating stream helpers, and errors must surface as the SDKs' typed errors.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

import { createKnobResponder, DEMO_KNOBS } from '../../src/dev/fake-llm/knobs';
import { cut, error, hang, overloadedInStream, text, toolCalls, webSearch } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

type OpenAIApiError = InstanceType<typeof OpenAI.APIError>;
type AnthropicApiError = InstanceType<typeof Anthropic.APIError>;

let fake: FakeLlmServer;
let openai: OpenAI;
let anthropic: Anthropic;

beforeEach(async () => {
  fake = await FakeLlmServer.start();
  openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseUrl, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseUrl, maxRetries: 0 });
});

afterEach(async () => {
  await fake.close();
});

/** Polls `predicate` every 5 ms until it holds, failing after `timeoutMs`. */
async function waitUntil(predicate: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('waitUntil: condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * True for the error a client sees when the server drops the connection mid-response. The fetch error comes
 * from Node's realm (not jest's), so `instanceof Error` cannot be used; match on name and message instead.
 */
function isConnectionError(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; cause?: { code?: unknown } } | undefined;
  return (
    typeof e?.message === 'string' &&
    (/terminated|other side closed|socket hang up|ECONNRESET|Connection error/i.test(e.message) ||
      e.cause?.code === 'UND_ERR_SOCKET')
  );
}

/** Runs `iterate`, returning the error it threw (or undefined). */
async function caught(iterate: () => Promise<unknown>): Promise<unknown> {
  try {
    await iterate();
    return undefined;
  } catch (err) {
    return err;
  }
}

const chatMessages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Say hello' }];
const anthropicMessages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Say hello' }];

async function chatChunks(model = 'gpt-fake'): Promise<OpenAI.Chat.ChatCompletionChunk[]> {
  const stream = await openai.chat.completions.create({
    model,
    messages: chatMessages,
    stream: true,
    stream_options: { include_usage: true },
  });
  const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function responseEvents(
  extra: Partial<OpenAI.Responses.ResponseCreateParamsStreaming> = {},
): Promise<OpenAI.Responses.ResponseStreamEvent[]> {
  const stream = await openai.responses.create({ model: 'gpt-fake', input: 'Say hello', stream: true, ...extra });
  const events: OpenAI.Responses.ResponseStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

async function anthropicEvents(): Promise<Anthropic.MessageStreamEvent[]> {
  const stream = await anthropic.messages.create({
    model: 'claude-fake',
    max_tokens: 1024,
    messages: anthropicMessages,
    stream: true,
  });
  const events: Anthropic.MessageStreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

describe('OpenAI Chat Completions through the openai SDK', () => {
  it('streams text deltas, the stop finish reason and the include_usage chunk', async () => {
    fake.enqueue(text('Hello from the fake model', { usage: { inputTokens: 42, cacheReadTokens: 10 } }));

    const chunks = await chatChunks();

    const deltas = chunks.flatMap((c) => (c.choices[0]?.delta.content ? [c.choices[0].delta.content] : []));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe('Hello from the fake model');
    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['stop']);
    const last = chunks[chunks.length - 1];
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject({
      prompt_tokens: 42,
      completion_tokens: 5,
      total_tokens: 47,
      prompt_tokens_details: { cached_tokens: 10 },
      completion_tokens_details: { reasoning_tokens: 0 },
    });
    expect(chunks[0]?.id).toMatch(/^chatcmpl-/);
    fake.assertAllConsumed();
  });

  it('streams tool calls with ids, names and arguments split across chunks', async () => {
    fake.enqueue(
      toolCalls(
        [
          { id: 'call_one', name: 'execute', args: { command: 'ls -la /workspace' } },
          { name: 'read_file', args: { path: '/etc/hosts' } },
        ],
        { text: 'Let me check.' },
      ),
    );

    const stream = openai.chat.completions.stream({ model: 'gpt-fake', messages: chatMessages });
    const argChunks: string[] = [];
    stream.on('chunk', (chunk) => {
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (call.index === 0 && call.function?.arguments) argChunks.push(call.function.arguments);
      }
    });
    const completion = await stream.finalChatCompletion();

    const choice = completion.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBe('Let me check.');
    const calls = (choice?.message.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [c] : []));
    expect(calls.map((c) => [c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['execute', { command: 'ls -la /workspace' }],
      ['read_file', { path: '/etc/hosts' }],
    ]);
    expect(calls[0]?.id).toBe('call_one');
    expect(calls[1]?.id).toMatch(/^call_/);
    expect(argChunks.length).toBeGreaterThan(1);
  });

  it('passes a malformed raw argument string through unchanged', async () => {
    fake.enqueue(toolCalls([{ name: 'execute', args: '{"command": "ls' }]));

    const chunks = await chatChunks();

    const args = chunks
      .flatMap((c) => c.choices[0]?.delta.tool_calls ?? [])
      .map((c) => c.function?.arguments ?? '')
      .join('');
    expect(args).toBe('{"command": "ls');
  });

  it('streams reasoning as reasoning_content and counts reasoning tokens', async () => {
    fake.enqueue(text('The answer is 4.', { reasoning: 'Two plus two is four.' }));

    const chunks = await chatChunks();

    const reasoning = chunks
      .map((c) => (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '')
      .join('');
    expect(reasoning).toBe('Two plus two is four.');
    expect(chunks[chunks.length - 1]?.usage?.completion_tokens_details?.reasoning_tokens).toBe(5);
  });

  it('streams a web search answer with url_citation annotations', async () => {
    fake.enqueue(
      webSearch({ query: 'chatd', results: [{ url: 'https://example.com/a', title: 'A' }], text: 'Found.' }),
    );

    const completion = await openai.chat.completions
      .stream({ model: 'gpt-fake-search', messages: chatMessages })
      .finalChatCompletion();

    const message = completion.choices[0]?.message;
    expect(message?.content).toBe('Found.');
    expect(message?.annotations?.[0]).toMatchObject({
      type: 'url_citation',
      url_citation: { url: 'https://example.com/a' },
    });
  });

  it('reports finish_reason length when the answer is truncated', async () => {
    fake.enqueue(text('Cut short', { finishReason: 'length' }));

    const chunks = await chatChunks();

    expect(chunks.map((c) => c.choices[0]?.finish_reason).filter(Boolean)).toEqual(['length']);
  });

  it('returns a complete chat.completion when stream is false', async () => {
    fake.enqueue(text('Hello whole', { usage: { inputTokens: 7, outputTokens: 2 } }));
    fake.enqueue(toolCalls([{ name: 'execute', args: { command: 'pwd' } }]));

    const plain = await openai.chat.completions.create({ model: 'gpt-fake', messages: chatMessages });
    const tools = await openai.chat.completions.create({ model: 'gpt-fake', messages: chatMessages });

    expect(plain.object).toBe('chat.completion');
    expect(plain.choices[0]?.message.content).toBe('Hello whole');
    expect(plain.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 });
    const call = tools.choices[0]?.message.tool_calls?.[0];
    expect(tools.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.type === 'function' ? JSON.parse(call.function.arguments) : null).toEqual({ command: 'pwd' });
  });

  it('surfaces a 429 as RateLimitError carrying retry-after and x-ratelimit headers', async () => {
    fake.enqueue(error(429, { retryAfterSeconds: 7 }));

    const err = await caught(() => chatChunks());

    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const rate = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rate.status).toBe(429);
    expect(rate.headers.get('retry-after')).toBe('7');
    expect(rate.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(rate.code).toBe('rate_limit_exceeded');
    expect(rate.error).toMatchObject({ type: 'tokens', param: null });
  });

  it.each([
    [500, OpenAI.InternalServerError, { type: 'server_error', code: null }],
    [401, OpenAI.AuthenticationError, { type: 'invalid_request_error', code: 'invalid_api_key' }],
    [400, OpenAI.BadRequestError, { type: 'invalid_request_error', code: 'context_length_exceeded' }],
  ])('surfaces a %i with the OpenAI error body', async (status, ErrorClass, body) => {
    fake.enqueue(error(status));

    const err = await caught(() => chatChunks());

    expect(err).toBeInstanceOf(ErrorClass);
    expect((err as OpenAIApiError).status).toBe(status);
    expect((err as OpenAIApiError).error).toMatchObject(body);
  });

  it('throws an APIError while iterating when the stream fails mid-way', async () => {
    fake.enqueue(overloadedInStream({ afterText: 'Partial answer' }));
    const seen: string[] = [];

    const err = await caught(async () => {
      const stream = await openai.chat.completions.create({ model: 'gpt-fake', messages: chatMessages, stream: true });
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    });

    expect(seen.join('')).toBe('Partial answer');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as OpenAIApiError).message).toMatch(/overloaded/);
  });

  it('fails with a connection error when the stream is cut', async () => {
    fake.enqueue(cut({ afterText: 'Half of' }));
    const seen: string[] = [];

    const err = await caught(async () => {
      const stream = await openai.chat.completions.create({ model: 'gpt-fake', messages: chatMessages, stream: true });
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    });

    expect(seen.join('')).toBe('Half of');
    expect(isConnectionError(err)).toBe(true);
    expect(fake.requests[0]?.aborted).toBe(false);
  });

  it('hangs until the AbortSignal fires and records the abort', async () => {
    fake.enqueue(hang({ afterText: 'Thinking' }));
    const controller = new AbortController();
    const seen: string[] = [];

    const run = caught(async () => {
      const stream = await openai.chat.completions.create(
        { model: 'gpt-fake', messages: chatMessages, stream: true },
        { signal: controller.signal },
      );
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    });
    await waitUntil(() => seen.join('') === 'Thinking');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fake.requests[0]?.aborted).toBe(false);
    controller.abort();
    const err = await run;

    expect(err === undefined || err instanceof OpenAI.APIUserAbortError).toBe(true);
    await waitUntil(() => fake.requests[0]?.aborted === true);
  });
});

describe('OpenAI Responses through the openai SDK', () => {
  it('streams the real event sequence with sequence numbers, text and usage', async () => {
    fake.enqueue(text('Hello responses', { usage: { inputTokens: 30, cacheReadTokens: 12 } }));

    const events = await responseEvents();

    expect(events.map((e) => e.type)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const completed = events[events.length - 1];
    if (completed?.type !== 'response.completed') throw new Error('expected response.completed');
    expect(completed.response.id).toMatch(/^resp_/);
    expect(completed.response.status).toBe('completed');
    expect(completed.response.usage).toMatchObject({
      input_tokens: 30,
      output_tokens: 2,
      total_tokens: 32,
      input_tokens_details: { cached_tokens: 12 },
      output_tokens_details: { reasoning_tokens: 0 },
    });
  });

  it('streams a reasoning summary and encrypted content, accepted by the ResponseStream helper', async () => {
    fake.enqueue(text('Four.', { reasoning: 'Adding two and two.', signature: 'enc-abc' }));
    const summary: string[] = [];

    const stream = openai.responses.stream({
      model: 'gpt-fake',
      input: 'What is 2+2?',
      include: ['reasoning.encrypted_content'],
    });
    stream.on('response.reasoning_summary_text.delta', (e) => summary.push(e.delta));
    const response = await stream.finalResponse();

    expect(summary.join('')).toBe('Adding two and two.');
    expect(response.output_text).toBe('Four.');
    const reasoning = response.output[0];
    expect(reasoning).toMatchObject({
      type: 'reasoning',
      summary: [{ type: 'summary_text', text: 'Adding two and two.' }],
      encrypted_content: 'enc-abc',
    });
    expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(4);
  });

  it('streams function calls with argument deltas and call ids', async () => {
    fake.enqueue(toolCalls([{ id: 'call_abc', name: 'execute', args: { command: 'echo hi there' } }]));
    const argDeltas: string[] = [];

    const stream = openai.responses.stream({ model: 'gpt-fake', input: 'Run it' });
    stream.on('response.function_call_arguments.delta', (e) => argDeltas.push(e.delta));
    const response = await stream.finalResponse();

    expect(argDeltas.length).toBeGreaterThan(1);
    const call = response.output.find((item) => item.type === 'function_call');
    expect(call).toMatchObject({ type: 'function_call', call_id: 'call_abc', name: 'execute', status: 'completed' });
    expect(call?.type === 'function_call' ? JSON.parse(call.arguments) : null).toEqual({ command: 'echo hi there' });
    expect(call?.id).toMatch(/^fc_/);
  });

  it('streams a web_search_call item and url citations', async () => {
    fake.enqueue(
      webSearch({
        query: 'temporal durable execution',
        results: [
          { url: 'https://temporal.io', title: 'Temporal' },
          { url: 'https://docs.temporal.io', title: 'Docs' },
        ],
        text: 'Temporal runs durable workflows.',
      }),
    );

    const events = await responseEvents({ include: ['web_search_call.action.sources'] });

    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'response.web_search_call.in_progress',
        'response.web_search_call.searching',
        'response.web_search_call.completed',
        'response.output_text.annotation.added',
      ]),
    );
    const completed = events.find((e) => e.type === 'response.completed');
    if (completed?.type !== 'response.completed') throw new Error('expected response.completed');
    const [searchItem, message] = completed.response.output;
    expect(searchItem).toMatchObject({
      type: 'web_search_call',
      status: 'completed',
      action: {
        type: 'search',
        query: 'temporal durable execution',
        sources: [
          { type: 'url', url: 'https://temporal.io' },
          { type: 'url', url: 'https://docs.temporal.io' },
        ],
      },
    });
    expect(message?.type === 'message' ? message.content[0] : undefined).toMatchObject({
      type: 'output_text',
      text: 'Temporal runs durable workflows.',
      annotations: [
        { type: 'url_citation', url: 'https://temporal.io', title: 'Temporal' },
        { type: 'url_citation', url: 'https://docs.temporal.io', title: 'Docs' },
      ],
    });
  });

  it('ends with response.incomplete when the answer hits max_output_tokens', async () => {
    fake.enqueue(text('Too long', { finishReason: 'length' }));

    const events = await responseEvents();

    const last = events[events.length - 1];
    expect(last?.type).toBe('response.incomplete');
    expect(last?.type === 'response.incomplete' ? last.response.incomplete_details : null).toEqual({
      reason: 'max_output_tokens',
    });
  });

  it('returns a complete response object when stream is false', async () => {
    fake.enqueue(toolCalls([{ name: 'execute', args: { command: 'ls' } }], { text: 'Listing.' }));

    const response = await openai.responses.create({ model: 'gpt-fake', input: 'List files' });

    expect(response.id).toMatch(/^resp_/);
    expect(response.output_text).toBe('Listing.');
    expect(response.output.map((o) => o.type)).toEqual(['message', 'function_call']);
  });

  it('surfaces a 429 as RateLimitError with retry-after', async () => {
    fake.enqueue(error(429, { retryAfterSeconds: 3 }));

    const err = await caught(() => responseEvents());

    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as OpenAIApiError).headers?.get('retry-after')).toBe('3');
  });

  it('throws while iterating on an in-stream error event', async () => {
    fake.enqueue(overloadedInStream({ afterText: 'Some words' }));
    const deltas: string[] = [];

    const err = await caught(async () => {
      const stream = await openai.responses.create({ model: 'gpt-fake', input: 'hi', stream: true });
      for await (const event of stream) if (event.type === 'response.output_text.delta') deltas.push(event.delta);
    });

    expect(deltas.join('')).toBe('Some words');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as OpenAIApiError).message).toMatch(/overloaded/);
  });

  it('fails with a connection error when the stream is cut', async () => {
    fake.enqueue(cut({ afterText: 'Half' }));

    const err = await caught(() => responseEvents());

    expect(isConnectionError(err)).toBe(true);
  });

  it('hangs until the AbortSignal fires', async () => {
    fake.enqueue(hang());
    const controller = new AbortController();

    const run = caught(async () => {
      const stream = await openai.responses.create(
        { model: 'gpt-fake', input: 'hi', stream: true },
        { signal: controller.signal },
      );
      for await (const _event of stream) {
        // drain
      }
    });
    await fake.waitForRequests(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    const err = await run;

    expect(err === undefined || err instanceof OpenAI.APIUserAbortError).toBe(true);
    await waitUntil(() => fake.requests[0]?.aborted === true);
  });
});

describe('Anthropic Messages through the @anthropic-ai/sdk', () => {
  it('streams message_start, text deltas, message_delta usage and message_stop', async () => {
    fake.enqueue(
      text('Hello from Claude fake', {
        usage: { inputTokens: 21, outputTokens: 4, cacheReadTokens: 100, cacheCreationTokens: 5 },
      }),
    );

    const events = await anthropicEvents();

    expect(events.map((e) => e.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const start = events[0];
    if (start?.type !== 'message_start') throw new Error('expected message_start');
    expect(start.message.id).toMatch(/^msg_/);
    expect(start.message.usage).toMatchObject({
      input_tokens: 21,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 5,
    });
    const delta = events.find((e) => e.type === 'message_delta');
    expect(delta?.type === 'message_delta' ? [delta.delta.stop_reason, delta.usage.output_tokens] : null).toEqual([
      'end_turn',
      4,
    ]);
  });

  it('sends ping events that the SDK skips', async () => {
    fake.enqueue(text('pong'));

    const res = await fetch(`${fake.anthropicBaseUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-fake', max_tokens: 10, stream: true, messages: anthropicMessages }),
    });
    const body = await res.text();

    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(body).toContain('event: ping\ndata: {"type":"ping"}\n\n');
    expect(body.indexOf('event: message_start')).toBeLessThan(body.indexOf('event: ping'));
  });

  it('streams thinking with a signature, accepted by the MessageStream helper', async () => {
    fake.enqueue(text('Four.', { reasoning: 'Two and two make four.', signature: 'sig-123' }));
    const thinking: string[] = [];

    const stream = anthropic.messages.stream({
      model: 'claude-fake',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: anthropicMessages,
    });
    stream.on('thinking', (delta) => thinking.push(delta));
    const message = await stream.finalMessage();

    expect(thinking.join('')).toBe('Two and two make four.');
    expect(message.content[0]).toMatchObject({
      type: 'thinking',
      thinking: 'Two and two make four.',
      signature: 'sig-123',
    });
    expect(message.content[1]).toMatchObject({ type: 'text', text: 'Four.' });
    expect(message.stop_reason).toBe('end_turn');
  });

  it('streams tool_use blocks with input_json_delta split across chunks', async () => {
    fake.enqueue(
      toolCalls([
        { id: 'toolu_fixed', name: 'execute', args: { command: 'git status --short' } },
        { name: 'read_file', args: { path: 'README.md' } },
      ]),
    );

    const events = await anthropicEvents();

    const jsonDeltas = events.filter((e) => e.type === 'content_block_delta' && e.index === 0);
    expect(jsonDeltas.length).toBeGreaterThan(1);
    const toolStarts = events.flatMap((e) => (e.type === 'content_block_start' ? [e.content_block] : []));
    expect(toolStarts).toMatchObject([
      { type: 'tool_use', id: 'toolu_fixed', name: 'execute', input: {} },
      { type: 'tool_use', name: 'read_file', input: {} },
    ]);
    expect(toolStarts[1]?.type === 'tool_use' ? toolStarts[1].id : '').toMatch(/^toolu_/);
    const delta = events.find((e) => e.type === 'message_delta');
    expect(delta?.type === 'message_delta' ? delta.delta.stop_reason : null).toBe('tool_use');
  });

  it('assembles tool input through the MessageStream helper', async () => {
    fake.enqueue(toolCalls([{ name: 'execute', args: { command: 'npm test', timeout: 30 } }], { text: 'Running.' }));

    const message = await anthropic.messages
      .stream({ model: 'claude-fake', max_tokens: 100, messages: anthropicMessages })
      .finalMessage();

    expect(message.content).toMatchObject([
      { type: 'text', text: 'Running.' },
      { type: 'tool_use', name: 'execute', input: { command: 'npm test', timeout: 30 } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('streams server_tool_use and web_search_tool_result blocks for web search', async () => {
    fake.enqueue(
      webSearch({ query: 'anthropic sdk', results: [{ url: 'https://example.org', title: 'Example' }], text: 'Done.' }),
    );

    const message = await anthropic.messages
      .stream({ model: 'claude-fake', max_tokens: 100, messages: anthropicMessages })
      .finalMessage();

    const [use, result, answer] = message.content;
    expect(use).toMatchObject({ type: 'server_tool_use', name: 'web_search', input: { query: 'anthropic sdk' } });
    expect(result).toMatchObject({
      type: 'web_search_tool_result',
      tool_use_id: use?.type === 'server_tool_use' ? use.id : 'missing',
      content: [{ type: 'web_search_result', url: 'https://example.org', title: 'Example' }],
    });
    expect(answer).toMatchObject({ type: 'text', text: 'Done.' });
    expect(message.usage.server_tool_use).toMatchObject({ web_search_requests: 1 });
  });

  it('reports stop_reason max_tokens', async () => {
    fake.enqueue(text('Truncated', { finishReason: 'length' }));

    const message = await anthropic.messages
      .stream({ model: 'claude-fake', max_tokens: 1, messages: anthropicMessages })
      .finalMessage();

    expect(message.stop_reason).toBe('max_tokens');
  });

  it('returns a complete message when stream is false', async () => {
    fake.enqueue(toolCalls([{ name: 'execute', args: { command: 'ls' } }], { text: 'Sure.' }));

    const message = await anthropic.messages.create({
      model: 'claude-fake',
      max_tokens: 100,
      messages: anthropicMessages,
    });

    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toMatchObject([
      { type: 'text', text: 'Sure.' },
      { type: 'tool_use', name: 'execute', input: { command: 'ls' } },
    ]);
    expect(message.stop_reason).toBe('tool_use');
  });

  it('surfaces a 529 as OverloadedError with status 529 and type overloaded_error', async () => {
    fake.enqueue(error(529, { retryAfterSeconds: 2 }));

    const err = await caught(() => anthropicEvents());

    expect(err).toBeInstanceOf(Anthropic.OverloadedError);
    const overloaded = err as InstanceType<typeof Anthropic.OverloadedError>;
    expect(overloaded.status).toBe(529);
    expect(overloaded.type).toBe('overloaded_error');
    expect(overloaded.headers.get('retry-after')).toBe('2');
    expect(overloaded.requestID).toMatch(/^req_/);
  });

  it.each([
    [429, Anthropic.RateLimitError, 'rate_limit_error'],
    [500, Anthropic.InternalServerError, 'api_error'],
    [401, Anthropic.AuthenticationError, 'authentication_error'],
    [400, Anthropic.BadRequestError, 'invalid_request_error'],
  ])('surfaces a %i with the Anthropic error body', async (status, ErrorClass, type) => {
    fake.enqueue(error(status));

    const err = await caught(() => anthropicEvents());

    expect(err).toBeInstanceOf(ErrorClass);
    expect((err as AnthropicApiError).status).toBe(status);
    expect((err as AnthropicApiError).type).toBe(type);
    if (status === 429) expect((err as AnthropicApiError).headers?.get('retry-after')).toBe('1');
  });

  it('throws the in-stream overloaded_error while iterating after a 200', async () => {
    fake.enqueue(overloadedInStream({ afterText: 'Starting to' }));
    const seen: string[] = [];

    const err = await caught(async () => {
      const stream = await anthropic.messages.create({
        model: 'claude-fake',
        max_tokens: 100,
        messages: anthropicMessages,
        stream: true,
      });
      for await (const event of stream) {
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') seen.push(event.delta.text);
      }
    });

    expect(seen.join('')).toBe('Starting to');
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as AnthropicApiError).status).toBeUndefined();
    expect((err as AnthropicApiError).type).toBe('overloaded_error');
  });

  it('fails with a connection error when the stream is cut', async () => {
    fake.enqueue(cut({ afterText: 'Half a' }));

    const err = await caught(() => anthropicEvents());

    expect(isConnectionError(err)).toBe(true);
  });

  it('hangs until the AbortSignal fires and records the abort', async () => {
    fake.enqueue(hang({ afterText: 'Hmm' }));
    const controller = new AbortController();

    const run = caught(async () => {
      const stream = await anthropic.messages.create(
        { model: 'claude-fake', max_tokens: 100, messages: anthropicMessages, stream: true },
        { signal: controller.signal },
      );
      for await (const _event of stream) {
        // drain
      }
    });
    await fake.waitForRequests(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort();
    const err = await run;

    expect(err === undefined || err instanceof Anthropic.APIUserAbortError).toBe(true);
    await waitUntil(() => fake.requests[0]?.aborted === true);
  });
});

describe('FakeLlmServer script and recording', () => {
  it('fails an unplanned request loudly and makes assertAllConsumed throw', async () => {
    const err = await caught(() => chatChunks());

    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as OpenAIApiError).message).toContain('fake-llm: unplanned request to /v1/chat/completions');
    expect(fake.unplanned).toHaveLength(1);
    expect(() => fake.assertAllConsumed()).toThrow(/unplanned request/);
  });

  it('fails an unknown endpoint loudly', async () => {
    const res = await fetch(`${fake.url}/v1/embeddings`, { method: 'POST', body: '{}' });

    expect(res.status).toBe(404);
    expect(await res.text()).toContain('fake-llm: unplanned request to /v1/embeddings');
    expect(() => fake.assertAllConsumed()).toThrow(/unknown endpoint/);
  });

  it('lists leftover steps in assertAllConsumed', () => {
    fake.enqueue(text('never requested'), error(500));

    expect(() => fake.assertAllConsumed()).toThrow(/2 leftover step\(s\): text\("never requested"\), error\(500\)/);
  });

  it('records path, lower-case headers, parsed body and protocol of each request', async () => {
    fake.enqueue(text('a'), text('b'), text('c'));
    const withHeader = new OpenAI({
      apiKey: 'test',
      baseURL: fake.openaiBaseUrl,
      maxRetries: 0,
      defaultHeaders: { 'X-Chatd-Chat-Id': 'chat-1' },
    });

    await withHeader.chat.completions.create({ model: 'gpt-a', messages: chatMessages });
    await openai.responses.create({ model: 'gpt-b', input: 'hi', stream: true }).then(async (s) => {
      for await (const _e of s) {
        // drain
      }
    });
    await anthropic.messages.create({ model: 'claude-c', max_tokens: 5, messages: anthropicMessages });
    await fake.waitForRequests(3);

    expect(fake.requests.map((r) => [r.path, r.protocol, r.model, r.stream])).toEqual([
      ['/v1/chat/completions', 'openai-chat', 'gpt-a', false],
      ['/v1/responses', 'openai-responses', 'gpt-b', true],
      ['/v1/messages', 'anthropic', 'claude-c', false],
    ]);
    expect(fake.requests[0]?.headers['x-chatd-chat-id']).toBe('chat-1');
    expect(fake.requests[0]?.body).toMatchObject({ messages: chatMessages });
    expect(fake.requests[2]?.headers['anthropic-version']).toBeDefined();
    fake.assertAllConsumed();
  });

  it('times out waitForRequests with a clear message', async () => {
    await expect(fake.waitForRequests(1, 50)).rejects.toThrow(/expected 1 request\(s\) within 50 ms, got 0/);
  });

  it('serves from the fallback when the queue is empty', async () => {
    await fake.close();
    fake = await FakeLlmServer.start({ fallback: (req) => text(`echo ${req.model}`) });
    openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseUrl, maxRetries: 0 });

    const completion = await openai.chat.completions.create({ model: 'm1', messages: chatMessages });

    expect(completion.choices[0]?.message.content).toBe('echo m1');
    fake.assertAllConsumed();
  });

  it('paces tokens with real timers: first-token delay, then tokens per second', async () => {
    fake.enqueue(text('one two three four five six', { firstTokenDelayMs: 100, tokensPerSecond: 50 }));
    const arrivals: number[] = [];
    const t0 = performance.now();

    const stream = await openai.chat.completions.create({ model: 'gpt-fake', messages: chatMessages, stream: true });
    for await (const chunk of stream) if (chunk.choices[0]?.delta.content) arrivals.push(performance.now() - t0);

    expect(arrivals).toHaveLength(6);
    expect(arrivals[0]).toBeGreaterThanOrEqual(95);
    // 5 more tokens at 50 tokens/s take about 100 ms.
    expect((arrivals[5] ?? 0) - (arrivals[0] ?? 0)).toBeGreaterThanOrEqual(90);
  });

  it('stamps every token with its emit time when stampTokens is set', async () => {
    fake.enqueue(text('a b c d', { stampTokens: true }));
    const before = performance.timeOrigin + performance.now();

    const chunks = await chatChunks();

    const tokens = chunks.flatMap((c) => (c.choices[0]?.delta.content ? [c.choices[0].delta.content] : []));
    expect(tokens).toHaveLength(4);
    for (const token of tokens) {
      expect(token).toMatch(/^@\d+\.\d{3} $/);
      const stamp = Number(token.slice(1));
      expect(stamp).toBeGreaterThanOrEqual(before - 1);
      expect(stamp).toBeLessThanOrEqual(performance.timeOrigin + performance.now());
    }
  });

  it('streams 2,000 tokens as fast as possible without starving the event loop', async () => {
    fake.enqueue(text(Array.from({ length: 2000 }, (_, i) => `w${i}`).join(' ')));
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);

    const chunks = await chatChunks();
    clearInterval(timer);

    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(2000);
    expect(chunks[chunks.length - 1]?.usage?.completion_tokens).toBe(2000);
    expect(ticks).toBeGreaterThan(0);
  });

  it('ends hanging responses on close()', async () => {
    fake.enqueue(hang());
    const run = caught(() => anthropicEvents());
    await fake.waitForRequests(1);

    await fake.close();
    const err = await run;

    expect(isConnectionError(err)).toBe(true);
    expect(fake.requests[0]?.aborted).toBe(false);
  });

  it('accepts steps and reports requests through the /__fake control endpoints', async () => {
    const enqueue = await fetch(`${fake.url}/__fake/enqueue`, {
      method: 'POST',
      body: JSON.stringify([text('scripted over HTTP')]),
    });
    expect(await enqueue.json()).toEqual({ queued: 1, pending: 1 });

    const completion = await openai.chat.completions.create({ model: 'gpt-fake', messages: chatMessages });
    const recorded = (await (await fetch(`${fake.url}/__fake/requests`)).json()) as {
      requests: Array<{ path: string }>;
      pending: unknown[];
    };
    const reset = await fetch(`${fake.url}/__fake/reset`, { method: 'POST' });
    const bad = await fetch(`${fake.url}/__fake/enqueue`, { method: 'POST', body: '[{"kind":"nope"}]' });

    expect(completion.choices[0]?.message.content).toBe('scripted over HTTP');
    expect(recorded.requests.map((r) => r.path)).toEqual(['/v1/chat/completions']);
    expect(recorded.pending).toEqual([]);
    expect(reset.status).toBe(200);
    expect(fake.requests).toHaveLength(0);
    expect(bad.status).toBe(400);
  });
});

describe('strict requests: bodies the real APIs refuse', () => {
  it("answers an orphan Chat Completions tool message with OpenAI's 400, taking no step", async () => {
    fake.enqueue(text('never served'));

    const err = await caught(() =>
      openai.chat.completions.create({
        model: 'gpt-fake',
        messages: [...chatMessages, { role: 'tool', tool_call_id: 'call_1', content: 'ok' }],
      }),
    );

    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as OpenAIApiError).status).toBe(400);
    expect((err as OpenAIApiError).error).toEqual({
      message:
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
      type: 'invalid_request_error',
      param: 'messages.[1].role',
      code: null,
    });
    expect(fake.pending).toHaveLength(1);
    expect(fake.requests[0]?.rejected).toMatch(/messages with role 'tool'/);
    expect(() => fake.assertAllConsumed()).toThrow(/1 rejected request\(s\): POST \/v1\/chat\/completions/);
  });

  it("answers a Responses reasoning item without its following item with OpenAI's 400", async () => {
    const err = await caught(() =>
      openai.responses.create({
        model: 'gpt-fake',
        input: [
          { role: 'user', content: 'Say hello' },
          { type: 'reasoning', id: 'rs_lonely', summary: [], encrypted_content: 'enc' },
        ],
      }),
    );

    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as OpenAIApiError).error).toMatchObject({
      message: "Item 'rs_lonely' of type 'reasoning' was provided without its required following item.",
      param: 'input',
    });
  });

  it("answers a whitespace-only Anthropic text block with Anthropic's 400 and a request id", async () => {
    const err = await caught(() =>
      anthropic.messages.create({
        model: 'claude-fake',
        max_tokens: 1024,
        messages: [{ role: 'user', content: [{ type: 'text', text: ' \n ' }] }],
        stream: true,
      }),
    );

    expect(err).toBeInstanceOf(Anthropic.BadRequestError);
    expect((err as AnthropicApiError).status).toBe(400);
    expect((err as AnthropicApiError).error).toMatchObject({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: 'messages: text content blocks must contain non-whitespace text',
      },
    });
    expect((err as AnthropicApiError).requestID).toMatch(/^req_/);
  });

  it('lists rejected requests on GET /__fake/requests and forgets them on reset', async () => {
    await caught(() =>
      anthropic.messages.create({
        model: 'claude-fake',
        max_tokens: 1024,
        messages: [
          ...anthropicMessages,
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'execute', input: {} }] },
        ],
      }),
    );
    const recorded = (await (await fetch(`${fake.url}/__fake/requests`)).json()) as {
      rejected: Array<{ path: string; message: string }>;
    };
    fake.reset();

    expect(recorded.rejected).toEqual([
      {
        path: '/v1/messages',
        protocol: 'anthropic',
        body: expect.any(Object),
        message:
          'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
      },
    ]);
    expect(fake.rejected).toEqual([]);
    fake.assertAllConsumed();
  });
});

describe('knob-driven fallback of the standalone process', () => {
  beforeEach(async () => {
    await fake.close();
    fake = await FakeLlmServer.start({ fallback: createKnobResponder({ ...DEMO_KNOBS, ttft: 0, tps: 0 }) });
    openai = new OpenAI({ apiKey: 'test', baseURL: fake.openaiBaseUrl, maxRetries: 0 });
    anthropic = new Anthropic({ apiKey: 'test', baseURL: fake.anthropicBaseUrl, maxRetries: 0 });
  });

  it('answers with a demo text quoting the last user message', async () => {
    const completion = await openai.chat.completions.create({
      model: 'fake',
      messages: [{ role: 'user', content: 'What is chatd?' }],
    });

    expect(completion.choices[0]?.message.content).toContain('You said: "What is chatd?"');
  });

  it('reads tokens, tools and tool from the model name, calling tools only on the first request of a turn', async () => {
    const model = 'fake?tokens=50&tools=2&tool=read_file&args={"path":"a.txt"}';
    const first = await anthropic.messages.create({ model, max_tokens: 100, messages: anthropicMessages });
    const calls = first.content.flatMap((b) => (b.type === 'tool_use' ? [b] : []));
    const second = await anthropic.messages.create({
      model,
      max_tokens: 100,
      messages: [
        ...anthropicMessages,
        {
          role: 'assistant',
          content: calls.map((c) => ({ type: 'tool_use' as const, id: c.id, name: c.name, input: c.input })),
        },
        {
          role: 'user',
          content: calls.map((c) => ({ type: 'tool_result' as const, tool_use_id: c.id, content: 'ok' })),
        },
      ],
    });

    expect(calls.map((c) => [c.name, c.input])).toEqual([
      ['read_file', { path: 'a.txt' }],
      ['read_file', { path: 'a.txt' }],
    ]);
    expect(first.stop_reason).toBe('tool_use');
    expect(second.stop_reason).toBe('end_turn');
    expect(second.usage.output_tokens).toBe(50);
  });

  it('injects an error on every Nth request', async () => {
    const model = 'fake?error=429&every=2&retry=4';
    const ok = await openai.chat.completions.create({ model, messages: chatMessages });
    const err = await caught(() => openai.chat.completions.create({ model, messages: chatMessages }));

    expect(ok.choices[0]?.finish_reason).toBe('stop');
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as OpenAIApiError).headers?.get('retry-after')).toBe('4');
  });

  it('fails the request loudly on an invalid knob', async () => {
    const err = await caught(() => openai.chat.completions.create({ model: 'fake?tps=fast', messages: chatMessages }));

    expect((err as OpenAIApiError).message).toContain('knob tps=fast');
  });
});
