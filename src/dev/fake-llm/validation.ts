/**
 * The fake is strict: before a request is answered, its body is checked the way the real provider checks
 * it, and a body the provider would refuse gets the provider's 400 instead of a step. Each protocol's rules
 * live beside its renderer (anthropic-validation.ts, openai-responses-validation.ts,
 * openai-chat-validation.ts); docs/fake-llm.md lists them.
 */
import { validateAnthropicRequest } from './anthropic-validation';
import { invalidRequestError, type InvalidRequest, type ProviderErrorResponse } from './errors';
import { validateChatRequest } from './openai-chat-validation';
import { validateResponsesRequest } from './openai-responses-validation';
import { bodyOf, type FakeProtocol, type RecordedRequest } from './request';

const VALIDATORS: Record<FakeProtocol, (body: Record<string, unknown>) => InvalidRequest | null> = {
  anthropic: validateAnthropicRequest,
  'openai-responses': validateResponsesRequest,
  'openai-chat': validateChatRequest,
};

/** The first reason the real provider would refuse this request, or null when it would accept it. */
export function validateRequest(req: Pick<RecordedRequest, 'protocol' | 'body'>): InvalidRequest | null {
  return VALIDATORS[req.protocol](bodyOf(req));
}

/** The provider's 400 response when it would refuse this request, or null when it would accept it. */
export function rejectInvalidRequest(req: Pick<RecordedRequest, 'protocol' | 'body'>): ProviderErrorResponse | null {
  const invalid = validateRequest(req);
  return invalid ? invalidRequestError(req.protocol, invalid) : null;
}
