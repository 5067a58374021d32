/**
 * The provider adapters (src/llm) driven through the real `openai` and `@anthropic-ai/sdk` clients against
 * the fake provider HTTP server, which speaks the real wire formats (SSE framing, usage blocks, error
 * bodies). Assertions are on what the adapters return and stream, and on the requests the fake recorded.
 */
import { createAnthropicProvider } from '../../src/llm/anthropic.provider';
import { LlmError } from '../../src/llm/errors';
import { createOpenAiProvider } from '../../src/llm/openai.provider';
import { createLlmProvider, userAgentFor } from '../../src/llm/registry';
import type { LlmProvider, ModelMessage, ModelRequest, ModelStepResult, ModelStreamEvent } from '../../src/llm/types';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { cut, error, hang, overloadedInStream, text, toolCalls, webSearch } from '../../src/dev/fake-llm/script';

const USER_AGENT = userAgentFor('0.1.0-test');

let fake: FakeLlmServer;

beforeAll(async () => {
  fake = await FakeLlmServer.start();
});

afterEach(() => {
  // Every scripted step must have been used, and nothing unplanned may have been requested.
  try {
    fake.assertAllConsumed();
  } finally {
    fake.reset();
  }
});

afterAll(async () => {
  await fake.close();
});

type Protocol = 'responses' | 'chat' | 'anthropic';

function providerFor(protocol: Protocol): LlmProvider {
  switch (protocol) {
    case 'responses':
      return createOpenAiProvider({
        apiKey: 'sk-test',
        baseUrl: fake.openaiBaseUrl,
        apiMode: 'responses',
        userAgent: USER_AGENT,
        kind: 'openai',
      });
    case 'chat':
      return createOpenAiProvider({
        apiKey: 'sk-test',
        baseUrl: fake.openaiBaseUrl,
        apiMode: 'chat',
        userAgent: USER_AGENT,
        kind: 'openai-compat',
      });
    case 'anthropic':
      return createAnthropicProvider({ apiKey: 'sk-ant-test', baseUrl: fake.anthropicBaseUrl, userAgent: USER_AGENT });
  }
}

function request(overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    model: 'test-model',
    messages: [
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
    ],
    tools: [
      {
        name: 'execute',
        description: 'Run a shell command',
        inputSchema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
      },
    ],
    options: {},
    ...overrides,
  };
}

async function run(
  provider: LlmProvider,
  req: ModelRequest,
  signal?: AbortSignal,
): Promise<{ result: ModelStepResult; events: ModelStreamEvent[] }> {
  const events: ModelStreamEvent[] = [];
  const result = await provider.streamStep(req, { onEvent: (e) => events.push(e), ...(signal ? { signal } : {}) });
  return { result, events };
}

async function runExpectingError(provider: LlmProvider, req: ModelRequest, signal?: AbortSignal): Promise<LlmError> {
  const err = await run(provider, req, signal).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LlmError);
  return err as LlmError;
}

const body = (index = 0): Record<string, any> => fake.requests[index]!.body as Record<string, any>;

const textDeltas = (events: ModelStreamEvent[]): string =>
  events.flatMap((e) => (e.type === 'text-delta' ? [e.delta] : [])).join('');

const ALL: Protocol[] = ['responses', 'chat', 'anthropic'];

