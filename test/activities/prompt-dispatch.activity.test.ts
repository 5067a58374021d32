/**
 * The dispatch boundary against the strict fake provider: stored messages go through buildPrompt and the
 * provider adapters, over the real `openai` and `@anthropic-ai/sdk` clients, to a fake that refuses what
 * the real APIs refuse (docs/fake-llm.md, "Strict requests"). Histories that once made every later request
 * of a chat fail with a 400 must now be accepted: whitespace-only text parts, and an assistant message
 * whose provider-executed web search was interrupted before its result arrived.
 */
import { createAnthropicProvider } from '../../src/llm/anthropic.provider';
import { createOpenAiProvider } from '../../src/llm/openai.provider';
import { userAgentFor } from '../../src/llm/registry';
import type { LlmProvider, ModelMessage, ModelRequest } from '../../src/llm/types';
import { buildPrompt, type PromptMessage } from '../../src/turn/prompt';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';

const USER_AGENT = userAgentFor('0.1.0-test');

let fake: FakeLlmServer;

beforeAll(async () => {
  fake = await FakeLlmServer.start();
});

afterEach(() => {
  try {
    // A refused request is listed here with the provider's message.
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
  if (protocol === 'anthropic') {
    return createAnthropicProvider({ apiKey: 'sk-ant-test', baseUrl: fake.anthropicBaseUrl, userAgent: USER_AGENT });
  }
  return createOpenAiProvider({
    apiKey: 'sk-test',
    baseUrl: fake.openaiBaseUrl,
    apiMode: protocol,
    userAgent: USER_AGENT,
    kind: protocol === 'responses' ? 'openai' : 'openai-compat',
  });
}

function request(messages: ModelMessage[]): ModelRequest {
  return {
    model: 'test-model',
    messages,
    tools: [
      {
        name: 'execute',
        description: 'Run a shell command',
        inputSchema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
      },
    ],
    providerTools: { webSearch: { enabled: true } },
    options: {},
  };
}

/** Sends the stored history as chatd does and returns the answer's text (it throws on a refusal). */
async function dispatch(protocol: Protocol, stored: PromptMessage[]): Promise<string> {
  fake.enqueue(text('Accepted.'));
  const result = await providerFor(protocol).streamStep(request(buildPrompt(stored)), { onEvent: () => undefined });
  return result.content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
}

const sent = (): Record<string, any> => fake.requests[0]!.body as Record<string, any>;

/** Every `text` or `content` string in a request body that holds only whitespace. */
function blankTexts(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(blankTexts);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) =>
    (key === 'text' || key === 'content') && typeof v === 'string' && v.trim() === '' ? [v] : blankTexts(v),
  );
}

const WHITESPACE_HISTORY: PromptMessage[] = [
  { role: 'system', content: [{ type: 'text', text: 'You are a coding agent.' }] },
  {
    role: 'user',
    content: [
      { type: 'text', text: 'List the files.' },
      { type: 'text', text: ' \n ' },
    ],
  },
  {
    role: 'assistant',
    content: [
      { type: 'text', text: '\n\n' },
      { type: 'tool-call', tool_call_id: 'toolu_01list', tool_name: 'execute', args: { command: 'ls' } },
    ],
  },
  {
    role: 'tool',
    content: [{ type: 'tool-result', tool_call_id: 'toolu_01list', tool_name: 'execute', result: 'a.txt' }],
  },
  { role: 'assistant', content: [{ type: 'text', text: ' ' }] },
  { role: 'user', content: [{ type: 'text', text: 'Thanks. And now?' }] },
];

/** The stream was interrupted after the search call and before its result (the message as it is stored). */
const INTERRUPTED_SEARCH_HISTORY: PromptMessage[] = [
  { role: 'user', content: [{ type: 'text', text: 'Search for the Temporal TypeScript SDK.' }] },
  {
    role: 'assistant',
    content: [
      { type: 'text', text: 'Let me search.' },
      {
        type: 'tool-call',
        tool_call_id: 'srvtoolu_01interrupted',
        tool_name: 'web_search',
        args: { query: 'temporal typescript sdk' },
        provider_executed: true,
      },
    ],
  },
  { role: 'user', content: [{ type: 'text', text: 'Never mind, answer from memory.' }] },
];

describe.each<Protocol>(['anthropic', 'responses', 'chat'])('%s: stored history the API used to refuse', (protocol) => {
  it('is accepted with whitespace-only text parts in user and assistant messages', async () => {
    expect(await dispatch(protocol, WHITESPACE_HISTORY)).toBe('Accepted.');
    expect(blankTexts(sent())).toEqual([]);
  });

  it('is accepted after a web search interrupted before its result', async () => {
    expect(await dispatch(protocol, INTERRUPTED_SEARCH_HISTORY)).toBe('Accepted.');
    // The unanswered call is not sent; the text said before it is.
    expect(JSON.stringify(sent())).not.toContain('srvtoolu_01interrupted');
    expect(JSON.stringify(sent())).toContain('Let me search.');
  });
});

describe('Anthropic: a stored message whose only part was the interrupted search', () => {
  it('leaves two user messages in a row, which the API merges and accepts', async () => {
    const stored: PromptMessage[] = [
      INTERRUPTED_SEARCH_HISTORY[0]!,
      { role: 'assistant', content: [INTERRUPTED_SEARCH_HISTORY[1]!.content[1]!] },
      INTERRUPTED_SEARCH_HISTORY[2]!,
    ];

    expect(await dispatch('anthropic', stored)).toBe('Accepted.');
    expect(sent().messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Search for the Temporal TypeScript SDK.' },
          { type: 'text', text: 'Never mind, answer from memory.', cache_control: { type: 'ephemeral' } },
        ],
      },
    ]);
  });
});

describe('OpenAI Responses: replayed reasoning whose following item is not sent', () => {
  it('drops the reasoning item rather than send it alone', async () => {
    const messages: ModelMessage[] = [
      { role: 'user', content: [{ type: 'text', text: 'Think, then answer.' }] },
      {
        role: 'assistant',
        content: [{ type: 'reasoning', text: 'Pondering.', providerItemId: 'rs_01lonely', encrypted: 'enc-1' }],
      },
      { role: 'user', content: [{ type: 'text', text: 'Well?' }] },
    ];
    fake.enqueue(text('Accepted.'));

    await providerFor('responses').streamStep(request(messages), { onEvent: () => undefined });

    expect(JSON.stringify(sent().input)).not.toContain('rs_01lonely');
  });
});
