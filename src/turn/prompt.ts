/**
 * Persisted messages → the provider-neutral prompt. Also repairs history that providers would
 * reject: both OpenAI and Anthropic refuse a tool call without a result and a result without its
 * call, and Anthropic refuses empty or whitespace-only text blocks, non-object tool input and a
 * provider-executed call (web search) without its result. The stored messages are never changed;
 * only what is sent is.
 */
import type { ModelAssistantPart, ModelMessage, ModelToolResult, ModelUserPart } from '../llm/types';
import type { ChatMessagePart } from '../messages/parts';

export interface PromptMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: ChatMessagePart[];
}

export const INTERRUPTED_TOOL_RESULT = {
  error: 'The tool call was interrupted before it produced a result.',
};

/** Provider ids allow only these characters (Anthropic: ^[a-zA-Z0-9_-]+$). */
export const sanitizeToolCallId = (id: string): string => id.replace(/[^A-Za-z0-9_-]/g, '_') || 'call';

const asObject = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

/**
 * Text worth sending. Empty and whitespace-only text carries nothing for the model, and Anthropic
 * refuses such a block ("text content blocks must contain non-whitespace text").
 */
const hasText = (text: string | undefined): text is string => text !== undefined && text.trim() !== '';

function userParts(parts: ChatMessagePart[]): ModelUserPart[] {
  const out: ModelUserPart[] = [];
  for (const p of parts) {
    if (p.type === 'text' && p.text) out.push({ type: 'text', text: p.text });
    // Stored file parts hold only an id; the model step loads their bytes first (prompt-files.ts).
    else if (p.type === 'file' && p.data && p.media_type)
      out.push({ type: 'file', mediaType: p.media_type, data: p.data, name: p.file_name ?? 'file' });
    else if (p.type === 'file-reference') {
      const range =
        p.start_line === undefined
          ? ''
          : p.end_line === undefined || p.end_line === p.start_line
            ? `:${p.start_line}`
            : `:${p.start_line}-${p.end_line}`;
      out.push({ type: 'text', text: `[file-reference] ${p.file_name}${range}\n\`\`\`\n${p.content ?? ''}\n\`\`\`` });
    }
  }
  return out;
}

function assistantParts(parts: ChatMessagePart[]): ModelAssistantPart[] {
  const out: ModelAssistantPart[] = [];
  for (const p of parts) {
    if (p.type === 'text' && hasText(p.text)) out.push({ type: 'text', text: p.text });
    else if (p.type === 'reasoning' && (p.text || p.signature || p.provider_metadata?.redacted_data)) {
      out.push({
        type: 'reasoning',
        text: p.text ?? '',
        ...(p.signature ? { signature: p.signature } : {}),
        ...(typeof p.provider_metadata?.redacted_data === 'string'
          ? { redactedData: p.provider_metadata.redacted_data }
          : {}),
        ...(typeof p.provider_metadata?.item_id === 'string' ? { providerItemId: p.provider_metadata.item_id } : {}),
      });
    } else if (p.type === 'tool-call' && p.tool_call_id && p.tool_name) {
      out.push({
        type: 'tool-call',
        id: sanitizeToolCallId(p.tool_call_id),
        name: p.tool_name,
        input: asObject(p.args),
        ...(p.provider_executed ? { providerExecuted: true } : {}),
      });
    } else if (p.type === 'tool-result' && p.provider_executed && p.tool_call_id) {
      out.push({
        type: 'tool-result',
        id: sanitizeToolCallId(p.tool_call_id),
        name: p.tool_name ?? '',
        result: p.result,
        isError: p.is_error ?? false,
        providerExecuted: true,
      });
    }
  }
  return out;
}

function toolResults(parts: ChatMessagePart[]): ModelToolResult[] {
  return parts
    .filter((p) => p.type === 'tool-result' && p.tool_call_id)
    .map((p) => ({
      type: 'tool-result',
      id: sanitizeToolCallId(p.tool_call_id!),
      name: p.tool_name ?? '',
      result: p.result,
      isError: p.is_error ?? false,
    }));
}

