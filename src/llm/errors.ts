/**
 * Classification of provider failures into one `LlmError` shape, and the user-facing ErrorPayload built from it.
 *
 * The provider SDKs never retry (`maxRetries: 0`); whoever retries decides from `kind`, `retryable` and
 * `retryAfterMs` here. Precedence: our own cancellation, then the SDK's typed error class and HTTP status,
 * then the provider's error `type`/`code` fields, and message text only when nothing typed is available.
 */
import * as Anthropic from '@anthropic-ai/sdk';
import * as OpenAI from 'openai';
import type { ErrorPayload } from '../messages/error-payload';
import type { ProviderKind } from './types';

/** Stable failure categories; they become Temporal failure types (`LlmError.<Kind>`) and SSE payload kinds. */
export type LlmErrorKind =
  'rate_limit' | 'overloaded' | 'timeout' | 'auth' | 'config' | 'context_length' | 'server' | 'canceled' | 'unknown';

/** Kinds worth retrying with backoff. Everything else fails the turn (or ends it quietly, for `canceled`). */
const RETRYABLE_KINDS: ReadonlySet<LlmErrorKind> = new Set(['rate_limit', 'overloaded', 'timeout', 'server']);

/** Construction data of an `LlmError`. */
export interface LlmErrorInit {
  kind: LlmErrorKind;
  provider: string;
  statusCode?: number | null;
  retryAfterMs?: number | null;
  /** Defaults to a message derived from kind, provider and status. */
  userMessage?: string;
  /** Technical detail for logs; never shown to users. Defaults to `userMessage`. */
  detail?: string;
  cause?: unknown;
}

/**
 * A classified provider failure. `message` is the technical detail (for logs), `userMessage` is safe to show.
 * `retryable` is derived from `kind` so the two can never disagree.
 */
export class LlmError extends Error {
  override readonly name = 'LlmError';
  readonly kind: LlmErrorKind;
  readonly provider: string;
  readonly statusCode: number | null;
  readonly retryable: boolean;
  /** Server-requested wait from `retry-after-ms` / `retry-after`, when the provider sent one. */
  readonly retryAfterMs: number | null;
  readonly userMessage: string;

