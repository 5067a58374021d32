/**
 * The only place where Temporal failure types are chosen. Errors below become ApplicationFailures
 * whose `type` the workflow branches on and whose first detail is the classified ErrorPayload
 * (src/messages/error-payload.ts) shown to users.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ModelConfigError } from '../src/turn/models';
import { isDatabaseError } from '../src/db/create-db';
import { classifyProviderError, LlmError, toStreamErrorPayload } from '../src/llm/errors';
import type { ProviderKind } from '../src/llm/types';
import { genericErrorPayload, type ErrorPayload } from '../src/messages/error-payload';
import { UsageLimitExceededError } from '../src/usage/limits';

const typeName = (kind: string): string =>
  'LlmError.' +
  kind
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');

export interface ClassifiedFailure {
  failure: ApplicationFailure;
  payload: ErrorPayload;
  retryable: boolean;
}

/** Maps any error thrown by a model step to an ApplicationFailure. */
export function toActivityFailure(
  err: unknown,
  provider: ProviderKind | null,
  nextRetryDelayMs?: number,
): ClassifiedFailure {
  if (err instanceof ModelConfigError) {
    const payload: ErrorPayload = {
      message: err.message,
      kind: 'config',
      provider,
      retryable: false,
      status_code: null,
    };
    return {
      failure: ApplicationFailure.create({
        type: 'LlmError.Config',
        message: err.message,
        nonRetryable: true,
        details: [payload],
      }),
      payload,
      retryable: false,
    };
  }
  if (err instanceof UsageLimitExceededError) return usageLimitFailure(err);
  // A database failure (PostgreSQL restarting, a cut connection) is never the provider's: it is an
  // internal failure, retried like any other, however much it looks like a network error.
  const llm =
    err instanceof LlmError ? err : provider && !isDatabaseError(err) ? classifyProviderError(err, provider) : null;
  if (!llm) {
    const payload = genericErrorPayload(true);
    return {
      failure: ApplicationFailure.create({
        type: 'InternalError',
        message: err instanceof Error ? err.message : String(err),
        details: [payload],
        ...(nextRetryDelayMs !== undefined ? { nextRetryDelay: nextRetryDelayMs } : {}),
      }),
      payload,
      retryable: true,
    };
  }
  const payload = toStreamErrorPayload(llm);
  return {
    failure: ApplicationFailure.create({
      type: typeName(llm.kind),
      message: llm.userMessage,
      nonRetryable: !llm.retryable,
      details: [payload],
      ...(llm.retryable && nextRetryDelayMs !== undefined ? { nextRetryDelay: nextRetryDelayMs } : {}),
      cause: err instanceof Error ? err : undefined,
    }),
    payload,
    retryable: llm.retryable,
  };
}

/**
 * The owner's spend limit stopped a model call (src/usage/turn-budget.ts): not retryable (retrying
 * cannot lower the spend), and classified `usage_limit`, which the chat keeps as its last_error_kind.
 */
function usageLimitFailure(err: UsageLimitExceededError): ClassifiedFailure {
  const payload: ErrorPayload = {
    message: err.message,
    kind: 'usage_limit',
    provider: null,
    retryable: false,
    status_code: null,
  };
  return {
    failure: ApplicationFailure.create({
      type: 'UsageLimit.Exceeded',
      message: err.message,
      nonRetryable: true,
      details: [payload],
    }),
    payload,
    retryable: false,
  };
}