describe.each(ALL)('%s adapter', (protocol) => {
  it('streams text deltas and returns the assembled text, finish reason and usage', async () => {
    fake.enqueue(
      text('The answer is forty two.', {
        usage: { inputTokens: 120, outputTokens: 30, cacheReadTokens: 20 },
      }),
    );

    const { result, events } = await run(providerFor(protocol), request());

    expect(textDeltas(events)).toBe('The answer is forty two.');
    // More than one delta: the text really streamed instead of arriving in one piece.
    expect(events.filter((e) => e.type === 'text-delta').length).toBeGreaterThan(1);
    expect(result.content).toEqual([{ type: 'text', text: 'The answer is forty two.' }]);
    expect(result.finishReason).toBe('stop');
    if (protocol === 'anthropic') {
      // Anthropic's input_tokens already excludes cache reads; the total is computed from all buckets.
      expect(result.usage).toMatchObject({ inputTokens: 120, outputTokens: 30, cacheReadTokens: 20, totalTokens: 170 });
    } else {
      // OpenAI counts cached tokens inside the input; the neutral usage excludes them.
      expect(result.usage).toMatchObject({ inputTokens: 100, outputTokens: 30, cacheReadTokens: 20, totalTokens: 150 });
    }
    expect(result.usage.cacheCreationTokens).toBeNull();
  });

  it('sends User-Agent chatd/<version> on the wire, replacing the SDK default, plus extra headers', async () => {
    fake.enqueue(text('ok'));

    await run(providerFor(protocol), request({ headers: { 'X-Chatd-Chat-Id': 'chat-123' } }));

    const headers = fake.requests[0]!.headers;
    expect(headers['user-agent']).toBe(USER_AGENT);
    expect(headers['user-agent']).toMatch(/^chatd\/0\.1\.0-test \(\w+\/\w+\)$/);
    expect(headers['x-chatd-chat-id']).toBe('chat-123');
  });

  it('assembles tool calls from arguments split over many deltas', async () => {
    const args = { command: 'grep -rn "needle" src/ --include=*.ts', timeout_ms: 30000 };
    fake.enqueue(
      toolCalls(
        [
          { id: 'call_a', name: 'execute', args },
          { id: 'call_b', name: 'read_file', args: { path: '/work/README.md' } },
        ],
        { text: 'Let me look.' },
      ),
    );

    const { result, events } = await run(providerFor(protocol), request());

    expect(result.finishReason).toBe('tool-calls');
    expect(result.content).toEqual([
      { type: 'text', text: 'Let me look.' },
      { type: 'tool-call', id: 'call_a', name: 'execute', input: args },
      { type: 'tool-call', id: 'call_b', name: 'read_file', input: { path: '/work/README.md' } },
    ]);
    const deltas = events.filter((e) => e.type === 'tool-call-delta' && e.id === 'call_a');
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.map((e) => (e.type === 'tool-call-delta' ? e.delta : '')).join('')).toBe(JSON.stringify(args));
    // Start, deltas, then the completed call, in that order.
    const kinds = events.filter((e) => 'id' in e && e.id === 'call_a').map((e) => e.type);
    expect(kinds[0]).toBe('tool-call-start');
    expect(kinds[kinds.length - 1]).toBe('tool-call');
  });

  it('repairs malformed tool-call JSON to {} and flags it instead of throwing', async () => {
    const raw = '{"command": "ls -la", "cwd": ';
    fake.enqueue(toolCalls([{ id: 'call_bad', name: 'execute', args: raw }]));

    const { result, events } = await run(providerFor(protocol), request());

    expect(result.content).toEqual([
      {
        type: 'tool-call',
        id: 'call_bad',
        name: 'execute',
        input: {},
        invalidInput: { raw, message: expect.stringContaining('Invalid JSON') },
      },
    ]);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'tool-call', id: 'call_bad', input: {}, invalidInput: expect.any(Object) }),
    );
  });

  it('classifies HTTP 429 as rate_limit with the Retry-After delay', async () => {
    fake.enqueue(error(429, { retryAfterSeconds: 7 }));

    const err = await runExpectingError(providerFor(protocol), request());

    expect(err).toMatchObject({ kind: 'rate_limit', retryable: true, statusCode: 429, retryAfterMs: 7000 });
  });

  it('classifies HTTP 500 as a retryable server error', async () => {
    fake.enqueue(error(500));

    const err = await runExpectingError(providerFor(protocol), request());

    expect(err).toMatchObject({ kind: 'server', retryable: true, statusCode: 500 });
  });

  it('treats a stream cut mid-response as retryable', async () => {
    fake.enqueue(cut({ afterText: 'Partial answer that' }));
    const events: ModelStreamEvent[] = [];

    const err = await providerFor(protocol)
      .streamStep(request(), { onEvent: (e) => events.push(e) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(err).toBeInstanceOf(LlmError);
    expect(err).toMatchObject({ retryable: true });
    // What streamed before the cut still reached the caller, for the interrupted-step flush.
    expect(textDeltas(events)).toBe('Partial answer that');
  });

  it('reports a failure inside a 200 stream as a retryable error', async () => {
    fake.enqueue(overloadedInStream({ afterText: 'Working on' }));

    const err = await runExpectingError(providerFor(protocol), request());

    expect(err.retryable).toBe(true);
    expect(err.statusCode).toBeNull();
    expect(err.kind).toBe(protocol === 'anthropic' ? 'overloaded' : 'server');
  });

  it('aborts the HTTP request promptly on cancel and reports kind canceled', async () => {
    fake.enqueue(hang({ afterText: 'Thinking about' }));
    const controller = new AbortController();
    const events: ModelStreamEvent[] = [];
    const pending = providerFor(protocol)
      .streamStep(request(), { signal: controller.signal, onEvent: (e) => events.push(e) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    // Abort once the stream is demonstrably open (text arrived), not merely requested.
    await waitFor(() => textDeltas(events) === 'Thinking about');
    const abortedAt = Date.now();
    controller.abort();
    const err = await pending;

    expect(err).toBeInstanceOf(LlmError);
    expect(err).toMatchObject({ kind: 'canceled', retryable: false });
    expect(Date.now() - abortedAt).toBeLessThan(2000);
    // The fake saw the client hang up: the socket really closed.
    await waitFor(() => fake.requests[0]!.aborted);
  });

  it('rejects at once, without a request, when the signal is already aborted', async () => {
    const err = await runExpectingError(providerFor(protocol), request(), AbortSignal.abort());

    expect(err.kind).toBe('canceled');
    expect(fake.requests).toHaveLength(0);
  });
});

describe('OpenAI Responses adapter', () => {
  it('sends previous_response_id and store in chain mode, and returns the new response id', async () => {
    fake.enqueue(text('Continuing.'));

    const { result } = await run(
      providerFor('responses'),
      request({ previousResponseId: 'resp_previous123', options: { store: true } }),
    );

    expect(body()).toMatchObject({ previous_response_id: 'resp_previous123', store: true, stream: true });
    // Stored responses keep reasoning server side: no encrypted reasoning is requested.
    expect(body().include).toBeUndefined();
    expect(result.responseId).toMatch(/^resp_/);
  });

  it('round-trips reasoning via encrypted content when not stored, and skips it when stored', async () => {
    fake.enqueue(
      text('Done.', { reasoning: 'I should check the tests first.', signature: 'enc-abc' }),
      text('Next.'),
      text('Chained.'),
    );
    const provider = providerFor('responses');

    const first = await run(provider, request({ options: { reasoningEffort: 'high', reasoningSummary: 'auto' } }));
    expect(body(0)).toMatchObject({
      store: false,
      include: ['reasoning.encrypted_content'],
      reasoning: { effort: 'high', summary: 'auto' },
    });
    expect(first.result.content[0]).toMatchObject({
      type: 'reasoning',
      text: 'I should check the tests first.',
      encrypted: 'enc-abc',
      providerItemId: expect.stringMatching(/^rs_/),
    });
    expect(first.events).toContainEqual({ type: 'reasoning-delta', delta: 'I' });

    const history: ModelMessage[] = [
      ...request().messages,
      { role: 'assistant', content: first.result.content },
      { role: 'user', content: [{ type: 'text', text: 'And then?' }] },
    ];
    await run(provider, request({ messages: history }));
    expect(body(1).input).toContainEqual({
      type: 'reasoning',
      id: (first.result.content[0] as { providerItemId: string }).providerItemId,
      encrypted_content: 'enc-abc',
      summary: [{ type: 'summary_text', text: 'I should check the tests first.' }],
    });

    await run(provider, request({ messages: history, options: { store: true } }));
    expect((body(2).input as Array<{ type?: string }>).some((item) => item.type === 'reasoning')).toBe(false);
  });

  it('replays tool calls and tool results as function_call items', async () => {
    fake.enqueue(text('ok'));
    const messages: ModelMessage[] = [
      ...request().messages,
      { role: 'assistant', content: [{ type: 'tool-call', id: 'call_1', name: 'execute', input: { command: 'ls' } }] },
      {
        role: 'tool',
        content: [{ type: 'tool-result', id: 'call_1', name: 'execute', result: { output: 'a.txt' }, isError: false }],
      },
    ];

    await run(providerFor('responses'), request({ messages }));

    expect(body().input).toEqual([
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: [{ type: 'input_text', text: 'Hello' }] },
      { type: 'function_call', call_id: 'call_1', name: 'execute', arguments: '{"command":"ls"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '{"output":"a.txt"}' },
    ]);
    expect(body().tools).toEqual([
      expect.objectContaining({ type: 'function', name: 'execute', strict: false, parameters: expect.any(Object) }),
    ]);
  });

  it('keeps a provider-executed web search inside the assistant content, with its sources', async () => {
    fake.enqueue(
      webSearch({
        query: 'temporal typescript sdk',
        results: [{ url: 'https://docs.temporal.io/develop/typescript', title: 'TypeScript SDK' }],
        text: 'Temporal has a TypeScript SDK.',
      }),
    );

    const { result } = await run(
      providerFor('responses'),
      request({ providerTools: { webSearch: { enabled: true, allowedDomains: ['temporal.io'] } } }),
    );

    expect(body().tools).toContainEqual({ type: 'web_search', filters: { allowed_domains: ['temporal.io'] } });
    expect(result.finishReason).toBe('stop');
    expect(result.content).toEqual([
      expect.objectContaining({ type: 'tool-call', name: 'web_search', providerExecuted: true }),
      expect.objectContaining({ type: 'tool-result', name: 'web_search', providerExecuted: true, isError: false }),
      { type: 'text', text: 'Temporal has a TypeScript SDK.' },
      expect.objectContaining({ type: 'source', url: 'https://docs.temporal.io/develop/typescript' }),
    ]);
  });

  it('reports a length cut-off as finish reason length', async () => {
    fake.enqueue(text('Truncated here', { finishReason: 'length' }));

    const { result } = await run(providerFor('responses'), request({ options: { maxOutputTokens: 5 } }));

    expect(body().max_output_tokens).toBe(5);
    expect(result.finishReason).toBe('length');
  });
});

describe('OpenAI Chat Completions adapter', () => {
  it('asks for usage in the stream and captures reasoning_content from compatible servers', async () => {
    fake.enqueue(
      text('Hi.', { reasoning: 'Greet briefly.', usage: { inputTokens: 50, outputTokens: 10, reasoningTokens: 4 } }),
    );

    const { result, events } = await run(providerFor('chat'), request({ options: { maxOutputTokens: 256 } }));

    expect(body()).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_tokens: 256 });
    expect(result.content).toEqual([
      { type: 'reasoning', text: 'Greet briefly.' },
      { type: 'text', text: 'Hi.' },
    ]);
    expect(events[0]).toEqual({ type: 'reasoning-delta', delta: 'Greet' });
    expect(result.usage).toMatchObject({ inputTokens: 50, outputTokens: 10, reasoningTokens: 4, totalTokens: 60 });
  });

  it('sends tool history in Chat Completions shape and drops empty parts', async () => {
    fake.enqueue(text('ok'));
    const messages: ModelMessage[] = [
      ...request().messages,
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: 'internal' },
          { type: 'text', text: '' },
          { type: 'tool-call', id: 'call_1', name: 'execute', input: { command: 'ls' } },
        ],
      },
      {
        role: 'tool',
        content: [{ type: 'tool-result', id: 'call_1', name: 'execute', result: 'a.txt', isError: false }],
      },
    ];

    await run(providerFor('chat'), request({ messages }));

    expect(body().messages).toEqual([
      { role: 'system', content: 'You are a coding agent.' },
      { role: 'user', content: 'Hello' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'execute', arguments: '{"command":"ls"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'a.txt' },
    ]);
  });

  it('uses max_completion_tokens for OpenAI itself', async () => {
    fake.enqueue(text('ok'));
    const provider = createLlmProvider(
      { kind: 'openai', apiKey: 'sk-test', baseUrl: fake.openaiBaseUrl, apiMode: 'chat' },
      { userAgent: USER_AGENT },
    );

    await run(provider, request({ options: { maxOutputTokens: 100 } }));

    expect(fake.requests[0]!.path).toBe('/v1/chat/completions');
    expect(body()).toMatchObject({ max_completion_tokens: 100 });
    expect(body().max_tokens).toBeUndefined();
  });
});

