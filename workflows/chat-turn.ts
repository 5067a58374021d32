/**
 * Pure decisions of the turn workflow, kept free of Temporal imports so they are unit tested
 * without a server: how a run ended, and which turn (if any) runs next.
 */
import { genericErrorPayload, type ErrorPayload } from '../src/messages/error-payload';

/** The turn to continue as: the newest of what the database and the signals asked for, if newer. */
export function nextTurnToRun(current: number, fromDatabase: number | null, fromSignals: number): number | null {
  const next = Math.max(fromDatabase ?? 0, fromSignals);
  return next > current ? next : null;
}

/** The classified error an activity attached to its failure (activities/failures.ts), or a generic one. */
export function turnErrorFrom(err: unknown): ErrorPayload {
  const cause = (err as { cause?: { details?: unknown[] } }).cause;
  const detail = cause?.details?.[0] as Partial<ErrorPayload> | undefined;
  if (detail && typeof detail.message === 'string' && typeof detail.kind === 'string') {
    return {
      message: detail.message,
      kind: detail.kind,
      provider: detail.provider ?? null,
      retryable: detail.retryable ?? false,
      status_code: detail.status_code ?? null,
    };
  }
  // The turn is over: nothing will retry it.
  return genericErrorPayload(false);
}

/** A compaction on what would have been the last step lets the model continue, at most this often. */
export const MAX_COMPACTION_REENTRIES = 3;