/** Converts and repairs; messages that end up empty are dropped. */
export function buildPrompt(messages: PromptMessage[]): ModelMessage[] {
  const converted: ModelMessage[] = [];
  for (const m of messages) {
    if (m.role === 'system') {
      const text = m.content
        .filter((p) => p.type === 'text' && hasText(p.text))
        .map((p) => p.text)
        .join('\n');
      if (text) converted.push({ role: 'system', content: text });
    } else if (m.role === 'user') {
      const content = userParts(m.content).filter((p) => p.type !== 'text' || hasText(p.text));
      if (content.length) converted.push({ role: 'user', content });
    } else if (m.role === 'assistant') {
      const content = pairProviderToolCalls(assistantParts(m.content));
      if (content.length) converted.push({ role: 'assistant', content });
    } else {
      const content = toolResults(m.content);
      if (content.length) converted.push({ role: 'tool', content });
    }
  }
  return repairToolPairs(converted);
}

/**
 * A provider-executed call (web search) and its result travel together, the result after the call,
 * inside one assistant message. A step interrupted between the two stored the call alone, and
 * Anthropic refuses a `server_tool_use` without its result in every later request. So a call
 * without its result is not sent, and neither is a result without its call; the text around them is.
 */
function pairProviderToolCalls(parts: ModelAssistantPart[]): ModelAssistantPart[] {
  return parts.filter((p, i) => {
    if (p.type === 'tool-call' && p.providerExecuted) {
      return parts.slice(i + 1).some((r) => r.type === 'tool-result' && r.id === p.id);
    }
    if (p.type === 'tool-result') {
      return parts.slice(0, i).some((c) => c.type === 'tool-call' && c.providerExecuted && c.id === p.id);
    }
    return true;
  });
}

/**
 * Every local tool call gets a result right after its assistant message (a synthetic "interrupted"
 * error when none was stored), and every result must follow its call: an orphan result gets a
 * synthetic call in front of it. Provider-executed calls carry their result inline and are skipped.
 */
export function repairToolPairs(messages: ModelMessage[]): ModelMessage[] {
  const out: ModelMessage[] = [];
  // Ids of the local tool calls of the assistant message the current run of tool messages answers.
  let openCalls = new Set<string>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'tool') {
      const orphans = m.content.filter((r) => !openCalls.has(r.id));
      if (orphans.length) {
        out.push({
          role: 'assistant',
          content: orphans.map((r) => ({ type: 'tool-call' as const, id: r.id, name: r.name, input: {} })),
        });
      }
      const prev = out.at(-1);
      if (prev?.role === 'tool') prev.content.push(...m.content);
      else out.push({ role: 'tool', content: [...m.content] });
      if (orphans.length) openCalls = new Set();
      continue;
    }
    out.push(m);
    openCalls = new Set();
    if (m.role !== 'assistant') continue;
    const calls = m.content.filter(
      (p): p is Extract<ModelAssistantPart, { type: 'tool-call' }> => p.type === 'tool-call' && !p.providerExecuted,
    );
    openCalls = new Set(calls.map((c) => c.id));
    const answered = new Set<string>();
    for (let j = i + 1; j < messages.length && messages[j]!.role === 'tool'; j++) {
      for (const r of (messages[j] as { content: ModelToolResult[] }).content) answered.add(r.id);
    }
    const missing = calls.filter((c) => !answered.has(c.id));
    if (missing.length) {
      out.push({
        role: 'tool',
        content: missing.map((c) => ({
          type: 'tool-result',
          id: c.id,
          name: c.name,
          result: INTERRUPTED_TOOL_RESULT,
          isError: true,
        })),
      });
    }
  }
  return orderToolResults(out);
}

/**
 * Tool results are stored as they complete (local tools in one batch, sub-agent calls in another),
 * so a step's results may be stored out of call order; the model sees them in call order.
 */
function orderToolResults(messages: ModelMessage[]): ModelMessage[] {
  for (let i = 1; i < messages.length; i++) {
    const prev = messages[i - 1]!;
    const m = messages[i]!;
    if (m.role !== 'tool' || prev.role !== 'assistant') continue;
    const order = new Map(prev.content.filter((p) => p.type === 'tool-call').map((p, index) => [p.id, index]));
    m.content.sort((a, b) => (order.get(a.id) ?? Infinity) - (order.get(b.id) ?? Infinity));
  }
  return messages;
}
