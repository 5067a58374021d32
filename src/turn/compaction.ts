/**
 * Context compaction: measuring how full the context window is, deciding when to
 * summarise, asking the model for a continuation summary, and shaping the three messages that replace the
 * history. Pure apart from the one provider call, so the loop and its activities stay thin; persisting and
 * publishing are the caller's job.
 */
import type { ChatMessageRole, ChatMessageVisibility } from '../db/database';
import { LlmError } from '../llm/errors';
import type { LlmProvider, ModelCallOptions, ModelMessage, ModelRequest, ToolSpec, Usage } from '../llm/types';
import type { ChatMessagePart } from '../messages/parts';

/**
 * Model-facing preamble of the hidden summary message: the model must read the summary as unfinished
 * work to continue, not as a finished conversation to comment on.
 */
export const SUMMARY_PREFIX =
  'Earlier turns of this conversation were condensed into the handoff notes below to free context. ' +
  'You were in the middle of this work: pick it up where the notes leave off.';

/** Appended as the last user message of the summary request. Our own wording. */
export const SUMMARY_PROMPT = [
  'Stop here and write a handoff brief of this conversation so far. The brief will replace the conversation:',
  'you will continue the work from it alone, with no other memory of what happened.',
  '',
  'Be dense and specific. Cover, in this order:',
  "1. Goals: what the user asked for, including constraints and preferences they stated, in the user's terms.",
  '2. Decisions: what was decided or ruled out, and why.',
  '3. Files: every file read, created or changed, with what changed and why.',
  '4. Commands: commands and tools run, with the results that matter (errors, failing tests, key output).',
  '5. Current state: what works now, what is broken, and exactly what was in progress when this brief was written.',
  '6. Next steps: the open tasks, in the order you would do them.',
  '',
  'Keep exact names, paths, identifiers, versions and error messages. Leave out greetings, apologies and',
  'commentary about the brief itself. Do not call any tools; answer with the brief only.',
].join('\n');

/** Compaction threshold (percent of the context window) when the model config does not set one. */
export const DEFAULT_COMPACTION_THRESHOLD_PERCENT = 70;

/** A threshold of 100 % (or more) turns compaction off. */
export const COMPACTION_DISABLED_PERCENT = 100;

/** Time allowed for the summary call. */
export const SUMMARY_TIMEOUT_MS = 90_000;

/** Tool name of the synthetic call/result pair that shows the compaction in the UI. */
export const SUMMARY_TOOL_NAME = 'chat_summarized';

/** User config key of a user's per-model threshold override. */
export function compactionThresholdKey(modelConfigId: string): string {
  return `chat_compaction_threshold_pct:${modelConfigId}`;
}

/** Id of the synthetic `chat_summarized` tool call; pass a fresh UUID (`crypto.randomUUID()`). */
export function summaryCallId(uuid: string): string {
  return `${SUMMARY_TOOL_NAME}_${uuid}`;
}

/**
 * Prompt size of a step: input + cache-read + cache-creation tokens (`inputTokens` excludes cached tokens
 * on every provider, see `Usage`). Falls back to the total when none of the three was reported; null when
 * nothing was reported at all.
 */
export function contextTokens(usage: Usage): number | null {
  const parts = [usage.inputTokens, usage.cacheReadTokens, usage.cacheCreationTokens];
  if (parts.every((n) => n === null)) return usage.totalTokens;
  return parts.reduce<number>((sum, n) => sum + (n ?? 0), 0);
}

const positive = (n: number | null | undefined): n is number => typeof n === 'number' && Number.isFinite(n) && n > 0;

/**
 * The context window a step ran in: what the provider reported, else the model config's `context_limit`,
 * else `fallback`. Non-positive or missing values are skipped.
 */
export function effectiveContextLimit(
  providerReported: number | null | undefined,
  configLimit: number | null | undefined,
  fallback: number,
): number {
  if (positive(providerReported)) return providerReported;
  if (positive(configLimit)) return configLimit;
  return fallback;
}

/** Context tokens as a percentage of the limit (may exceed 100); null when either is unknown or the limit ≤ 0. */
export function usagePercent(tokens: number | null, contextLimit: number): number | null {
  if (tokens === null || !Number.isFinite(tokens) || !positive(contextLimit)) return null;
  return (tokens / contextLimit) * 100;
}