  constructor(init: LlmErrorInit) {
    const statusCode = init.statusCode ?? null;
    const userMessage = init.userMessage ?? defaultUserMessage(init.kind, init.provider, statusCode);
    super(init.detail ?? userMessage, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.provider = init.provider;
    this.statusCode = statusCode;
    this.retryable = RETRYABLE_KINDS.has(init.kind);
    this.retryAfterMs = init.retryAfterMs ?? null;
    this.userMessage = userMessage;
  }
}

/** Builds the client-facing error payload; it carries only the user message, never provider internals. */
export function toStreamErrorPayload(e: LlmError): ErrorPayload {
  return {
    message: e.userMessage,
    kind: e.kind,
    provider: e.provider,
    retryable: e.retryable,
    status_code: e.statusCode,
  };
}

const BASE_RETRY_DELAY_MS = 1_000;
const MAX_RETRY_DELAY_MS = 60_000;

/**
 * Backoff before retry number `attempt` (0-based: 0 → 1 s, 1 → 2 s, … capped at 60 s). A server-sent
 * Retry-After wins when it asks for longer; it is not capped, because retrying earlier than the provider
 * asked only earns another 429.
 */
export function retryDelayMs(attempt: number, retryAfterMs: number | null): number {
  const n = Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0;
  // 2^6 s already exceeds the cap; clamping the exponent avoids Infinity for huge attempt numbers.
  const backoff = Math.min(MAX_RETRY_DELAY_MS, BASE_RETRY_DELAY_MS * 2 ** Math.min(n, 16));
  return retryAfterMs !== null && retryAfterMs > backoff ? retryAfterMs : backoff;
}

/** Provider-reported failure fields, for failures that arrive as stream events rather than thrown errors. */
export interface ProviderFailureFields {
  statusCode?: number | null;
  /** Provider error `type` (Anthropic `overloaded_error`, OpenAI `invalid_request_error`). */
  type?: string | null;
  /** Provider error `code` (OpenAI `context_length_exceeded`, `rate_limit_exceeded`; Anthropic `error_code`). */
  code?: string | number | null;
  message?: string | null;
  retryAfterMs?: number | null;
  cause?: unknown;
}

/**
 * Classifies a failure reported inside an otherwise successful stream (OpenAI `response.failed`, for
 * example) from its typed fields, with message text as the last resort.
 */
export function classifyProviderFailure(fields: ProviderFailureFields, provider: ProviderKind): LlmError {
  return fromFacts(
    {
      status: fields.statusCode ?? null,
      type: fields.type ?? null,
      code: fields.code === undefined || fields.code === null ? null : String(fields.code),
      message: fields.message ?? '',
      retryAfterMs: fields.retryAfterMs ?? null,
      transport: null,
    },
    provider,
    fields.cause,
  );
}

/**
 * Turns anything thrown while calling a provider into an `LlmError`. Never throws. An `LlmError` passes
 * through unchanged, so adapters may classify early and callers may classify again safely.
 */
export function classifyProviderError(err: unknown, provider: ProviderKind): LlmError {
  if (err instanceof LlmError) return err;

  // 1. Typed SDK errors. Abort and timeout are subclasses of the connection error, so test them first.
  if (err instanceof OpenAI.APIUserAbortError || err instanceof Anthropic.APIUserAbortError) {
    return new LlmError({ kind: 'canceled', provider, detail: err.message, cause: err });
  }
  if (err instanceof OpenAI.APIConnectionTimeoutError || err instanceof Anthropic.APIConnectionTimeoutError) {
    return new LlmError({ kind: 'timeout', provider, detail: err.message, cause: err });
  }
  if (err instanceof OpenAI.APIConnectionError || err instanceof Anthropic.APIConnectionError) {
    return fromFacts(transportFacts(err), provider, err);
  }
  if (err instanceof OpenAI.APIError) {
    // OpenAI puts `type`/`code` on the error body; an in-stream `error` event arrives with status undefined.
    return fromFacts(
      {
        status: err.status ?? null,
        type: err.type ?? null,
        code: err.code === null || err.code === undefined ? null : String(err.code),
        message: err.message,
        retryAfterMs: parseRetryAfter(err.headers),
        transport: null,
      },
      provider,
      err,
    );
  }
  if (err instanceof Anthropic.APIError) {
    // Anthropic: `type` is `error.type` of the body (also set for the in-stream `error` event, whose status
    // is undefined because the HTTP response itself was a 200); `errorCode` is `error.details.error_code`.
    return fromFacts(
      {
        status: err.status ?? null,
        type: err.type ?? null,
        code: err.errorCode,
        message: err.message,
        retryAfterMs: parseRetryAfter(err.headers),
        transport: null,
      },
      provider,
      err,
    );
  }

  // 2. Errors raised below the SDK: fetch aborts, undici socket errors, Node system errors.
  if (isAbortLike(err)) return new LlmError({ kind: 'canceled', provider, detail: errorMessage(err), cause: err });
  return fromFacts(transportFacts(err), provider, err);
}

/**
 * Reads `retry-after-ms` (milliseconds, sent by OpenAI) or `retry-after` (delta-seconds or an HTTP date,
 * RFC 9110 §10.2.3). Returns null when absent or unparseable. Exported for tests.
 */
export function parseRetryAfter(headers: unknown, now: number = Date.now()): number | null {
  const ms = readHeader(headers, 'retry-after-ms');
  if (ms !== null) {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.round(value);
  }
  const ra = readHeader(headers, 'retry-after');
  if (ra === null) return null;
  const trimmed = ra.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

// ---------------------------------------------------------------------------------------------------------

interface ErrorFacts {
  status: number | null;
  type: string | null;
  code: string | null;
  message: string;
  retryAfterMs: number | null;
  /** Set for failures below HTTP (no response or a broken body): the system error code when known. */
  transport: { code: string | null } | null;
}

/** Node/undici error codes of transient network failures (connection reset/refused, socket cut mid-stream). */
const TRANSIENT_NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const TIMEOUT_NETWORK_CODES = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function fromFacts(facts: ErrorFacts, provider: ProviderKind | string, cause: unknown): LlmError {
  const kind = classifyFacts(facts);
  const statusCode = facts.status;
  const detail = facts.message || defaultUserMessage(kind, provider, statusCode);
  return new LlmError({
    kind,
    provider,
    statusCode,
    retryAfterMs: facts.retryAfterMs,
    userMessage: userMessageFor(kind, provider, statusCode, facts),
    detail,
    cause,
  });
}

/** The precedence rules. Each tier only runs when the tiers above it had nothing to say. */
function classifyFacts(f: ErrorFacts): LlmErrorKind {
  // Tier 1: transport failures (no HTTP response, or the body broke mid-stream).
  if (f.transport) {
    const code = f.transport.code;
    if (code && TIMEOUT_NETWORK_CODES.has(code)) return 'timeout';
    if (code && TRANSIENT_NETWORK_CODES.has(code)) return 'server';
  }

  // Tier 2: provider type/code fields that are more specific than the status they came with.
  const byField = kindFromProviderFields(f.type, f.code);

  // Tier 3: HTTP status.
  if (f.status !== null) {
    const byStatus = kindFromStatus(f.status);
    // A typed field refines the status: 429 + insufficient_quota is billing (retrying cannot help),
    // 400 + context_length_exceeded is context length, a 500 carrying overloaded_error is overload.
    return byField ?? contextLengthFromText(byStatus, f) ?? byStatus;
  }
  if (byField) return byField;

  // Tier 4: message text, only when nothing typed was available (message text is the least reliable signal).
  if (f.transport) return kindFromText(f.message) ?? (f.transport.code ? 'server' : 'unknown');
  return kindFromText(f.message) ?? 'unknown';
}

function kindFromStatus(status: number): LlmErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 408) return 'timeout';
  // 409 is a transient conflict: OpenAI's own SDK retries it.
  if (status === 409) return 'server';
  if (status === 429) return 'rate_limit';
  if (status === 504) return 'timeout';
  if (status === 529) return 'overloaded';
  if (status >= 500) return 'server';
  // 400 bad request, 402 billing, 404 model not found, 413, 422 …: the request itself must change.
  if (status >= 400) return 'config';
  return 'unknown';
}

