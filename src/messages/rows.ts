/**
 * Builders for new chat_messages rows, so every writer (API, turn, tools, sub-agents, compaction)
 * fills the same columns the same way: usage and cost columns stay NULL unless a step sets them.
 */
import type { ChatMessageRole, ChatMessageVisibility, NewChatMessageRow } from '../db/database';
import type { ModelToolResult, Usage } from '../llm/types';
import { encodeParts, type ChatMessagePart } from './parts';

/** Step keys make persistence idempotent across activity retries (unique per chat). */
export const stepKey = (turn: number, step: number, slot: string): string => `t${turn}.s${step}.${slot}`;

export interface MessageRowInput {
  chatId: string;
  turn: number | null;
  role: ChatMessageRole;
  /** Parts, or content already encoded for jsonb (a queued message being promoted). */
  content: ChatMessagePart[] | string;
  stepKey?: string | null;
  modelConfigId?: string | null;
  createdBy?: string | null;
  visibility?: ChatMessageVisibility;
  compressed?: boolean;
}

export function messageRow(input: MessageRowInput): NewChatMessageRow {
  return {
    chat_id: input.chatId,
    turn: input.turn,
    step_key: input.stepKey ?? null,
    model_config_id: input.modelConfigId ?? null,
    created_by: input.createdBy ?? null,
    role: input.role,
    content: typeof input.content === 'string' ? input.content : encodeParts(input.content),
    ...(input.visibility ? { visibility: input.visibility } : {}),
    ...(input.compressed ? { compressed: true } : {}),
    input_tokens: null,
    output_tokens: null,
    total_tokens: null,
    reasoning_tokens: null,
    cache_creation_tokens: null,
    cache_read_tokens: null,
    context_limit: null,
    total_cost_micros: null,
    runtime_ms: null,
    provider_response_id: null,
  };
}

/** The `tool` message holding one result of step `step`, keyed by its call id (idempotent). */
export function toolResultRow(
  at: { chatId: string; turn: number; step: number },
  result: Pick<ModelToolResult, 'id' | 'name' | 'result' | 'isError'>,
): NewChatMessageRow {
  return messageRow({
    chatId: at.chatId,
    turn: at.turn,
    stepKey: stepKey(at.turn, at.step, `tool.${result.id}`),
    role: 'tool',
    content: [
      {
        type: 'tool-result',
        tool_call_id: result.id,
        tool_name: result.name,
        result: result.result,
        is_error: result.isError,
      },
    ],
  });
}

/** A call's token counts as stored columns (assistant messages, usage records): 0 is stored as unknown (NULL). */
export function tokenColumns(
  usage: Usage,
): Pick<
  NewChatMessageRow,
  'input_tokens' | 'output_tokens' | 'reasoning_tokens' | 'cache_creation_tokens' | 'cache_read_tokens'
> {
  const known = (n: number | null): number | null => (n ? n : null);
  return {
    input_tokens: known(usage.inputTokens),
    output_tokens: known(usage.outputTokens),
    reasoning_tokens: known(usage.reasoningTokens),
    cache_creation_tokens: known(usage.cacheCreationTokens),
    cache_read_tokens: known(usage.cacheReadTokens),
  };
}
