/**
 * The strict fake's request validation (src/dev/fake-llm/*-validation.ts): for each protocol, bodies the
 * real API accepts pass, and each body it refuses gets its 400 `invalid_request_error` with the real
 * API's message, in that provider's error shape.
 */
import { rejectInvalidRequest } from '../../../../src/dev/fake-llm/validation';
import type { FakeProtocol } from '../../../../src/dev/fake-llm/request';

const reject = (protocol: FakeProtocol, body: Record<string, unknown>) => rejectInvalidRequest({ protocol, body });

/** Asserts Anthropic's 400 body (`{type: "error", error: {type, message}, request_id}`) and returns its message. */
function anthropicRefusal(body: Record<string, unknown>): string {
  const res = reject('anthropic', { model: 'claude-fake', max_tokens: 1024, ...body });
  expect(res?.status).toBe(400);
  expect(res?.headers['request-id']).toMatch(/^req_/);
  expect(res?.body).toEqual({
    type: 'error',
    error: { type: 'invalid_request_error', message: expect.any(String) },
    request_id: res?.headers['request-id'],
  });
  return (res!.body as { error: { message: string } }).error.message;
}

/** Asserts OpenAI's 400 body (`{error: {message, type, param, code: null}}`) and returns message and param. */
function openAiRefusal(protocol: FakeProtocol, body: Record<string, unknown>): { message: string; param: unknown } {
  const res = reject(protocol, { model: 'gpt-fake', ...body });
  expect(res?.status).toBe(400);
  expect(res?.headers['x-request-id']).toMatch(/^req_/);
  expect(res?.body).toEqual({
    error: { message: expect.any(String), type: 'invalid_request_error', param: expect.anything(), code: null },
  });
  const { message, param } = (res!.body as { error: { message: string; param: unknown } }).error;
  return { message, param };
}

const userText = (text: string) => ({ role: 'user', content: [{ type: 'text', text }] });
const toolUse = (id: string) => ({ type: 'tool_use', id, name: 'execute', input: { command: 'ls' } });
const toolResult = (id: string) => ({ type: 'tool_result', tool_use_id: id, content: 'a.txt' });
const searchCall = (id: string) => ({ type: 'server_tool_use', id, name: 'web_search', input: { query: 'q' } });
const searchResult = (id: string) => ({ type: 'web_search_tool_result', tool_use_id: id, content: [] });

describe('Anthropic Messages validation', () => {
  it('accepts a valid conversation, including what the API merges or allows', () => {
    const ok = (messages: unknown[]) => expect(reject('anthropic', { messages })).toBeNull();
    ok([
      userText('list files'),
      { role: 'assistant', content: [{ type: 'text', text: 'Looking.' }, toolUse('toolu_1')] },
      { role: 'user', content: [toolResult('toolu_1'), { type: 'text', text: 'and?' }] },
      {
        role: 'assistant',
        content: [searchCall('srvtoolu_1'), searchResult('srvtoolu_1'), { type: 'text', text: 'x' }],
      },
      userText('thanks'),
    ]);
    // Consecutive messages of one role are merged into one turn before tool calls are paired.
    ok([
      userText('q'),
      { role: 'assistant', content: [toolUse('toolu_1')] },
      { role: 'assistant', content: [{ type: 'text', text: 'running it' }] },
      { role: 'user', content: [toolResult('toolu_1')] },
      userText('more'),
    ]);
    // The first-party API accepts an assistant message first.
    ok([{ role: 'assistant', content: 'How can I help?' }, userText('hello')]);
    // An empty final assistant message (a prefill) is allowed.
    ok([userText('hi'), { role: 'assistant', content: [] }]);
  });

  it('refuses an empty text block', () => {
    expect(anthropicRefusal({ messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] })).toBe(
      'messages: text content blocks must be non-empty',
    );
  });

  it('refuses a whitespace-only text block, in any message and inside a tool result', () => {
    const whitespace = 'messages: text content blocks must contain non-whitespace text';
    expect(anthropicRefusal({ messages: [userText('hi'), { role: 'assistant', content: ' \n' }, userText('x')] })).toBe(
      whitespace,
    );
    expect(
      anthropicRefusal({
        messages: [
          userText('q'),
          { role: 'assistant', content: [{ type: 'text', text: '\n\n' }, toolUse('toolu_1')] },
          { role: 'user', content: [toolResult('toolu_1')] },
        ],
      }),
    ).toBe(whitespace);
    expect(
      anthropicRefusal({
        messages: [
          userText('q'),
          { role: 'assistant', content: [toolUse('toolu_1')] },
          {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '  ' }] }],
          },
        ],
      }),
    ).toBe(whitespace);
  });

  it('refuses a message with no content unless it is the final assistant message', () => {
    expect(anthropicRefusal({ messages: [userText('a'), { role: 'assistant', content: [] }, userText('b')] })).toBe(
      'messages.1: all messages must have non-empty content except for the optional final assistant message',
    );
  });

  it('refuses a tool_result without a tool_use in the message right before it', () => {
    expect(anthropicRefusal({ messages: [userText('q'), { role: 'user', content: [toolResult('toolu_9')] }] })).toBe(
      'messages.1.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
    );
    // The call two turns back does not count.
    expect(
      anthropicRefusal({
        messages: [
          userText('q'),
          { role: 'assistant', content: [toolUse('toolu_1')] },
          { role: 'user', content: [toolResult('toolu_1')] },
          { role: 'assistant', content: [{ type: 'text', text: 'done' }] },
          { role: 'user', content: [{ type: 'text', text: 'again' }, toolResult('toolu_1')] },
        ],
      }),
    ).toBe(
      'messages.4.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_1. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.',
    );
  });

  it('refuses tool_use blocks the next message does not answer', () => {
    expect(
      anthropicRefusal({
        messages: [
          userText('q'),
          { role: 'assistant', content: [toolUse('toolu_1'), toolUse('toolu_2'), toolUse('toolu_3')] },
          { role: 'user', content: [toolResult('toolu_2')] },
        ],
      }),
    ).toBe(
      'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1, toolu_3. Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
    );
    expect(anthropicRefusal({ messages: [userText('q'), { role: 'assistant', content: [toolUse('toolu_1')] }] })).toBe(
      'messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each `tool_use` block must have a corresponding `tool_result` block in the next message.',
    );
  });

  it('refuses a web search call without its result in the same assistant message', () => {
    expect(
      anthropicRefusal({
        messages: [
          userText('search'),
          { role: 'assistant', content: [{ type: 'text', text: 'Searching.' }, searchCall('srvtoolu_1')] },
          userText('never mind'),
        ],
      }),
    ).toBe(
      'messages.1: `web_search` tool use with id `srvtoolu_1` was found without a corresponding `web_search_tool_result` block',
    );
  });

  it('refuses a web search result without its call before it', () => {
    expect(
      anthropicRefusal({
        messages: [userText('search'), { role: 'assistant', content: [searchResult('srvtoolu_1')] }, userText('ok')],
      }),
    ).toBe(
      'messages.1.content.0: unexpected `tool_use_id` found in `web_search_tool_result` blocks: srvtoolu_1. Each `web_search_tool_result` block must have a corresponding `server_tool_use` block before it.',
    );
  });
});