/** Provider error `type` (both vendors) and `code` (OpenAI, Anthropic `error_code`) fields. */
function kindFromProviderFields(type: string | null, code: string | null): LlmErrorKind | null {
  switch (code) {
    case 'context_length_exceeded':
    case 'string_above_max_length':
      return 'context_length';
    case 'insufficient_quota':
    case 'billing_hard_limit_reached':
    case 'billing_not_active':
    case 'contract_spend_limit_reached':
    case 'enforced_spend_limit_reached':
    case 'linked_organization_spend_limit_reached':
      return 'config';
    case 'model_not_found':
    case 'invalid_model':
    case 'invalid_prompt':
      return 'config';
    case 'invalid_api_key':
    case 'invalid_organization':
      return 'auth';
    case 'rate_limit_exceeded':
      return 'rate_limit';
    case 'server_error':
    case 'internal_error':
      return 'server';
    case 'server_is_overloaded':
    case 'slow_down':
      return 'overloaded';
    default:
      break;
  }
  switch (type) {
    case 'overloaded_error':
      return 'overloaded';
    case 'rate_limit_error':
    case 'rate_limit_exceeded':
    case 'tokens':
    case 'requests':
      return 'rate_limit';
    case 'authentication_error':
    case 'permission_error':
      return 'auth';
    case 'billing_error':
    case 'insufficient_quota':
    case 'not_found_error':
      return 'config';
    case 'timeout_error':
      return 'timeout';
    case 'api_error':
    case 'server_error':
      return 'server';
    default:
      // `invalid_request_error` alone is deliberately not decisive: it covers both plain bad requests and
      // Anthropic's "prompt is too long", which has no typed code (see contextLengthFromText).
      return null;
  }
}

/**
 * Anthropic reports an over-long prompt as a bare 400 `invalid_request_error` without a code, so for a
 * 400/413 whose typed fields are silent the message is the only signal left.
 */
function contextLengthFromText(byStatus: LlmErrorKind, f: ErrorFacts): LlmErrorKind | null {
  if (byStatus !== 'config' || (f.status !== 400 && f.status !== 413)) return null;
  return CONTEXT_LENGTH_TEXT.test(f.message) ? 'context_length' : null;
}

const CONTEXT_LENGTH_TEXT =
  /prompt is too long|context length|context window|maximum context|too many tokens|input is too long/i;

