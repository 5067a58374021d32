/**
 * Provider-neutral request, stream and result types for one LLM call ("a step").
 *
 * Everything above src/llm speaks only these types; the provider adapters translate them to and
 * from the OpenAI and Anthropic wire formats. They are plain JSON so that summaries of them can
 * cross the Temporal activity boundary.
 */

/** Which wire protocol a provider row speaks. */
export type ProviderKind = 'openai' | 'anthropic' | 'openai-compat';

/** OpenAI offers two APIs; `responses` is the default for the `openai` provider. */
export type OpenAiApiMode = 'responses' | 'chat';

/** A JSON object schema describing a tool's arguments (generated from zod). */
export type JsonSchema = Record<string, unknown>;

export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: JsonSchema;
}

/** Provider-executed tools the model may call on the provider's side (never run locally). */
export interface ProviderToolOptions {
  webSearch?: { enabled: boolean; allowedDomains?: string[]; blockedDomains?: string[] };
}

/**
 * A file the user attached (an image, or a PDF), with its bytes read from storage for this one request:
 * it is built inside the model-step activity and never stored or sent through workflow history. Each
 * adapter sends the types and sizes its provider documents and puts a short text note in place of any
 * other file (file-inputs.ts).
 */
export interface ModelFilePart {
  type: 'file';
  mediaType: string;
  /** The bytes, base64-encoded. */
  data: string;
  /** The file's stored name, used in notes and as the file name providers ask for. */
  name: string;
}

export type ModelUserPart = { type: 'text'; text: string } | ModelFilePart;

export type ModelAssistantPart =
  | { type: 'text'; text: string }
  /** `signature` (Anthropic) and `encrypted` (OpenAI) must be sent back verbatim when reasoning is replayed. */
  | {
      type: 'reasoning';
      text: string;
      signature?: string;
      redactedData?: string;
      providerItemId?: string;
      /** OpenAI Responses `encrypted_content` of the reasoning item (replayed only when `store` is off). */
      encrypted?: string;
    }
  | {
      type: 'tool-call';
      id: string;
      name: string;
      input: Record<string, unknown>;
      providerExecuted?: boolean;
      /** Set when the model's argument text was not a JSON object; `input` is then `{}` (see ToolInputError). */
      invalidInput?: ToolInputError;
    }
  /** Results of provider-executed tools (web search) stay inside the assistant message. */
  | { type: 'tool-result'; id: string; name: string; result: unknown; isError: boolean; providerExecuted: true }
  | { type: 'source'; id: string; url: string; title?: string };

export interface ModelToolResult {
  type: 'tool-result';
  id: string;
  name: string;
  /** JSON-serialisable output of the tool; shown to the model as JSON text. */
  result: unknown;
  isError: boolean;
}

export type ModelMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: ModelUserPart[] }
  | { role: 'assistant'; content: ModelAssistantPart[] }
  | { role: 'tool'; content: ModelToolResult[] };

export interface ModelCallOptions {
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  /** OpenAI reasoning models. */
  reasoningEffort?: 'minimal' | 'low' | 'medium' | 'high';
  reasoningSummary?: 'auto' | 'concise' | 'detailed';
  /** Anthropic extended thinking budget; thinking is off when unset. */
  thinkingBudgetTokens?: number;
  /** OpenAI Responses API: keep the response server side so the next call can chain to it. */
  store?: boolean;
  /** Tool choice; `none` is used by compaction. */
  toolChoice?: 'auto' | 'none' | 'required';
}

export interface ModelRequest {
  model: string;
  messages: ModelMessage[];
  tools: ToolSpec[];
  providerTools?: ProviderToolOptions;
  options: ModelCallOptions;
  /** OpenAI Responses chain mode: continue from this stored response (messages then hold only the new tail). */
  previousResponseId?: string;
  /** Extra request headers (for example `X-Chatd-Chat-Id`). */
  headers?: Record<string, string>;
}

/** Incremental events streamed while a step runs; the caller publishes them to clients. */
export type ModelStreamEvent =
  | { type: 'text-delta'; delta: string }
  | { type: 'reasoning-delta'; delta: string }
  | { type: 'tool-call-start'; id: string; name: string; providerExecuted?: boolean }
  | { type: 'tool-call-delta'; id: string; delta: string }
  | {
      type: 'tool-call';
      id: string;
      name: string;
      input: Record<string, unknown>;
      providerExecuted?: boolean;
      invalidInput?: ToolInputError;
    }
  | { type: 'tool-result'; id: string; name: string; result: unknown; isError: boolean; providerExecuted: true }
  | { type: 'source'; id: string; url: string; title?: string };

/**
 * Token counts of one step; null means "not reported" (a zero from the provider is also reported as null,
 * because several OpenAI-compatible servers send 0 for "unknown"). `inputTokens` excludes cached tokens
 * on every provider (Anthropic's convention), so input + cacheRead + cacheCreation is the prompt size.
 */
export interface Usage {
  inputTokens: number | null;
  outputTokens: number | null;
  totalTokens: number | null;
  reasoningTokens: number | null;
  cacheReadTokens: number | null;
  cacheCreationTokens: number | null;
}

export type FinishReason = 'stop' | 'tool-calls' | 'length' | 'content-filter' | 'error' | 'other';

export interface ModelStepResult {
  /** The assistant message as assembled from the stream, in stream order. */
  content: ModelAssistantPart[];
  finishReason: FinishReason;
  usage: Usage;
  /** OpenAI Responses id, kept for chain mode. */
  responseId?: string;
  /** Context window reported by the provider, when it reports one. */
  contextLimit?: number;
}

export interface StreamStepOptions {
  signal?: AbortSignal;
  onEvent: (event: ModelStreamEvent) => void;
}

/** One configured provider endpoint able to run steps. */
export interface LlmProvider {
  readonly kind: ProviderKind;
  /** Streams one model call. Throws `LlmError` (src/llm/errors.ts) on any provider failure. */
  streamStep(request: ModelRequest, options: StreamStepOptions): Promise<ModelStepResult>;
}

export const emptyUsage = (): Usage => ({
  inputTokens: null,
  outputTokens: null,
  totalTokens: null,
  reasoningTokens: null,
  cacheReadTokens: null,
  cacheCreationTokens: null,
});

/**
 * Why a tool call's input was replaced by `{}`: the model streamed argument text that is not a JSON object
 * (truncated output, a stray trailing comma, a bare string). The tool layer must answer such a call with an
 * error tool result quoting `message`, so the model can correct itself, instead of running the tool on `{}`.
 */
export interface ToolInputError {
  /** The argument text exactly as the model produced it (truncated to 4 KiB). */
  raw: string;
  /** Why it was rejected, suitable for the error tool result shown to the model. */
  message: string;
}

const MAX_RAW_TOOL_INPUT = 4096;

/**
 * Parses streamed tool-call argument text into the object every provider requires on replay. Empty text is
 * `{}` (models call argument-less tools that way). Never throws: invalid JSON or a non-object value yields
 * `{ input: {}, invalidInput }`.
 */
export function parseToolInput(raw: string): { input: Record<string, unknown>; invalidInput?: ToolInputError } {
  if (raw.trim() === '') return { input: {} };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'invalid JSON';
    return {
      input: {},
      invalidInput: { raw: raw.slice(0, MAX_RAW_TOOL_INPUT), message: `Invalid JSON in tool arguments: ${reason}` },
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      input: {},
      invalidInput: { raw: raw.slice(0, MAX_RAW_TOOL_INPUT), message: 'Tool arguments must be a JSON object.' },
    };
  }
  return { input: value as Record<string, unknown> };
}
