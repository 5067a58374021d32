/**
 * The chat view's state, folded from the chat stream's events (docs/stream-events.md): stored
 * messages by id, the in-flight partial of the streaming step, the queue, waiting approvals, and the
 * last retry or error. Pure, so it is unit-tested without a browser (test/unit/web/transcript.test.ts).
 */
import type {
  ChatMessage,
  ChatMessagePart,
  ChatStatus,
  ChatStreamEnd,
  QueuedMessage,
  StreamEvent,
  ToolApproval,
} from '../../src/client';

type EventOf<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;
export type RetryNotice = EventOf<'retry'>;
export type ErrorNotice = Omit<EventOf<'error'>, 'type' | 'chat_id'>;
/** A waiting tool call; `args` arrives with `action_required` (a listed approval's are in its message). */
export type PendingApproval = ToolApproval & { args?: unknown };

/** A tool call as the view shows it: its arguments (streamed text until complete) and its result. */
export interface ToolCallView {
  id: string;
  name: string;
  /** The parsed arguments once the call is complete; until then the argument text streamed so far. */
  args: unknown;
  argsText: string;
  complete: boolean;
  result?: { value: unknown; isError: boolean };
}

export interface Transcript {
  status: ChatStatus | null;
  title: string | null;
  messages: ChatMessage[];
  /** The assistant parts of the step streaming now (merged deltas), not yet stored. */
  partial: ChatMessagePart[];
  /** Tool results that arrived before their tool message was stored, by call id. */
  partialResults: Record<string, { value: unknown; isError: boolean }>;
  queue: QueuedMessage[];
  approvals: PendingApproval[];
  retry: RetryNotice | null;
  error: ErrorNotice | null;
  /** Position in the owner's queue for a running-turn slot, while the turn waits for one. */
  slotPosition: number | null;
  ended: ChatStreamEnd['reason'] | null;
}

export const EMPTY_TRANSCRIPT: Transcript = {
  status: null,
  title: null,
  messages: [],
  partial: [],
  partialResults: {},
  queue: [],
  approvals: [],
  retry: null,
  error: null,
  slotPosition: null,
  ended: null,
};

const IDLE: ReadonlySet<ChatStatus> = new Set(['waiting', 'completed', 'error', 'paused']);

/** Appends one `message_part` delta to the partial, merging text and argument deltas into their part. */
export function appendPart(partial: ChatMessagePart[], part: ChatMessagePart): ChatMessagePart[] {
  const last = partial.at(-1);
  if ((part.type === 'text' || part.type === 'reasoning') && last?.type === part.type) {
    return [...partial.slice(0, -1), { ...last, text: (last.text ?? '') + (part.text ?? '') }];
  }
  if (part.type === 'tool-call') {
    const index = partial.findIndex((p) => p.type === 'tool-call' && p.tool_call_id === part.tool_call_id);
    if (index >= 0) {
      const prior = partial[index]!;
      const merged: ChatMessagePart =
        part.args !== undefined
          ? { ...prior, ...part, args_delta: undefined }
          : { ...prior, args_delta: (prior.args_delta ?? '') + (part.args_delta ?? '') };
      return partial.map((p, i) => (i === index ? merged : p));
    }
  }
  return [...partial, part];
}

function upsertMessage(messages: ChatMessage[], message: ChatMessage): ChatMessage[] {
  const index = messages.findIndex((m) => m.id === message.id);
  if (index >= 0) return messages.map((m, i) => (i === index ? message : m));
  const next = [...messages, message];
  return next.at(-2) && next.at(-2)!.id > message.id ? next.sort((a, b) => a.id - b.id) : next;
}

