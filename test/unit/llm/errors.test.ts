/**
 * Table-driven tests of provider error classification (src/llm/errors.ts), named after the precedence
 * rules: our own cancellation, then typed SDK errors and HTTP status, then the provider's error type/code,
 * and message text only as the last resort.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import {
  classifyProviderError,
  classifyProviderFailure,
  LlmError,
  parseRetryAfter,
  retryDelayMs,
  toStreamErrorPayload,
  type LlmErrorKind,
} from '../../../src/llm/errors';
import type { ProviderKind } from '../../../src/llm/types';

const openAiError = (status: number, error: Record<string, unknown>, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { error }, undefined, new Headers(headers));

const anthropicError = (status: number, type: string, message: string, headers: Record<string, string> = {}) =>
  Anthropic.APIError.generate(status, { type: 'error', error: { type, message } }, undefined, new Headers(headers));

const systemError = (code: string, message: string) => Object.assign(new Error(message), { code });

interface Case {
  name: string;
  provider: ProviderKind;
  err: () => unknown;
  kind: LlmErrorKind;
  retryable: boolean;
  status?: number | null;
  retryAfterMs?: number | null;
}

const cases: Case[] = [
  // Rule 1: typed SDK errors and the HTTP status decide first.
  {
    name: 'openai 429 is rate_limit and honours Retry-After in seconds',
    provider: 'openai',
    err: () => openAiError(429, { message: 'slow down', type: 'requests' }, { 'retry-after': '7' }),
    kind: 'rate_limit',
    retryable: true,
    status: 429,
    retryAfterMs: 7000,
  },
  {
    name: 'retry-after-ms is preferred over retry-after',
    provider: 'openai',
    err: () => openAiError(429, { message: 'slow down' }, { 'retry-after-ms': '1500', 'retry-after': '9' }),
    kind: 'rate_limit',
    retryable: true,
    retryAfterMs: 1500,
  },
  {
    name: 'anthropic 529 is overloaded and retryable',
    provider: 'anthropic',
    err: () => anthropicError(529, 'overloaded_error', 'Overloaded'),
    kind: 'overloaded',
    retryable: true,
    status: 529,
  },
  {
    name: 'openai 500 is a retryable server error',
    provider: 'openai',
    err: () => openAiError(500, { message: 'The server had an error', type: 'server_error' }),
    kind: 'server',
    retryable: true,
    status: 500,
  },
  {
    name: '502 is server',
    provider: 'openai-compat',
    err: () => openAiError(502, {}),
    kind: 'server',
    retryable: true,
  },
  {
    name: '503 is server',
    provider: 'anthropic',
    err: () => anthropicError(503, 'api_error', 'x'),
    kind: 'server',
    retryable: true,
  },
  { name: '504 is timeout', provider: 'openai', err: () => openAiError(504, {}), kind: 'timeout', retryable: true },
  { name: '408 is timeout', provider: 'openai', err: () => openAiError(408, {}), kind: 'timeout', retryable: true },
  {
    name: 'openai 401 is auth and not retryable',
    provider: 'openai',
    err: () => openAiError(401, { message: 'Incorrect API key provided', code: 'invalid_api_key' }),
    kind: 'auth',
    retryable: false,
    status: 401,
  },
  {
    name: 'anthropic 403 is auth',
    provider: 'anthropic',
    err: () => anthropicError(403, 'permission_error', 'no access'),
    kind: 'auth',
    retryable: false,
    status: 403,
  },
  {
    name: 'a 400 bad request is config',
    provider: 'openai',
    err: () => openAiError(400, { message: "Unsupported parameter: 'temperature'", type: 'invalid_request_error' }),
    kind: 'config',
    retryable: false,
    status: 400,
  },
  {
    name: 'a 404 (model not found) is config',
    provider: 'openai',
    err: () => openAiError(404, { message: 'The model `gpt-9` does not exist', code: 'model_not_found' }),
    kind: 'config',
    retryable: false,
  },
  // Rule 2: the provider's error type/code refines the status.
  {
    name: '400 with code context_length_exceeded is context_length',
    provider: 'openai',
    err: () =>
      openAiError(400, { message: 'maximum context length is 128000 tokens', code: 'context_length_exceeded' }),
    kind: 'context_length',
    retryable: false,
    status: 400,
  },
  {
    name: '429 with code insufficient_quota is config (billing), not a retryable rate limit',
    provider: 'openai',
    err: () => openAiError(429, { message: 'You exceeded your current quota', code: 'insufficient_quota' }),
    kind: 'config',
    retryable: false,
    status: 429,
  },
  {
    name: 'a 500 carrying overloaded_error is overloaded',
    provider: 'anthropic',
    err: () => anthropicError(500, 'overloaded_error', 'Overloaded'),
    kind: 'overloaded',
    retryable: true,
  },
  {
    name: 'in-stream anthropic overloaded_error (HTTP 200, status undefined) is overloaded',
    provider: 'anthropic',
    err: () =>
      new Anthropic.APIError(
        undefined,
        { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
        undefined,
        new Headers(),
        'overloaded_error',
      ),
    kind: 'overloaded',
    retryable: true,
    status: null,
  },
  {
    name: 'in-stream openai error event is classified by its code',
    provider: 'openai',
    err: () =>
      new OpenAI.APIError(
        undefined,
        { type: 'error', code: 'rate_limit_exceeded', message: 'x' },
        undefined,
        new Headers(),
      ),
    kind: 'rate_limit',
    retryable: true,
    status: null,
  },
  {
    name: 'a typed field wins over misleading message text',
    provider: 'anthropic',
    err: () => anthropicError(529, 'overloaded_error', 'rate limit exceeded, authentication failed'),
    kind: 'overloaded',
    retryable: true,
  },
  // Rule 3: message text only when no typed field exists.
  {
    name: 'anthropic "prompt is too long" (400 without a code) is context_length from its text',
    provider: 'anthropic',
    err: () => anthropicError(400, 'invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum'),
    kind: 'context_length',
    retryable: false,
  },
  {
    name: 'an untyped in-stream error mentioning overload is overloaded',
    provider: 'openai-compat',
    err: () => new OpenAI.APIError(undefined, { message: 'model is overloaded' }, undefined, new Headers()),
    kind: 'overloaded',
    retryable: true,
  },
  // Transport failures.
  {
    name: 'connection reset (ECONNRESET) is a retryable network error',
    provider: 'openai',
    err: () => new OpenAI.APIConnectionError({ cause: systemError('ECONNRESET', 'read ECONNRESET') }),
    kind: 'server',
    retryable: true,
    status: null,
  },
  {
    name: 'connection refused is retryable',
    provider: 'anthropic',
    err: () => new Anthropic.APIConnectionError({ cause: systemError('ECONNREFUSED', 'connect ECONNREFUSED') }),
    kind: 'server',
    retryable: true,
  },
  {
    name: 'a socket cut mid-stream (undici "terminated") is retryable',
    provider: 'openai',
    err: () => new TypeError('terminated', { cause: systemError('UND_ERR_SOCKET', 'other side closed') }),
    kind: 'server',
    retryable: true,
  },
  {
    name: 'the SDK timeout error is timeout',
    provider: 'openai',
    err: () => new OpenAI.APIConnectionTimeoutError(),
    kind: 'timeout',
    retryable: true,
  },
  // Cancellation.
  {
    name: 'openai user abort is canceled and not retryable',
    provider: 'openai',
    err: () => new OpenAI.APIUserAbortError(),
    kind: 'canceled',
    retryable: false,
  },
  {
    name: 'anthropic user abort is canceled',
    provider: 'anthropic',
    err: () => new Anthropic.APIUserAbortError(),
    kind: 'canceled',
    retryable: false,
  },
  {
    name: 'a DOM AbortError is canceled',
    provider: 'openai',
    err: () => new DOMException('This operation was aborted', 'AbortError'),
    kind: 'canceled',
    retryable: false,
  },
  // Fallback.
  {
    name: 'anything unrecognised is unknown and not retried',
    provider: 'openai',
    err: () => new Error('something odd'),
    kind: 'unknown',
    retryable: false,
  },
  { name: 'a non-error value is unknown', provider: 'anthropic', err: () => 42, kind: 'unknown', retryable: false },
];

describe('classifyProviderError', () => {
  it.each(cases)('$name', (c) => {
    const e = classifyProviderError(c.err(), c.provider);
    expect(e).toBeInstanceOf(LlmError);
    expect(e.kind).toBe(c.kind);
    expect(e.retryable).toBe(c.retryable);
    expect(e.provider).toBe(c.provider);
    if (c.status !== undefined) expect(e.statusCode).toBe(c.status);
    if (c.retryAfterMs !== undefined) expect(e.retryAfterMs).toBe(c.retryAfterMs);
  });

  it('passes an LlmError through unchanged', () => {
    const original = new LlmError({ kind: 'auth', provider: 'openai' });
    expect(classifyProviderError(original, 'anthropic')).toBe(original);
  });

  it('honours an HTTP-date Retry-After', () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    const e = classifyProviderError(
      anthropicError(429, 'rate_limit_error', 'slow', { 'retry-after': at }),
      'anthropic',
    );
    expect(e.kind).toBe('rate_limit');
    // HTTP dates have one-second resolution.
    expect(e.retryAfterMs).toBeGreaterThanOrEqual(28_000);
    expect(e.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it('writes user messages that name the provider, the status and what to do', () => {
    expect(classifyProviderError(anthropicError(529, 'overloaded_error', 'Overloaded'), 'anthropic').userMessage).toBe(
      'Anthropic is temporarily overloaded (HTTP 529). Please try again later.',
    );
    expect(classifyProviderError(openAiError(401, { message: 'bad key' }), 'openai').userMessage).toBe(
      'Authentication with OpenAI failed (HTTP 401). Check the API key, permissions, and billing settings.',
    );
    expect(classifyProviderError(new OpenAI.APIUserAbortError(), 'openai').userMessage).toBe(
      'The request was canceled before it completed.',
    );
  });

  it('keeps provider internals of unknown errors out of the user message', () => {
    const e = classifyProviderError(new Error('secret stack detail'), 'openai');
    expect(e.userMessage).not.toContain('secret');
    expect(e.message).toContain('secret');
  });
});

describe('classifyProviderFailure (failures reported inside a stream)', () => {
  it.each([
    { code: 'server_error', kind: 'server', retryable: true },
    { code: 'rate_limit_exceeded', kind: 'rate_limit', retryable: true },
    { code: 'context_length_exceeded', kind: 'context_length', retryable: false },
    { code: 'invalid_prompt', kind: 'config', retryable: false },
    { code: 'something_new', kind: 'unknown', retryable: false },
  ] as const)('response.failed with code $code is $kind', ({ code, kind, retryable }) => {
    const e = classifyProviderFailure({ code, message: 'x' }, 'openai');
    expect(e.kind).toBe(kind);
    expect(e.retryable).toBe(retryable);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    [{ 'retry-after': '3' }, 3000],
    [{ 'retry-after': '1.5' }, 1500],
    [{ 'Retry-After': '2' }, 2000],
    [{ 'retry-after-ms': '250' }, 250],
    [{ 'retry-after': 'soon' }, null],
    [{}, null],
  ])('%j → %p', (headers, expected) => {
    expect(parseRetryAfter(headers)).toBe(expected);
  });

  it('treats a date in the past as zero', () => {
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }))).toBe(0);
  });
});

describe('retryDelayMs', () => {
  it('doubles from 1 s and caps at 60 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map((n) => retryDelayMs(n, null))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000,
    ]);
  });

  it('lets Retry-After win when it is longer than the backoff', () => {
    expect(retryDelayMs(0, 5000)).toBe(5000);
    expect(retryDelayMs(3, 90_000)).toBe(90_000);
  });

  it('keeps the backoff when Retry-After is shorter', () => {
    expect(retryDelayMs(4, 1000)).toBe(16000);
  });
});

describe('toStreamErrorPayload', () => {
  it('normalises a classified error into the snake_case SSE payload', () => {
    const e = classifyProviderError(anthropicError(529, 'overloaded_error', 'Overloaded'), 'anthropic');
    expect(toStreamErrorPayload(e)).toEqual({
      message: 'Anthropic is temporarily overloaded (HTTP 529). Please try again later.',
      kind: 'overloaded',
      provider: 'anthropic',
      retryable: true,
      status_code: 529,
    });
  });
});