/** How full the context window was after a step; the numbers the compaction tool result records. */
export interface ContextMeasure {
  contextTokens: number;
  contextLimit: number;
  usagePercent: number;
}

/** Measures a step's usage against a limit; null when the step reported no token counts. */
export function measureContext(usage: Usage, contextLimit: number): ContextMeasure | null {
  const tokens = contextTokens(usage);
  const percent = usagePercent(tokens, contextLimit);
  if (tokens === null || percent === null) return null;
  return { contextTokens: tokens, contextLimit, usagePercent: percent };
}

const validThreshold = (n: number | null | undefined): n is number =>
  typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 100;

/**
 * The threshold in effect: the user's per-model override when it is a valid percentage (0–100), else the
 * model config's value, else {@link DEFAULT_COMPACTION_THRESHOLD_PERCENT}. 100 means "never compact".
 */
export function resolveThreshold(modelDefault: number, userOverride: number | null): number {
  if (validThreshold(userOverride)) return userOverride;
  if (validThreshold(modelDefault)) return modelDefault;
  return DEFAULT_COMPACTION_THRESHOLD_PERCENT;
}

/**
 * True when the context is at or above the threshold. Never true when compaction is disabled (threshold
 * ≥ 100) or the usage is unknown: an unmeasured step is not a reason to throw history away.
 */
export function shouldCompact(percent: number | null, thresholdPercent: number): boolean {
  if (percent === null || !Number.isFinite(percent)) return false;
  if (!(thresholdPercent < COMPACTION_DISABLED_PERCENT)) return false;
  return percent >= thresholdPercent;
}

/** One message of the compaction batch, ready for `insertMessages` (all three carry `compressed = true`). */
export interface CompactionMessage {
  role: Extract<ChatMessageRole, 'user' | 'assistant' | 'tool'>;
  visibility: ChatMessageVisibility;
  compressed: true;
  content: ChatMessagePart[];
}

/** What {@link buildCompactionMessages} records about one compaction. */
export interface CompactionRecord {
  summary: string;
  thresholdPercent: number;
  usagePercent: number;
  contextTokens: number;
  contextLimit: number;
  /** From {@link summaryCallId}; the same id must be used for the published tool-call part. */
  callId: string;
}

/**
 * The synthetic assistant tool-call part. Published before the summary call (so the UI shows
 * "summarizing") and persisted afterwards with the same id.
 */
export function summaryToolCallPart(callId: string, thresholdPercent: number): ChatMessagePart {
  return {
    type: 'tool-call',
    tool_call_id: callId,
    tool_name: SUMMARY_TOOL_NAME,
    args: { source: 'automatic', threshold_percent: thresholdPercent },
  };
}

/** The tool-result part that closes the `chat_summarized` call; published after the batch is persisted. */
export function summaryToolResultPart(record: CompactionRecord): ChatMessagePart {
  return {
    type: 'tool-result',
    tool_call_id: record.callId,
    tool_name: SUMMARY_TOOL_NAME,
    result: {
      summary: record.summary,
      source: 'automatic',
      threshold_percent: record.thresholdPercent,
      usage_percent: record.usagePercent,
      context_tokens: record.contextTokens,
      context_limit_tokens: record.contextLimit,
    },
  };
}

/**
 * The three messages that replace the history, in insertion order (one batch):
 * 1. hidden user message (visibility `model`): {@link SUMMARY_PREFIX} + the summary — what the model reads;
 * 2. assistant `chat_summarized` tool call (visibility `user`) — what the UI shows;
 * 3. its tool result (visibility `both`) with the summary and the measurements.
 * Only 2 and 3 are published as messages. Prompt loading cuts history at the compressed summary row.
 */
export function buildCompactionMessages(
  record: CompactionRecord,
): [CompactionMessage, CompactionMessage, CompactionMessage] {
  return [
    {
      role: 'user',
      visibility: 'model',
      compressed: true,
      content: [{ type: 'text', text: `${SUMMARY_PREFIX}\n\n${record.summary}` }],
    },
    {
      role: 'assistant',
      visibility: 'user',
      compressed: true,
      content: [summaryToolCallPart(record.callId, record.thresholdPercent)],
    },
    { role: 'tool', visibility: 'both', compressed: true, content: [summaryToolResultPart(record)] },
  ];
}