describe('OpenAI Responses validation', () => {
  const reasoning = (id: string) => ({ type: 'reasoning', id, encrypted_content: 'enc', summary: [] });
  const call = (callId: string) => ({ type: 'function_call', call_id: callId, name: 'execute', arguments: '{}' });
  const output = (callId: string) => ({ type: 'function_call_output', call_id: callId, output: 'ok' });
  const user = { role: 'user', content: [{ type: 'input_text', text: 'hi' }] };

  it('accepts reasoning followed by its item, answered calls, and outputs of a chained response', () => {
    const ok = (body: Record<string, unknown>) => expect(reject('openai-responses', body)).toBeNull();
    ok({ input: 'Say hello' });
    ok({ input: [user, reasoning('rs_1'), call('call_1'), output('call_1'), user] });
    ok({ input: [user, reasoning('rs_1'), { role: 'assistant', content: 'Hello.' }, user] });
    ok({ input: [user, reasoning('rs_1'), { type: 'web_search_call', id: 'ws_1', status: 'completed' }, user] });
    // The call is in the stored response the request continues.
    ok({ previous_response_id: 'resp_1', input: [output('call_1')] });
  });

  it('refuses a reasoning item without its following item', () => {
    const message = "Item 'rs_1' of type 'reasoning' was provided without its required following item.";
    expect(openAiRefusal('openai-responses', { input: [user, reasoning('rs_1')] })).toEqual({
      message,
      param: 'input',
    });
    expect(openAiRefusal('openai-responses', { input: [user, reasoning('rs_1'), user] }).message).toBe(message);
    expect(
      openAiRefusal('openai-responses', { input: [user, call('call_1'), reasoning('rs_1'), output('call_1')] }).message,
    ).toBe(message);
  });

  it('refuses a function_call_output whose call is not earlier in the input', () => {
    const message = 'No tool call found for function call output with call_id call_9.';
    expect(openAiRefusal('openai-responses', { input: [user, output('call_9')] })).toEqual({
      message,
      param: 'input',
    });
    expect(openAiRefusal('openai-responses', { input: [user, output('call_9'), call('call_9')] }).message).toBe(
      message,
    );
  });
});

describe('OpenAI Chat Completions validation', () => {
  const calls = (...ids: string[]) => ({
    role: 'assistant',
    content: null,
    tool_calls: ids.map((id) => ({ id, type: 'function', function: { name: 'execute', arguments: '{}' } })),
  });
  const tool = (id: string) => ({ role: 'tool', tool_call_id: id, content: 'ok' });
  const user = { role: 'user', content: 'hi' };

  it('accepts tool messages answering every call of the assistant message before them', () => {
    expect(
      reject('openai-chat', { messages: [user, calls('call_1', 'call_2'), tool('call_2'), tool('call_1'), user] }),
    ).toBeNull();
  });

  it("refuses a tool message that does not follow an assistant message with 'tool_calls'", () => {
    const message =
      "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
    expect(openAiRefusal('openai-chat', { messages: [user, tool('call_1')] })).toEqual({
      message,
      param: 'messages.[1].role',
    });
    expect(
      openAiRefusal('openai-chat', { messages: [user, { role: 'assistant', content: 'no calls' }, tool('call_1')] }),
    ).toEqual({ message, param: 'messages.[2].role' });
  });

  it('refuses a tool message whose id is not among the calls before it', () => {
    expect(openAiRefusal('openai-chat', { messages: [user, calls('call_1'), tool('call_1'), tool('call_x')] })).toEqual(
      {
        message: "Invalid parameter: 'tool_call_id' of 'call_x' not found in 'tool_calls' of previous message.",
        param: 'messages.[3].tool_call_id',
      },
    );
  });

  it("refuses an assistant message with 'tool_calls' not followed by a tool message for each", () => {
    expect(openAiRefusal('openai-chat', { messages: [user, calls('call_1', 'call_2'), tool('call_1'), user] })).toEqual(
      {
        message:
          "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: call_2",
        param: 'messages.[3].role',
      },
    );
  });
});