/** Last resort: keyword matching on the message, for failures that carry nothing typed. */
function kindFromText(message: string): LlmErrorKind | null {
  const m = message.toLowerCase();
  if (!m) return null;
  if (/overloaded/.test(m)) return 'overloaded';
  if (/rate limit|too many requests/.test(m)) return 'rate_limit';
  if (CONTEXT_LENGTH_TEXT.test(m)) return 'context_length';
  if (/insufficient_quota|billing/.test(m)) return 'config';
  if (/unauthorized|forbidden|invalid api key|authentication/.test(m)) return 'auth';
  if (/timed out|timeout/.test(m)) return 'timeout';
  if (
    /connection reset|connection refused|socket hang up|broken pipe|other side closed|terminated|\beof\b|unavailable/.test(
      m,
    )
  )
    return 'server';
  return null;
}

/** Facts for an error with no HTTP response: walk the `cause` chain for a system error code. */
function transportFacts(err: unknown): ErrorFacts {
  return {
    status: null,
    type: null,
    code: null,
    message: errorMessage(err),
    retryAfterMs: null,
    transport: { code: findSystemCode(err) },
  };
}

function findSystemCode(err: unknown): string | null {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return null;
}

function isAbortLike(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const name = (err as { name?: unknown }).name;
  return name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR';
}

/**
 * Duck-typed rather than `instanceof Error`: errors thrown inside Node's fetch (undici) come from another
 * realm under Jest's VM sandbox and would fail the check.
 */
function errorMessage(err: unknown): string {
  if (typeof err === 'string') return err;
  const message = messageOf(err);
  const causeMessage = messageOf((err as { cause?: unknown } | null)?.cause);
  return causeMessage && causeMessage !== message ? `${message}: ${causeMessage}` : message;
}

function messageOf(value: unknown): string {
  if (!value || typeof value !== 'object') return '';
  const message = (value as { message?: unknown }).message;
  return typeof message === 'string' ? message : '';
}

function readHeader(headers: unknown, name: string): string | null {
  if (!headers || typeof headers !== 'object') return null;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name);
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() === name && typeof value === 'string') return value;
  }
  return null;
}

/** Human name used in user-facing messages. */
export function providerDisplayName(provider: string): string {
  switch (provider) {
    case 'openai':
      return 'OpenAI';
    case 'anthropic':
      return 'Anthropic';
    case 'openai-compat':
      return 'The OpenAI-compatible provider';
    default:
      return 'The model provider';
  }
}

function httpSuffix(statusCode: number | null): string {
  return statusCode === null ? '' : ` (HTTP ${statusCode})`;
}

function userMessageFor(kind: LlmErrorKind, provider: string, statusCode: number | null, f: ErrorFacts): string {
  const p = providerDisplayName(provider);
  if (kind === 'config') {
    if (f.code === 'insufficient_quota' || f.type === 'billing_error' || f.status === 402) {
      return `${p} reports that the account's quota or billing limit is exhausted. Check the plan and billing settings.`;
    }
    if (f.status === 404 || f.type === 'not_found_error' || f.code === 'model_not_found') {
      return `${p} could not find the requested model or endpoint${httpSuffix(statusCode)}. Check the model configuration.`;
    }
    // Bad-request messages name the offending parameter, which is what an admin needs to fix the config.
    const detail = f.message ? `: ${truncate(f.message, 300)}` : '.';
    return `${p} rejected the request${httpSuffix(statusCode)}${detail}`;
  }
  if (kind === 'server' && f.transport) {
    return `The connection to ${p} was interrupted. Please try again.`;
  }
  return defaultUserMessage(kind, provider, statusCode);
}

function defaultUserMessage(kind: LlmErrorKind, provider: string, statusCode: number | null): string {
  const p = providerDisplayName(provider);
  const http = httpSuffix(statusCode);
  switch (kind) {
    case 'overloaded':
      return `${p} is temporarily overloaded${http}. Please try again later.`;
    case 'rate_limit':
      return `${p} rate limit reached${http}. Please wait a moment and try again.`;
    case 'timeout':
      return `${p} did not respond in time${http}. Please try again.`;
    case 'auth':
      return `Authentication with ${p} failed${http}. Check the API key, permissions, and billing settings.`;
    case 'config':
      return `${p} rejected the request${http}. Check the model configuration.`;
    case 'context_length':
      return `The conversation is too long for the model's context window${http}. Compact it or start a new chat.`;
    case 'server':
      return `${p} returned a server error${http}. Please try again later.`;
    case 'canceled':
      return 'The request was canceled before it completed.';
    case 'unknown':
      return `An unexpected error occurred while calling ${p}${http}.`;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
