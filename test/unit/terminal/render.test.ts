/**
 * The rendering of `chatd chat` (src/terminal/render.ts): chat stream events in, terminal text out,
 * each thing printed once.
 */
import type { ChatMessage, StreamEvent } from '../../../src/client';
import { EventRenderer, formatChatLine } from '../../../src/terminal/render';

const chatId = '7c0e2a51-0000-4000-8000-000000000001';

function message(id: number, role: ChatMessage['role'], content: ChatMessage['content']): StreamEvent {
  return {
    type: 'message',
    chat_id: chatId,
    message: { id, chat_id: chatId, role, content, created_by: null, created_at: '2026-12-05T00:00:00.000Z' },
  } as unknown as StreamEvent;
}

const part = (role: 'assistant' | 'tool', p: Record<string, unknown>): StreamEvent =>
  ({ type: 'message_part', chat_id: chatId, role, part: p }) as StreamEvent;

const renderAll = (renderer: EventRenderer, events: StreamEvent[]): string =>
  events.map((event) => renderer.render(event)).join('') + renderer.flush();

describe('EventRenderer', () => {
  it('streams text deltas once and skips the stored copy and the own user message', () => {
    const renderer = new EventRenderer({ color: false });
    renderer.sent('Hi');
    const out = renderAll(renderer, [
      message(1, 'user', [{ type: 'text', text: 'Hi' }]),
      { type: 'status', chat_id: chatId, status: 'running' },
      part('assistant', { type: 'reasoning', text: 'Thinking' }),
      part('assistant', { type: 'text', text: 'Hello ' }),
      { type: 'title_change', chat_id: chatId, title: 'Greeting' },
      part('assistant', { type: 'text', text: 'there.' }),
      message(2, 'assistant', [{ type: 'text', text: 'Hello there.' }]),
      { type: 'status', chat_id: chatId, status: 'waiting' },
    ]);
    expect(out).toBe('(thinking) Thinking\nHello there.\n(title: Greeting)\n');
  });

  it('prints a message nobody streamed here whole, another device’s user message included', () => {
    const renderer = new EventRenderer({ color: false });
    const out = renderAll(renderer, [
      message(1, 'user', [{ type: 'text', text: 'From my phone' }]),
      message(2, 'assistant', [{ type: 'text', text: 'Stored answer.' }]),
    ]);
    expect(out).toBe('you: From my phone\nStored answer.\n');
  });

  it('shows a complete tool call and its result, an error result marked, each once', () => {
    const renderer = new EventRenderer({ color: false });
    const long = 'x'.repeat(300);
    const out = renderAll(renderer, [
      part('assistant', { type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args_delta: '' }),
      part('assistant', { type: 'tool-call', tool_call_id: 'c1', args_delta: '{"command":"ls"}' }),
      part('assistant', { type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args: { command: 'ls' } }),
      message(2, 'assistant', [
        { type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args: { command: 'ls' } },
      ]),
      part('tool', { type: 'tool-result', tool_call_id: 'c1', tool_name: 'execute', result: long, is_error: false }),
      message(3, 'tool', [{ type: 'tool-result', tool_call_id: 'c1', tool_name: 'execute', result: long }]),
      part('tool', {
        type: 'tool-result',
        tool_call_id: 'c2',
        tool_name: 'read_file',
        result: 'no such file',
        is_error: true,
      }),
    ]);
    expect(out).toBe(`→ execute {"command":"ls"}\n← execute: ${'x'.repeat(200)}…\n← read_file (error): no such file\n`);
  });

  it('reports queue changes, retries, errors, approvals and a queued turn on lines of their own', () => {
    const renderer = new EventRenderer({ color: false });
    const queued = { id: 9, chat_id: chatId, content: [], model_config_id: null, created_at: '' };
    const out = renderAll(renderer, [
      { type: 'queue_update', chat_id: chatId, queued_messages: [] },
      part('assistant', { type: 'text', text: 'Partial' }),
      { type: 'queue_update', chat_id: chatId, queued_messages: [queued] },
      { type: 'queue_update', chat_id: chatId, queued_messages: [queued] },
      {
        type: 'retry',
        chat_id: chatId,
        attempt: 1,
        delay_ms: 2000,
        retrying_at: '',
        error: { message: 'overloaded', kind: 'overloaded', provider: 'openai', retryable: true, status_code: 529 },
      },
      { type: 'turn_queued', chat_id: chatId, position: 2 },
      {
        type: 'action_required',
        chat_id: chatId,
        approval: { call_id: 'c7', tool_name: 'execute', args: { command: 'rm -rf x' } },
      } as unknown as StreamEvent,
      {
        type: 'error',
        chat_id: chatId,
        message: 'bad key',
        kind: 'auth',
        provider: 'openai',
        retryable: false,
        status_code: 401,
      },
    ]);
    expect(out).toBe(
      [
        'Partial',
        '(queued: 1)',
        '(retrying in 2 s: overloaded)',
        '(turn queued: position 2)',
        '? execute {"command":"rm -rf x"} needs approval: /approve c7 or /deny c7',
        'error (auth): bad key',
        '',
      ].join('\n'),
    );
  });

  it('dims reasoning and colours errors only with color on', () => {
    const renderer = new EventRenderer({ color: true });
    expect(renderer.render(part('assistant', { type: 'reasoning', text: 'hm' }))).toBe(
      '\x1b[2m(thinking) \x1b[0m\x1b[2mhm\x1b[0m',
    );
  });

  it('formats a chat line for --list', () => {
    expect(formatChatLine({ id: chatId, status: 'waiting', title: 'My chat' })).toBe(
      `${chatId}  waiting          My chat`,
    );
  });
});
