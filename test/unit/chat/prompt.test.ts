/**
 * buildPrompt: persisted parts → the neutral prompt, with the history repairs providers need
 * (both OpenAI and Anthropic reject unanswered tool calls and results without their call).
 */
import { buildPrompt, INTERRUPTED_TOOL_RESULT, sanitizeToolCallId, type PromptMessage } from '../../../src/turn/prompt';

const user = (text: string): PromptMessage => ({ role: 'user', content: [{ type: 'text', text }] });

describe('buildPrompt', () => {
  it('keeps system, user and assistant text in order and drops empty text parts', () => {
    const prompt = buildPrompt([
      { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
      user('hi'),
      {
        role: 'assistant',
        content: [
          { type: 'text', text: '' },
          { type: 'text', text: 'hello' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: '' }] },
    ]);
    expect(prompt).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'hello' }] },
    ]);
  });

  it('answers a tool call that has no stored result with a synthetic interrupted error', () => {
    const prompt = buildPrompt([
      user('list files'),
      {
        role: 'assistant',
        content: [{ type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args: { command: 'ls' } }],
      },
      user('and now?'),
    ]);
    expect(prompt[2]).toEqual({
      role: 'tool',
      content: [{ type: 'tool-result', id: 'c1', name: 'execute', result: INTERRUPTED_TOOL_RESULT, isError: true }],
    });
    expect(prompt[3]).toMatchObject({ role: 'user' });
  });

  it('keeps stored results and repairs only the missing ones, in call order', () => {
    const prompt = buildPrompt([
      {
        role: 'assistant',
        content: [
          { type: 'tool-call', tool_call_id: 'a', tool_name: 'read_file', args: {} },
          { type: 'tool-call', tool_call_id: 'b', tool_name: 'read_file', args: {} },
        ],
      },
      { role: 'tool', content: [{ type: 'tool-result', tool_call_id: 'b', tool_name: 'read_file', result: 'B' }] },
    ]);
    expect(
      prompt.filter((m) => m.role === 'tool').flatMap((m) => m.content.map((r) => (r as { id: string }).id)),
    ).toEqual(['a', 'b']);
  });

  it('gives an orphan tool result a synthetic call in front of it', () => {
    const prompt = buildPrompt([
      user('x'),
      { role: 'tool', content: [{ type: 'tool-result', tool_call_id: 'lost', tool_name: 'execute', result: 'ok' }] },
    ]);
    expect(prompt[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool-call', id: 'lost', name: 'execute', input: {} }],
    });
    expect(prompt[2]).toMatchObject({ role: 'tool' });
  });

  it('always sends tool input as an object', () => {
    const prompt = buildPrompt([
      { role: 'assistant', content: [{ type: 'tool-call', tool_call_id: 'c', tool_name: 't', args: '[1,2]' }] },
      { role: 'tool', content: [{ type: 'tool-result', tool_call_id: 'c', tool_name: 't', result: 1 }] },
    ]);
    expect(prompt[0]).toEqual({ role: 'assistant', content: [{ type: 'tool-call', id: 'c', name: 't', input: {} }] });
  });

  it('leaves provider-executed calls without a local result', () => {
    const prompt = buildPrompt([
      {
        role: 'assistant',
        content: [
          {
            type: 'tool-call',
            tool_call_id: 'ws',
            tool_name: 'web_search',
            args: { query: 'q' },
            provider_executed: true,
          },
          { type: 'tool-result', tool_call_id: 'ws', tool_name: 'web_search', result: [], provider_executed: true },
          { type: 'text', text: 'found it' },
        ],
      },
    ]);
    expect(prompt).toHaveLength(1);
  });

  it('renders file references as fenced code with their line range', () => {
    const [message] = buildPrompt([
      {
        role: 'user',
        content: [{ type: 'file-reference', file_name: 'a.ts', start_line: 3, end_line: 5, content: 'x' }],
      },
    ]);
    expect(message).toEqual({
      role: 'user',
      content: [{ type: 'text', text: '[file-reference] a.ts:3-5\n```\nx\n```' }],
    });
  });

  it('drops whitespace-only text parts of every role and the messages they leave empty', () => {
    const prompt = buildPrompt([
      {
        role: 'system',
        content: [
          { type: 'text', text: 'Be brief.' },
          { type: 'text', text: ' \n' },
        ],
      },
      { role: 'system', content: [{ type: 'text', text: '\t' }] },
      {
        role: 'user',
        content: [
          { type: 'text', text: '  ' },
          { type: 'text', text: ' hi ' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: '\n\n' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: '\n\n' },
          { type: 'text', text: 'hello' },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: ' ' }] },
    ]);
    expect(prompt).toEqual([
      { role: 'system', content: 'Be brief.' },
      // Text with content is sent as stored, surrounding whitespace included.
      { role: 'user', content: [{ type: 'text', text: ' hi ' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'hello' }] },
    ]);
  });

  it('does not send a provider-executed call whose result never arrived (interrupted web search)', () => {
    const interrupted: PromptMessage = {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me search.' },
        {
          type: 'tool-call',
          tool_call_id: 'ws',
          tool_name: 'web_search',
          args: { query: 'q' },
          provider_executed: true,
        },
      ],
    };
    const prompt = buildPrompt([user('search'), interrupted, user('never mind')]);
    expect(prompt).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'search' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Let me search.' }] },
      { role: 'user', content: [{ type: 'text', text: 'never mind' }] },
    ]);
    // The stored message is left as it was.
    expect(interrupted.content).toHaveLength(2);
  });

  it('drops an assistant message whose only part was the unanswered provider-executed call', () => {
    const prompt = buildPrompt([
      user('search'),
      {
        role: 'assistant',
        content: [
          { type: 'tool-call', tool_call_id: 'ws', tool_name: 'web_search', args: {}, provider_executed: true },
        ],
      },
      user('never mind'),
    ]);
    expect(prompt.map((m) => m.role)).toEqual(['user', 'user']);
  });

  it('does not send a provider-executed result without its call before it', () => {
    const [message] = buildPrompt([
      {
        role: 'assistant',
        content: [
          { type: 'tool-result', tool_call_id: 'early', tool_name: 'web_search', result: [], provider_executed: true },
          { type: 'tool-call', tool_call_id: 'early', tool_name: 'web_search', args: {}, provider_executed: true },
          { type: 'tool-result', tool_call_id: 'lost', tool_name: 'web_search', result: [], provider_executed: true },
          { type: 'text', text: 'done' },
        ],
      },
    ]);
    expect(message).toEqual({ role: 'assistant', content: [{ type: 'text', text: 'done' }] });
  });

  it('keeps a completed web search call with its result, in stream order', () => {
    const [message] = buildPrompt([
      {
        role: 'assistant',
        content: [
          {
            type: 'tool-call',
            tool_call_id: 'ws',
            tool_name: 'web_search',
            args: { query: 'q' },
            provider_executed: true,
          },
          { type: 'tool-result', tool_call_id: 'ws', tool_name: 'web_search', result: [], provider_executed: true },
          { type: 'text', text: 'found it' },
        ],
      },
    ]);
    expect(message).toEqual({
      role: 'assistant',
      content: [
        { type: 'tool-call', id: 'ws', name: 'web_search', input: { query: 'q' }, providerExecuted: true },
        { type: 'tool-result', id: 'ws', name: 'web_search', result: [], isError: false, providerExecuted: true },
        { type: 'text', text: 'found it' },
      ],
    });
  });

  it('sanitises tool call ids to the characters providers accept', () => {
    expect(sanitizeToolCallId('call:1/a.b')).toBe('call_1_a_b');
  });
});