describe('Anthropic adapter', () => {
  it('round-trips thinking with its signature: the next request carries the signature back', async () => {
    fake.enqueue(
      text('I will list files.', { reasoning: 'The user wants a listing.', signature: 'sig-XYZ' }),
      text('Done.'),
    );
    const provider = providerFor('anthropic');
    const options = { thinkingBudgetTokens: 2048, temperature: 0.2 };

    const first = await run(provider, request({ options }));
    expect(body(0).thinking).toEqual({ type: 'enabled', budget_tokens: 2048 });
    expect(body(0).max_tokens).toBeGreaterThan(2048);
    // Anthropic rejects a temperature other than 1 with thinking on, so none is sent.
    expect(body(0).temperature).toBeUndefined();
    expect(first.result.content).toEqual([
      { type: 'reasoning', text: 'The user wants a listing.', signature: 'sig-XYZ' },
      { type: 'text', text: 'I will list files.' },
    ]);

    await run(
      provider,
      request({
        options,
        messages: [
          ...request().messages,
          { role: 'assistant', content: first.result.content },
          { role: 'user', content: [{ type: 'text', text: 'Go on.' }] },
        ],
      }),
    );
    expect(body(1).messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'thinking', thinking: 'The user wants a listing.', signature: 'sig-XYZ' },
        { type: 'text', text: 'I will list files.', cache_control: { type: 'ephemeral' } },
      ],
    });
  });

  it('replays redacted thinking as opaque data and drops unsigned reasoning', async () => {
    fake.enqueue(text('ok'));
    const messages: ModelMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'Q' }] },
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: '', redactedData: 'opaque==' },
          { type: 'reasoning', text: 'from another provider' },
          { type: 'text', text: 'A' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'Q2' }] },
    ];

    await run(providerFor('anthropic'), request({ messages }));

    expect(body().messages[1].content).toEqual([
      { type: 'redacted_thinking', data: 'opaque==' },
      { type: 'text', text: 'A', cache_control: { type: 'ephemeral' } },
    ]);
  });

  it('places cache_control breakpoints on the last system block and the last two messages only', async () => {
    fake.enqueue(text('ok'));
    const messages: ModelMessage[] = [
      { role: 'system', content: 'Base prompt.' },
      { role: 'system', content: 'Workspace context.' },
      { role: 'user', content: [{ type: 'text', text: 'First question' }] },
      { role: 'assistant', content: [{ type: 'tool-call', id: 'toolu_1', name: 'execute', input: { command: 'ls' } }] },
      {
        role: 'tool',
        content: [{ type: 'tool-result', id: 'toolu_1', name: 'execute', result: { error: 'boom' }, isError: true }],
      },
      { role: 'user', content: [{ type: 'text', text: 'Try again' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Retrying.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
    ];

    await run(providerFor('anthropic'), request({ messages }));

    const sent = body();
    expect(sent.system).toEqual([
      { type: 'text', text: 'Base prompt.' },
      { type: 'text', text: 'Workspace context.', cache_control: { type: 'ephemeral' } },
    ]);
    // The tool message and the following user message merge into one user turn, tool_result first.
    expect(sent.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'First question' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'execute', input: { command: 'ls' } }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"error":"boom"}', is_error: true },
          { type: 'text', text: 'Try again' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'Retrying.', cache_control: { type: 'ephemeral' } }] },
      { role: 'user', content: [{ type: 'text', text: 'Thanks', cache_control: { type: 'ephemeral' } }] },
    ]);
    const breakpoints = JSON.stringify(sent).match(/cache_control/g) ?? [];
    expect(breakpoints).toHaveLength(3);
  });

  it('keeps web search server_tool_use and results in the assistant content and replays them', async () => {
    fake.enqueue(
      webSearch({
        query: 'anthropic prompt caching',
        results: [{ url: 'https://docs.claude.com/caching', title: 'Prompt caching' }],
        text: 'Caching lasts five minutes.',
      }),
      text('ok'),
    );
    const provider = providerFor('anthropic');

    const first = await run(
      provider,
      request({ providerTools: { webSearch: { enabled: true, blockedDomains: ['example.com'] } } }),
    );

    expect(body(0).tools).toContainEqual({
      type: 'web_search_20250305',
      name: 'web_search',
      blocked_domains: ['example.com'],
    });
    expect(first.result.finishReason).toBe('stop');
    const [call, result, answer] = first.result.content;
    expect(call).toMatchObject({
      type: 'tool-call',
      name: 'web_search',
      providerExecuted: true,
      input: { query: 'anthropic prompt caching' },
    });
    expect(result).toMatchObject({ type: 'tool-result', providerExecuted: true, isError: false });
    expect(answer).toEqual({ type: 'text', text: 'Caching lasts five minutes.' });
    expect(first.events).toContainEqual(expect.objectContaining({ type: 'tool-result', providerExecuted: true }));

    await run(
      provider,
      request({
        messages: [
          ...request().messages,
          { role: 'assistant', content: first.result.content },
          { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
        ],
      }),
    );
    const replayed = body(1).messages[1].content as Array<Record<string, unknown>>;
    expect(replayed.map((b) => b.type)).toEqual(['server_tool_use', 'web_search_tool_result', 'text']);
    expect(replayed[1]).toMatchObject({
      tool_use_id: (call as { id: string }).id,
      content: [
        expect.objectContaining({ url: 'https://docs.claude.com/caching', encrypted_content: expect.any(String) }),
      ],
    });
  });

  it('classifies HTTP 529 as overloaded and retryable', async () => {
    fake.enqueue(error(529));

    const err = await runExpectingError(providerFor('anthropic'), request());

    expect(err).toMatchObject({ kind: 'overloaded', retryable: true, statusCode: 529, provider: 'anthropic' });
    expect(err.userMessage).toBe('Anthropic is temporarily overloaded (HTTP 529). Please try again later.');
  });

  it('classifies an over-long prompt as context_length (not retryable)', async () => {
    fake.enqueue(error(400));

    const err = await runExpectingError(providerFor('anthropic'), request());

    expect(err).toMatchObject({ kind: 'context_length', retryable: false, statusCode: 400 });
  });

  it('classifies a bad API key as auth', async () => {
    fake.enqueue(error(401));

    const err = await runExpectingError(providerFor('anthropic'), request());

    expect(err).toMatchObject({ kind: 'auth', retryable: false, statusCode: 401 });
  });
});

describe('createLlmProvider', () => {
  it('routes openai to the Responses API by default and openai-compat to Chat Completions', async () => {
    fake.enqueue(text('a'), text('b'));

    await run(
      createLlmProvider({ kind: 'openai', apiKey: 'k', baseUrl: fake.openaiBaseUrl }, { userAgent: USER_AGENT }),
      request(),
    );
    await run(
      createLlmProvider({ kind: 'openai-compat', apiKey: '', baseUrl: fake.openaiBaseUrl }, { userAgent: USER_AGENT }),
      request(),
    );

    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/responses', '/v1/chat/completions']);
  });

  it('fails with a config error when a required API key is missing', () => {
    expect(() => createLlmProvider({ kind: 'anthropic', apiKey: ' ' }, { userAgent: USER_AGENT })).toThrow(
      expect.objectContaining({ kind: 'config', userMessage: expect.stringContaining('ANTHROPIC_API_KEY is not set') }),
    );
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
