/**
 * Provider error responses exactly as OpenAI and Anthropic send them: status, JSON body and headers
 * (`retry-after`, `x-ratelimit-*` / `anthropic-ratelimit-*`, `x-request-id` / `request-id`, `x-should-retry`).
 * Also the in-stream error payloads used after a 200 has been sent.
 */
import { randomBytes } from 'node:crypto';

import type { FakeProtocol } from './request';

/** A complete HTTP error response. */
export interface ProviderErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Options that adjust a canned error. */
export interface ProviderErrorOptions {
  retryAfterSeconds?: number;
  type?: string;
  message?: string;
  /** OpenAI's `code` (and `param`) fields, replacing the canned ones (e.g. `previous_response_not_found`). */
  code?: string | null;
  param?: string | null;
  /** The request's model, quoted in some messages. */
  model?: string;
  /** Adds `x-should-retry: false` (used for unplanned requests, so clients with retries fail fast). */
  noRetry?: boolean;
}

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random id in the providers' style: `prefix` + `length` base62 characters. */
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += BASE62[b % BASE62.length];
  return out;
}

/** A random lower-case hex id: `prefix` + `bytes * 2` hex digits (OpenAI `resp_`, `msg_`, `fc_` …). */
export function hexId(prefix: string, bytes = 24): string {
  return prefix + randomBytes(bytes).toString('hex');
}

