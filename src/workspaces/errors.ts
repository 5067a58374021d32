/**
 * Expected workspace failures with stable codes. Tools turn them into error results for the model; the
 * messages are written for the model to act on. Anything else thrown by a provider is an infrastructure
 * fault.
 */

/** Stable machine codes of `WorkspaceError`. Public API: add, never rename. */
export type WorkspaceErrorCode =
  | 'template_not_found'
  | 'invalid_parameters'
  | 'workspace_not_found'
  | 'deleted'
  | 'not_running'
  | 'setup_failed'
  | 'sandbox_unavailable';

/** An expected failure of a provider operation (the model or user can fix it). */
export class WorkspaceError extends Error {
  constructor(
    readonly code: WorkspaceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WorkspaceError';
  }
}

/** A path the model gave lies outside the workspace (or cannot be resolved safely). */
export class WorkspacePathError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'WorkspacePathError';
  }
}
