/**
 * What only the two OpenAI protocols (openai-responses.ts, openai-chat.ts) share: the provider kind and
 * the SDK request options. The stream plumbing every provider uses is in step-stream.ts.
 */
import type OpenAI from 'openai';
import type { ModelRequest } from './types';

/** Which provider kind an OpenAI client speaks for: the official API, or a compatible server. */
export type OpenAiKind = 'openai' | 'openai-compat';

export function requestOptions(request: ModelRequest, signal: AbortSignal | undefined): OpenAI.RequestOptions {
  return {
    ...(signal ? { signal } : {}),
    ...(request.headers && Object.keys(request.headers).length > 0 ? { headers: request.headers } : {}),
  };
}
