/** The playground's stream fold (web/src/transcript.ts): partials, stored messages, queue, approvals. */
import type { ChatMessage, StreamEvent } from '../../../src/client';
import { applyEvent, blocksOf, EMPTY_TRANSCRIPT, toolResults, type Transcript } from '../../../web/src/transcript';

const chat_id = '00000000-0000-4000-8000-000000000001';
const fold = (events: StreamEvent[], from: Transcript = EMPTY_TRANSCRIPT): Transcript =>
  events.reduce(applyEvent, from);
const message = (id: number, role: ChatMessage['role'], content: ChatMessage['content']): ChatMessage =>
  ({
    id,
    chat_id,
    role,
    content,
    created_by: null,
    model_config_id: null,
    created_at: '2026-12-05T00:00:00Z',
  }) as ChatMessage;

describe('transcript', () => {
  it('merges text deltas and streamed tool arguments into one partial', () => {
    const state = fold([
      { type: 'status', chat_id, status: 'running' },
      { type: 'message_part', chat_id, role: 'assistant', part: { type: 'text', text: 'Hel' } },
      { type: 'message_part', chat_id, role: 'assistant', part: { type: 'text', text: 'lo' } },
      {
        type: 'message_part',
        chat_id,
        role: 'assistant',
        part: { type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args_delta: '' },
      },
      {
        type: 'message_part',
        chat_id,
        role: 'assistant',
        part: { type: 'tool-call', tool_call_id: 'c1', args_delta: '{"command":' },
      },
      {
        type: 'message_part',
        chat_id,
        role: 'assistant',
        part: { type: 'tool-call', tool_call_id: 'c1', args_delta: '"ls"}' },
      },
    ]);
    expect(state.partial).toHaveLength(2);
    expect(state.partial[0]).toMatchObject({ type: 'text', text: 'Hello' });
    const [, tool] = blocksOf(state.partial, toolResults(state));
    expect(tool).toMatchObject({
      kind: 'tool',
      call: { name: 'execute', argsText: '{"command":"ls"}', complete: false },
    });

    const complete = fold(
      [
        {
          type: 'message_part',
          chat_id,
          role: 'assistant',
          part: { type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args: { command: 'ls' } },
        },
      ],
      state,
    );
    expect(blocksOf(complete.partial, toolResults(complete))[1]).toMatchObject({
      call: { complete: true, args: { command: 'ls' } },
    });
  });

  it('replaces the partial with the stored message and pairs a tool result with its call', () => {
    const stored = message(2, 'assistant', [{ type: 'tool-call', tool_call_id: 'c1', tool_name: 'execute', args: {} }]);
    const state = fold([
      { type: 'message_part', chat_id, role: 'assistant', part: { type: 'text', text: 'x' } },
      { type: 'message', chat_id, message: stored },
      {
        type: 'message_part',
        chat_id,
        role: 'tool',
        part: { type: 'tool-result', tool_call_id: 'c1', tool_name: 'execute', result: 'out', is_error: false },
      },
    ]);
    expect(state.partial).toEqual([]);
    expect(blocksOf(stored.content, toolResults(state))[0]).toMatchObject({
      call: { result: { value: 'out', isError: false } },
    });
    const done = fold(
      [
        {
          type: 'message',
          chat_id,
          message: message(3, 'tool', [{ type: 'tool-result', tool_call_id: 'c1', result: 'out' }]),
        },
      ],
      state,
    );
    expect(done.partialResults).toEqual({});
    expect(toolResults(done).get('c1')?.value).toBe('out');
  });

  it('drops the partial on a retry and when the chat goes idle; keeps messages in id order', () => {
    const retry = {
      type: 'retry',
      chat_id,
      attempt: 2,
      delay_ms: 1000,
      retrying_at: '2026-12-05T00:00:01Z',
      error: { message: 'overloaded', kind: 'overloaded', provider: 'openai', retryable: true, status_code: 529 },
    } as StreamEvent;
    const state = fold([
      { type: 'message', chat_id, message: message(5, 'user', [{ type: 'text', text: 'b' }]) },
      { type: 'message', chat_id, message: message(4, 'user', [{ type: 'text', text: 'a' }]) },
      { type: 'message_part', chat_id, role: 'assistant', part: { type: 'text', text: 'void' } },
      retry,
    ]);
    expect(state.partial).toEqual([]);
    expect(state.retry).not.toBeNull();
    expect(state.messages.map((m) => m.id)).toEqual([4, 5]);
    const idle = fold([{ type: 'status', chat_id, status: 'waiting' }], state);
    expect(idle.retry).toBeNull();
  });

  it('cuts history at an edit, and tracks the queue, approvals and errors', () => {
    const approval = {
      chat_id,
      root_chat_id: chat_id,
      call_id: 'c9',
      tool_name: 'execute',
      args: { command: 'rm -rf /' },
    };
    const state = fold([
      { type: 'message', chat_id, message: message(1, 'user', [{ type: 'text', text: 'a' }]) },
      { type: 'message', chat_id, message: message(2, 'assistant', [{ type: 'text', text: 'b' }]) },
      { type: 'history_truncated', chat_id, from_message_id: 2 },
      {
        type: 'queue_update',
        chat_id,
        queued_messages: [{ id: 7, chat_id, content: [], model_config_id: null, created_at: '' }],
      },
      { type: 'action_required', chat_id, approval } as unknown as StreamEvent,
      {
        type: 'error',
        chat_id,
        message: 'bad key',
        kind: 'auth',
        provider: 'openai',
        retryable: false,
        status_code: 401,
      },
    ]);
    expect(state.messages.map((m) => m.id)).toEqual([1]);
    expect(state.queue.map((q) => q.id)).toEqual([7]);
    expect(state.approvals.map((a) => a.call_id)).toEqual(['c9']);
    expect(state.error).toMatchObject({ kind: 'auth', message: 'bad key' });
    const decided = fold([{ type: 'action_decided', chat_id, approval } as unknown as StreamEvent], state);
    expect(decided.approvals).toEqual([]);
  });
});
