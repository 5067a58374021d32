/**
 * The summary call of compaction (src/turn/compaction.ts `summarize`) through the real provider adapters
 * and SDKs against the fake provider HTTP server. Assertions are on the recorded wire requests (summary
 * prompt last, no tools, tool choice none) and on how failures surface.
 */
import { SUMMARY_PROMPT, summarize } from '../../../src/turn/compaction';
import { LlmError } from '../../../src/llm/errors';
import { createLlmProvider } from '../../../src/llm/registry';
import type { LlmProvider, ModelMessage, ToolSpec } from '../../../src/llm/types';
import { lastUserText } from '../../../src/dev/fake-llm';
import { error, hang, text } from '../../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../../src/dev/fake-llm/server';

let server: FakeLlmServer;

beforeAll(async () => {
  server = await FakeLlmServer.start();
});

afterEach(() => {
  try {
    server.assertAllConsumed();
  } finally {
    server.reset();
  }
});

afterAll(async () => {
  await server.close();
});

type Kind = 'openai' | 'anthropic';

function providerFor(kind: Kind): LlmProvider {
  return kind === 'openai'
    ? createLlmProvider(
        { kind: 'openai', apiKey: 'k', baseUrl: server.openaiBaseUrl, apiMode: 'chat' },
        { userAgent: 'chatd/test' },
      )
    : createLlmProvider(
        { kind: 'anthropic', apiKey: 'k', baseUrl: server.anthropicBaseUrl },
        { userAgent: 'chatd/test' },
      );
}

const HISTORY: ModelMessage[] = [
  { role: 'system', content: 'You are a coding agent.' },
  { role: 'user', content: [{ type: 'text', text: 'Port the parser to TypeScript.' }] },
  { role: 'assistant', content: [{ type: 'text', text: 'I ported lexer.ts; parser.ts is next.' }] },
];

const WITH_TOOL_CALL: ModelMessage[] = [
  ...HISTORY,
  {
    role: 'assistant',
    content: [{ type: 'tool-call', id: 'call_1', name: 'execute', input: { command: 'npm test' } }],
  },
  {
    role: 'tool',
    content: [{ type: 'tool-result', id: 'call_1', name: 'execute', result: { exit_code: 1 }, isError: false }],
  },
];

const EXECUTE: ToolSpec = {
  name: 'execute',
  description: 'Run a shell command',
  inputSchema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
};

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const bodyAt = (i: number): Record<string, unknown> => server.requests[i]!.body as Record<string, unknown>;

describe.each<Kind>(['openai', 'anthropic'])('summarize (%s)', (kind) => {
  it('returns the trimmed summary', async () => {
    server.enqueue(text('\n  Goal: port the parser. Next: parser.ts.  \n'));
    const summary = await summarize(providerFor(kind), { model: 'm', messages: HISTORY, options: {} });
    expect(summary).toBe('Goal: port the parser. Next: parser.ts.');
  });

  // The summary request is the turn's own prompt plus one instruction; no tools may run while summarising.
  it('sends the summary prompt as the last user message with no tools', async () => {
    server.enqueue(text('Summary.'));
    await summarize(providerFor(kind), { model: 'summary-model', messages: HISTORY, options: {} });

    expect(server.requests).toHaveLength(1);
    const req = server.requests[0]!;
    const body = bodyAt(0);
    expect(req.model).toBe('summary-model');
    expect(lastUserText(req)).toBe(SUMMARY_PROMPT);
    const messages = body.messages as Array<{ role: string; content: unknown }>;
    const last = messages[messages.length - 1]!;
    expect(last.role).toBe('user');
    if (kind === 'openai') {
      expect(last.content).toBe(SUMMARY_PROMPT);
      expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    } else {
      expect(last.content).toEqual([expect.objectContaining({ type: 'text', text: SUMMARY_PROMPT })]);
      expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    }
    expect(body.tools).toBeUndefined();
    expect(body.tool_choice).toBeUndefined();
  });

  it('offers tools with tool choice none when the caller passes them', async () => {
    server.enqueue(text('Summary.'));
    await summarize(providerFor(kind), {
      model: 'm',
      messages: WITH_TOOL_CALL,
      options: { toolChoice: 'auto' },
      tools: [EXECUTE],
    });

    const body = bodyAt(0);
    expect(body.tools).toHaveLength(1);
    expect(body.tool_choice).toEqual(kind === 'openai' ? 'none' : { type: 'none' });
    expect(lastUserText(server.requests[0]!)).toBe(SUMMARY_PROMPT);
  });

  it('keeps the model config call options', async () => {
    server.enqueue(text('Summary.'));
    await summarize(providerFor(kind), { model: 'm', messages: HISTORY, options: { maxOutputTokens: 4096 } });
    const body = bodyAt(0);
    expect(kind === 'openai' ? body.max_completion_tokens : body.max_tokens).toBe(4096);
  });

  // An empty summary would replace the whole history with nothing.
  it.each([
    ['empty', ''],
    ['whitespace-only', ' \n\t '],
  ])('rejects an %s summary', async (_name, content) => {
    server.enqueue(text(content));
    const err = await summarize(providerFor(kind), { model: 'm', messages: HISTORY, options: {} }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LlmError);
    expect(err).toMatchObject({ kind: 'unknown', retryable: false, provider: kind });
    expect((err as LlmError).userMessage).toMatch(/empty summary/);
  });

  it('reports provider failures as classified LlmErrors', async () => {
    server.enqueue(error(500));
    await expect(summarize(providerFor(kind), { model: 'm', messages: HISTORY, options: {} })).rejects.toMatchObject({
      name: 'LlmError',
      kind: 'server',
      retryable: true,
    });
  });

  it('gives up with a timeout error when the deadline passes', async () => {
    server.enqueue(hang({ afterText: 'Goal:' }));
    const err = await summarize(providerFor(kind), { model: 'm', messages: HISTORY, options: {} }, undefined, {
      timeoutMs: 200,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'LlmError', kind: 'timeout', retryable: true });
    // The request was really abandoned: the fake saw the client hang up.
    await waitFor(() => server.requests[0]!.aborted);
  });

  it('reports a caller abort as canceled, not as a timeout', async () => {
    server.enqueue(hang());
    const controller = new AbortController();
    const pending = summarize(providerFor(kind), { model: 'm', messages: HISTORY, options: {} }, controller.signal);
    await server.waitForRequests(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'LlmError', kind: 'canceled' });
  });
});
