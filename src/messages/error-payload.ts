/**
 * The classified error payload: what a user is shown of a failure. It is the body of the `error`
 * stream event and the `error` of a `retry` event, the first detail of the ApplicationFailure an
 * activity throws (which the turn workflow passes to finishTurn), and the source of the chat's
 * last_error. Import-free, so the workflow sandbox may import it (docs/stream-events.md).
 */

/** Snake_case like the rest of the wire API. Never carries provider internals or unclassified messages. */
export interface ErrorPayload {
  /** Safe to show to the user. */
  message: string;
  /** The classified kind: an LlmErrorKind (src/llm/errors.ts), `usage_limit` (a spend limit), or `generic` / `retry`. */
  kind: string;
  /** The provider that failed, or null when the failure was not a provider's. */
  provider: string | null;
  retryable: boolean;
  /** The provider's HTTP status, when it answered with one. */
  status_code: number | null;
}

/** The payload of a failure nobody classified: its own message never reaches the user. */
export function genericErrorPayload(retryable: boolean): ErrorPayload {
  return {
    message: 'The agent failed unexpectedly.',
    kind: 'generic',
    provider: null,
    retryable,
    status_code: null,
  };
}