interface OpenAiErrorShape {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

function openAiError(protocol: FakeProtocol, status: number, opts: ProviderErrorOptions): OpenAiErrorShape {
  const model = opts.model || 'gpt-fake';
  switch (status) {
    case 400:
      return protocol === 'openai-responses'
        ? {
            message: 'Your input exceeds the context window of this model. Please adjust your input and try again.',
            type: 'invalid_request_error',
            param: 'input',
            code: 'context_length_exceeded',
          }
        : {
            message:
              "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.",
            type: 'invalid_request_error',
            param: 'messages',
            code: 'context_length_exceeded',
          };
    case 401:
      return {
        message:
          'Incorrect API key provided: test. You can find your API key at https://platform.openai.com/account/api-keys.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      };
    case 403:
      return {
        message: `Project \`proj_fake\` does not have access to model \`${model}\``,
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      };
    case 404:
      return {
        message: `The model \`${model}\` does not exist or you do not have access to it.`,
        type: 'invalid_request_error',
        param: null,
        code: 'model_not_found',
      };
    case 429:
      if (opts.type === 'insufficient_quota') {
        return {
          message:
            'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
          type: 'insufficient_quota',
          param: null,
          code: 'insufficient_quota',
        };
      }
      return {
        message: `Rate limit reached for ${model} in organization org-fake on tokens per min (TPM): Limit 30000, Used 30000, Requested 1200. Please try again in ${opts.retryAfterSeconds ?? 1}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      };
    case 500:
      return {
        message:
          'The server had an error while processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if the error persists.',
        type: 'server_error',
        param: null,
        code: null,
      };
    case 502:
    case 503:
    case 529:
      return {
        message: 'The server is overloaded or not ready yet.',
        type: 'server_error',
        param: null,
        code: null,
      };
    default:
      return status >= 500
        ? { message: 'The server had an error processing your request.', type: 'server_error', param: null, code: null }
        : { message: `Request failed with status ${status}.`, type: 'invalid_request_error', param: null, code: null };
  }
}

function anthropicError(status: number, opts: ProviderErrorOptions): { type: string; message: string } {
  switch (status) {
    case 400:
      return { type: 'invalid_request_error', message: 'prompt is too long: 212345 tokens > 200000 maximum' };
    case 401:
      return { type: 'authentication_error', message: 'invalid x-api-key' };
    case 403:
      return {
        type: 'permission_error',
        message: 'Your API key does not have permission to use the specified resource.',
      };
    case 404:
      return { type: 'not_found_error', message: `model: ${opts.model || 'claude-fake'}` };
    case 413:
      return { type: 'request_too_large', message: 'Request exceeds the maximum allowed number of bytes.' };
    case 429:
      return {
        type: 'rate_limit_error',
        message:
          'This request would exceed the rate limit for your organization of 50,000 input tokens per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.',
      };
    case 529:
      return { type: 'overloaded_error', message: 'Overloaded' };
    default:
      return status >= 500
        ? { type: 'api_error', message: 'Internal server error' }
        : { type: 'invalid_request_error', message: `Request failed with status ${status}.` };
  }
}

/** The full HTTP error response a provider sends for `status` on `protocol`. */
export function providerError(
  protocol: FakeProtocol,
  status: number,
  opts: ProviderErrorOptions = {},
): ProviderErrorResponse {
  const retryAfter = opts.retryAfterSeconds ?? (status === 429 ? 1 : undefined);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  if (opts.noRetry) headers['x-should-retry'] = 'false';

  if (protocol === 'anthropic') {
    const requestId = randomId('req_011C');
    const canned = anthropicError(status, opts);
    headers['request-id'] = requestId;
    if (!opts.noRetry && (status === 429 || status >= 500)) headers['x-should-retry'] = 'true';
    if (status === 429) {
      const reset = new Date(Date.now() + (retryAfter ?? 1) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      headers['anthropic-ratelimit-requests-limit'] = '50';
      headers['anthropic-ratelimit-requests-remaining'] = '0';
      headers['anthropic-ratelimit-requests-reset'] = reset;
      headers['anthropic-ratelimit-input-tokens-limit'] = '50000';
      headers['anthropic-ratelimit-input-tokens-remaining'] = '0';
      headers['anthropic-ratelimit-input-tokens-reset'] = reset;
    }
    return {
      status,
      headers,
      body: {
        type: 'error',
        error: { type: opts.type ?? canned.type, message: opts.message ?? canned.message },
        request_id: requestId,
      },
    };
  }

  const canned = openAiError(protocol, status, opts);
  headers['x-request-id'] = hexId('req_', 16);
  if (status === 429) {
    const reset = `${retryAfter ?? 1}s`;
    headers['x-ratelimit-limit-requests'] = '500';
    headers['x-ratelimit-remaining-requests'] = '0';
    headers['x-ratelimit-reset-requests'] = reset;
    headers['x-ratelimit-limit-tokens'] = '30000';
    headers['x-ratelimit-remaining-tokens'] = '0';
    headers['x-ratelimit-reset-tokens'] = reset;
  }
  const error: OpenAiErrorShape = {
    ...canned,
    ...(opts.type !== undefined && opts.type !== 'insufficient_quota' ? { type: opts.type } : {}),
    ...(opts.message !== undefined ? { message: opts.message } : {}),
    ...(opts.code !== undefined ? { code: opts.code } : {}),
    ...(opts.param !== undefined ? { param: opts.param } : {}),
  };
  return { status, headers, body: { error } };
}

/** Anthropic's in-stream `event: error` payload for an overloaded model. */
export function anthropicOverloadedEvent(): unknown {
  return { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
}

/** The `error` object OpenAI puts in a mid-stream failure (Chat `data: {"error":…}`, Responses `error` event). */
export function openAiOverloadedError(): OpenAiErrorShape {
  return {
    message: 'The server is overloaded or not ready yet.',
    type: 'server_error',
    param: null,
    code: 'server_error',
  };
}

/**
 * Why a provider refuses a request body before any model runs (a malformed conversation). `message` is the
 * provider's own text; `param` is OpenAI's pointer to the offending field (Anthropic sends none).
 */
export interface InvalidRequest {
  message: string;
  param?: string;
}

/**
 * The 400 `invalid_request_error` a provider answers an invalid request with: Anthropic's
 * `{type: "error", error: {type, message}, request_id}`, OpenAI's `{error: {message, type, param, code: null}}`.
 */
export function invalidRequestError(protocol: FakeProtocol, invalid: InvalidRequest): ProviderErrorResponse {
  if (protocol === 'anthropic') {
    return providerError(protocol, 400, { type: 'invalid_request_error', message: invalid.message });
  }
  return providerError(protocol, 400, {
    type: 'invalid_request_error',
    message: invalid.message,
    param: invalid.param ?? null,
    code: null,
  });
}