export function applyEvent(state: Transcript, event: StreamEvent | ChatStreamEnd): Transcript {
  switch (event.type) {
    case 'status': {
      const idle = IDLE.has(event.status);
      return {
        ...state,
        status: event.status,
        ...(idle ? { partial: [], partialResults: {}, retry: null, slotPosition: null } : {}),
        ...(event.status === 'running' ? { slotPosition: null } : {}),
        ...(event.status === 'pending' || event.status === 'running' ? { error: null } : {}),
      };
    }
    case 'message': {
      const { message } = event;
      const next = { ...state, messages: upsertMessage(state.messages, message) };
      if (message.role === 'assistant') return { ...next, partial: [], retry: null };
      if (message.role === 'tool') {
        const partialResults = { ...state.partialResults };
        for (const part of message.content) if (part.tool_call_id) delete partialResults[part.tool_call_id];
        return { ...next, partialResults };
      }
      return next;
    }
    case 'message_part': {
      const { part } = event;
      if (event.role === 'tool' || (part.type === 'tool-result' && part.tool_call_id)) {
        if (part.type !== 'tool-result' || !part.tool_call_id) return state;
        const prior = state.partialResults[part.tool_call_id];
        const value =
          part.result !== undefined
            ? part.result
            : `${typeof prior?.value === 'string' ? prior.value : ''}${part.result_delta ?? ''}`;
        return {
          ...state,
          partialResults: { ...state.partialResults, [part.tool_call_id]: { value, isError: part.is_error === true } },
        };
      }
      return { ...state, partial: appendPart(state.partial, part) };
    }
    case 'queue_update':
      return { ...state, queue: event.queued_messages };
    case 'retry':
      return { ...state, retry: event, partial: [] };
    case 'error': {
      const { type: _type, chat_id: _chat, ...error } = event;
      return { ...state, error, retry: null };
    }
    case 'title_change':
      return { ...state, title: event.title };
    case 'history_truncated':
      return { ...state, messages: state.messages.filter((m) => m.id < event.from_message_id) };
    case 'action_required':
      return {
        ...state,
        approvals: [...state.approvals.filter((a) => a.call_id !== event.approval.call_id), event.approval],
      };
    case 'action_decided':
      return { ...state, approvals: state.approvals.filter((a) => a.call_id !== event.approval.call_id) };
    case 'turn_queued':
      return { ...state, slotPosition: event.position };
    case 'stream_end':
      return { ...state, ended: event.reason };
    default:
      // Event types added later are ignored (docs/stream-events.md).
      return state;
  }
}

/** What the view renders for one message or the partial: text, reasoning and tool calls with results. */
export type Block =
  | { kind: 'text'; text: string }
  | { kind: 'reasoning'; text: string }
  | { kind: 'tool'; call: ToolCallView }
  | { kind: 'file'; fileId: string; name: string; mediaType: string }
  | { kind: 'source'; url: string; title: string };

/** Every tool result in the transcript, stored or streaming, by call id. */
export function toolResults(state: Transcript): Map<string, { value: unknown; isError: boolean }> {
  const results = new Map(Object.entries(state.partialResults));
  for (const message of state.messages) {
    for (const part of message.content) {
      if (part.type === 'tool-result' && part.tool_call_id) {
        results.set(part.tool_call_id, { value: part.result, isError: part.is_error === true });
      }
    }
  }
  return results;
}

export function blocksOf(parts: ChatMessagePart[], results: Map<string, ToolCallView['result']>): Block[] {
  const blocks: Block[] = [];
  for (const part of parts) {
    switch (part.type) {
      case 'text':
        if (part.text) blocks.push({ kind: 'text', text: part.text });
        break;
      case 'reasoning':
        if (part.text) blocks.push({ kind: 'reasoning', text: part.text });
        break;
      case 'tool-call': {
        const id = part.tool_call_id ?? '';
        const complete = part.args !== undefined;
        blocks.push({
          kind: 'tool',
          call: {
            id,
            name: part.tool_name ?? 'tool',
            args: complete ? part.args : undefined,
            argsText: complete ? JSON.stringify(part.args, null, 2) : (part.args_delta ?? ''),
            complete,
            result: results.get(id),
          },
        });
        break;
      }
      case 'tool-result':
        // Shown under its call; a provider-run tool's result without a call gets its own block.
        if (
          part.provider_executed &&
          !parts.some((p) => p.type === 'tool-call' && p.tool_call_id === part.tool_call_id)
        ) {
          blocks.push({
            kind: 'tool',
            call: {
              id: part.tool_call_id ?? '',
              name: part.tool_name ?? 'tool',
              args: undefined,
              argsText: '',
              complete: true,
              result: { value: part.result, isError: part.is_error === true },
            },
          });
        }
        break;
      case 'file':
        if (part.file_id) {
          blocks.push({
            kind: 'file',
            fileId: part.file_id,
            name: part.file_name ?? 'file',
            mediaType: part.media_type ?? '',
          });
        }
        break;
      case 'file-reference':
        blocks.push({ kind: 'text', text: `${part.file_name ?? ''}${part.start_line ? `:${part.start_line}` : ''}` });
        break;
      case 'source':
        if (part.url) blocks.push({ kind: 'source', url: part.url, title: part.title ?? part.url });
        break;
      default:
        break;
    }
  }
  return blocks;
}

/** The sub-agent chat a spawn_agent result names, if any. */
export function subagentChatId(call: ToolCallView): string | null {
  if (!['spawn_agent', 'wait_agent', 'message_agent', 'close_agent'].includes(call.name)) return null;
  const fromResult = (call.result?.value as { chat_id?: unknown } | undefined)?.chat_id;
  if (typeof fromResult === 'string') return fromResult;
  const fromArgs = (call.args as { chat_id?: unknown } | undefined)?.chat_id;
  return typeof fromArgs === 'string' ? fromArgs : null;
}