/** Input of {@link summarize}: the model and the prompt the next step would have used. */
export interface SummaryRequest {
  model: string;
  /** The conversation as the model sees it (system prompt included); the summary prompt is appended. */
  messages: ModelMessage[];
  /** The model config's call options; `toolChoice` is forced to `none`. */
  options: ModelCallOptions;
  /**
   * Tool definitions, offered with tool choice `none`. Default: none. Pass the turn's tools when the history
   * holds tool calls and the provider insists that such a request defines its tools (Anthropic has
   * rejected `tool_use` blocks in requests without `tools`).
   */
  tools?: ToolSpec[];
  headers?: Record<string, string>;
}

/** Test and tuning knobs of {@link summarize}. */
export interface SummarizeOptions {
  /** Default {@link SUMMARY_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Told the call's token usage once the provider answered (even with an empty summary): what it cost. */
  onUsage?: (usage: Usage) => void;
}

/**
 * Asks the model for a continuation summary of `request.messages` and returns it trimmed. The call has
 * tool choice `none` and a 90 s deadline; streamed events are ignored.
 *
 * Throws `LlmError`: the provider's classified failure; kind `timeout` when the deadline passes; kind
 * `canceled` when `signal` aborts; kind `unknown` (not retryable) when the model returns no text, since an
 * empty summary would silently erase the conversation.
 */
export async function summarize(
  provider: LlmProvider,
  request: SummaryRequest,
  signal?: AbortSignal,
  opts: SummarizeOptions = {},
): Promise<string> {
  const messages: ModelMessage[] = [
    ...request.messages,
    { role: 'user', content: [{ type: 'text', text: SUMMARY_PROMPT }] },
  ];
  const text = await completeText(
    provider,
    {
      model: request.model,
      messages,
      tools: request.tools ?? [],
      options: { ...request.options, toolChoice: 'none' },
      ...(request.headers ? { headers: request.headers } : {}),
    },
    { timeoutMs: opts.timeoutMs ?? SUMMARY_TIMEOUT_MS, ...(signal ? { signal } : {}), onUsage: opts.onUsage },
  );
  const summary = text.trim();
  if (summary === '') {
    throw new LlmError({
      kind: 'unknown',
      provider: provider.kind,
      userMessage: 'The model returned an empty summary, so the conversation could not be compacted.',
      detail: `compaction: empty summary from model ${request.model}`,
    });
  }
  return summary;
}

/** Options of {@link completeText}. */
export interface CompleteTextOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Told the call's token usage when the provider answered. */
  onUsage?: (usage: Usage) => void;
}

/**
 * Runs one model call to completion under a deadline and returns the concatenated text parts (reasoning
 * and tool calls are dropped). Shared by compaction and title generation: both want a short, tool-free
 * answer and no streaming to clients.
 *
 * Throws the provider's `LlmError`; a passed deadline becomes kind `timeout` (retryable) rather than the
 * `canceled` the adapters report for an aborted request, while an abort of `signal` stays `canceled`.
 */
export async function completeText(
  provider: LlmProvider,
  request: ModelRequest,
  opts: CompleteTextOptions,
): Promise<string> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`deadline of ${opts.timeoutMs} ms passed`));
  }, opts.timeoutMs);
  const forward = (): void => controller.abort(opts.signal?.reason);
  if (opts.signal?.aborted) forward();
  else opts.signal?.addEventListener('abort', forward, { once: true });

  try {
    const result = await provider.streamStep(request, { signal: controller.signal, onEvent: () => undefined });
    opts.onUsage?.(result.usage);
    return result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
  } catch (err) {
    if (timedOut && !opts.signal?.aborted) {
      throw new LlmError({
        kind: 'timeout',
        provider: provider.kind,
        detail: `${request.model} did not answer within ${opts.timeoutMs} ms`,
        cause: err,
      });
    }
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', forward);
  }
}
