/**
 * What the fake LLM server records about each request, how it tells the three wire protocols apart, and
 * small protocol-aware readers of a request body (last user text, whether the turn continues after a tool
 * result, an input-token estimate) used by fallbacks and usage defaults.
 */
import { estimateTokens, type FakeStep } from './script';

/** The wire protocol of a request, decided from its path. */
export type FakeProtocol = 'openai-chat' | 'openai-responses' | 'anthropic';

/** One request the fake received on a provider endpoint. */
export interface RecordedRequest {
  /** 0-based arrival order over the server's lifetime (survives `reset()` trimming). */
  index: number;
  method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  /** Request headers with lower-case names (repeated headers joined with `, `). */
  headers: Record<string, string>;
  /** Parsed JSON body (the raw string when it was not JSON). */
  body: unknown;
  protocol: FakeProtocol;
  /** `body.model` when it is a string. */
  model: string;
  /** `body.stream === true`. */
  stream: boolean;
  /** The step that answered the request; undefined for unplanned requests. */
  step?: FakeStep;
  /** True when the client closed the connection before the response was finished. */
  aborted: boolean;
  /** The provider's error message when the body was refused as the real provider refuses it (a 400, no step). */
  rejected?: string;
  /** `Date.now()` at arrival. */
  receivedAt: number;
}

/** A request whose body the real provider would refuse; it got the provider's 400 and no step. */
export interface RejectedRequest {
  path: string;
  protocol: FakeProtocol;
  body: unknown;
  /** The provider's error message. */
  message: string;
}

/** A request that no step or fallback could answer (or that hit an unknown path). */
export interface UnplannedRequest {
  method: string;
  path: string;
  protocol: FakeProtocol | null;
  body: unknown;
  reason: string;
}

/** Maps a request path to its protocol, accepting the paths with and without the `/v1` prefix. */
export function detectProtocol(method: string, path: string): FakeProtocol | null {
  if (method !== 'POST') return null;
  if (path.endsWith('/chat/completions')) return 'openai-chat';
  if (path.endsWith('/responses')) return 'openai-responses';
  if (path.endsWith('/v1/messages')) return 'anthropic';
  return null;
}

/** `value` when it is a plain object, else an empty one: readers of request bodies never throw. */
export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** `value` when it is an array, else an empty one. */
export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The body of a recorded request as an object (empty when it was not a JSON object). */
export function bodyOf(req: Pick<RecordedRequest, 'body'>): Record<string, unknown> {
  return asRecord(req.body);
}

/** Concatenated text parts of a message content (string or array of `{type, text}` parts). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  return asArray(content)
    .map((part) => {
      const p = asRecord(part);
      return typeof p.text === 'string' && (p.type === 'text' || p.type === 'input_text') ? p.text : '';
    })
    .join('');
}

/** The conversation items of a request: `messages` (Chat, Anthropic) or `input` (Responses). */
function conversation(req: Pick<RecordedRequest, 'body' | 'protocol'>): unknown[] {
  const body = bodyOf(req);
  if (req.protocol === 'openai-responses') {
    if (typeof body.input === 'string') return [{ role: 'user', content: body.input }];
    return asArray(body.input);
  }
  return asArray(body.messages);
}

/** The text of the last user message (empty when there is none). */
export function lastUserText(req: Pick<RecordedRequest, 'body' | 'protocol'>): string {
  const items = conversation(req);
  for (let i = items.length - 1; i >= 0; i--) {
    const item = asRecord(items[i]);
    if (item.role !== 'user') continue;
    const t = contentText(item.content);
    if (t.length > 0) return t;
  }
  return '';
}

/**
 * True when the last conversation item is a tool result, i.e. this request continues a turn after tools ran
 * (Chat: `role: tool`; Responses: `function_call_output`; Anthropic: a user message holding `tool_result`).
 */
export function endsWithToolResult(req: Pick<RecordedRequest, 'body' | 'protocol'>): boolean {
  const items = conversation(req);
  const last = asRecord(items[items.length - 1]);
  switch (req.protocol) {
    case 'openai-chat':
      return last.role === 'tool';
    case 'openai-responses':
      return last.type === 'function_call_output' || last.type === 'custom_tool_call_output';
    case 'anthropic':
      return last.role === 'user' && asArray(last.content).some((part) => asRecord(part).type === 'tool_result');
  }
}

/** A rough input-token count of the prompt: system/instructions, messages/input and tools. */
export function estimateInputTokens(req: Pick<RecordedRequest, 'body' | 'protocol'>): number {
  const body = bodyOf(req);
  return estimateTokens([body.system ?? body.instructions ?? null, conversation(req), body.tools ?? null]);
}

/** True when a Responses request asked for `include: [name]` (e.g. `reasoning.encrypted_content`). */
export function includes(req: Pick<RecordedRequest, 'body'>, name: string): boolean {
  return asArray(bodyOf(req).include).includes(name);
}

/** True when a Chat Completions request set `stream_options.include_usage`. */
export function wantsStreamUsage(req: Pick<RecordedRequest, 'body'>): boolean {
  return asRecord(bodyOf(req).stream_options).include_usage === true;
}
